//! The LunaMonitorCheck controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl: the check added once its
//!   target is known and its parameters fit its type, replaced when what it probes changes, its
//!   alerts kept by difference, the check removed;
//! - [`decide`]: the parameters of a spec, their check against the type, whether a listed check
//!   differs, and the alert plan (pure);
//! - [`cloud`]: the shared `monitor check-list` and the account's `monitor check-types`.

pub mod cloud;
pub mod decide;
pub mod driver;
