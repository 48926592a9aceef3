//! The LunaDynamicRecord controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl: the address resolved, the
//!   entry added, updated by difference (`dns dyn-update`) and removed;
//! - [`cloud`]: the shared `dns dyn-list`.

pub mod cloud;
pub mod driver;
