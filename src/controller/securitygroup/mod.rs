//! The LunaSecurityGroup controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl: create, rename, delete;
//! - [`decide`]: the rule plan, a pure function of the manifest's rules and the listed ones;
//! - [`act`]: the rule writes of a plan, and the memo of recent inserts;
//! - [`cloud`]: the shared `securitygroup list`, the per-group `rule-list`, and their
//!   conversion.

pub mod act;
pub mod cloud;
pub mod decide;
pub mod driver;

pub use cloud::ObservedGroup;
