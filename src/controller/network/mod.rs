//! The LunaNetwork controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl (a network cannot be
//!   changed: there is no update to decide or carry out);
//! - [`cloud`]: the shared `network list` and its conversion.

pub mod cloud;
pub mod driver;

pub use cloud::ObservedNetwork;
