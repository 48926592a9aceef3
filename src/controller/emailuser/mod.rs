//! The LunaEmailUser controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl: the mailbox added with its
//!   password from a Secret, the password set again when the Secret changes, the mailbox
//!   removed;
//! - [`cloud`]: the shared `email user-list` of a domain.

pub mod cloud;
pub mod driver;
