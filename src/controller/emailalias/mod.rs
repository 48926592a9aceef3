//! The LunaEmailAlias controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl (an alias cannot be changed:
//!   there is no update to decide or carry out);
//! - [`cloud`]: the shared `email alias-list` of a domain.

pub mod cloud;
pub mod driver;
