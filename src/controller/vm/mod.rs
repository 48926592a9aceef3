//! The LunaVM controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl, the glue of the steps below;
//! - [`decide`]: the next step from spec, status and observation (pure);
//! - [`act`]: carrying a step out (one cloud write, its Event, conditions), and the connection
//!   Secret;
//! - [`cloud`]: the `vm list` and `vm info` reads and their conversion, and the create call
//!   (the `image list` a create resolves its image by is the LunaImage controller's).

pub mod act;
pub mod cloud;
pub mod decide;
pub mod driver;

pub use driver::FINALIZER;
pub(crate) use driver::{VmIp, vm_ip};
