//! The LunaFloatingIP controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl.

pub mod driver;

pub(crate) use driver::attached_vm;
