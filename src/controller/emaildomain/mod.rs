//! The LunaEmailDomain controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl: the domain added, DKIM set
//!   or unset by difference, the domain removed once no LunaEmailUser or LunaEmailAlias of the
//!   namespace names it;
//! - [`cloud`]: the shared `email domain-list`, and a domain's ID by its name (what the users'
//!   and aliases' lists are fetched by).

pub mod cloud;
pub mod driver;
