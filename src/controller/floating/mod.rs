//! The LunaFloatingIP controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl, the glue: the attachment's
//!   reference resolved, then one step decided and carried out;
//! - [`decide`]: the next write from the spec and the listed address (pure);
//! - [`act`]: carrying a step out (the call, its Event, the Ready condition);
//! - [`cloud`]: the shared `floating list` and the allocation call.

pub mod act;
pub mod cloud;
pub mod decide;
pub mod driver;

pub(crate) use driver::attached_vm;
