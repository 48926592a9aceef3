//! The LunaVolume controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl, the glue: the attachment's
//!   reference resolved, then one step decided and carried out;
//! - [`decide`]: the next write (or wait) from the spec and the listed volume (pure);
//! - [`act`]: carrying a step out (the call, its Event, the conditions);
//! - [`cloud`]: the shared `volume list` of a region.

pub mod act;
pub mod cloud;
pub mod decide;
pub mod driver;

pub(crate) use driver::attached_vm;
