//! The LunaVolumeSnapshot controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl (a snapshot cannot be
//!   changed: there is no update to decide or carry out, only its state to follow);
//! - [`cloud`]: the shared `volume snapshot-list` of a region.

pub mod cloud;
pub mod driver;
