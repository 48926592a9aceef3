//! The LunaDnsZone controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl: the zone on the standard
//!   skeleton;
//! - [`act`]: its records by difference (list, plan, write, report) and what is remembered of
//!   them between reconciles;
//! - [`cloud`]: the zone lists and their conversion, and the record calls of one zone;
//! - [`decide`]: the records compared (what to add, remove, take over or prune, and in which
//!   order), pure;
//! - [`references`]: the spec's records with `vmRef` and `floatingIPRef` resolved.

pub mod act;
pub mod cloud;
pub mod decide;
pub mod driver;
pub(crate) mod references;

pub use cloud::ObservedZone;
pub use driver::*;
