//! The LunaNetwork controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl.

pub mod driver;

pub use driver::ObservedNetwork;
