//! The LunaStartupScript controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl: create, update in place,
//!   delete, and the content from the spec or a Secret;
//! - [`cloud`]: the shared `script list` and its conversion.

pub mod cloud;
pub mod driver;

pub use cloud::ObservedScript;
