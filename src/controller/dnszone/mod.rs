//! The LunaDnsZone controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl: the zone on the standard
//!   skeleton, and its records by difference;
//! - [`decide`]: the records compared (what to add, remove, take over or prune, and in which
//!   order), pure;
//! - [`references`]: the spec's records with `vmRef` and `floatingIPRef` resolved.

pub mod decide;
pub mod driver;
mod references;

pub use driver::*;
