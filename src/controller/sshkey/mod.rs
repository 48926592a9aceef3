//! The LunaSSHKey controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl (a key cannot be changed:
//!   there is no update to decide or carry out);
//! - [`cloud`]: the shared `sshkey list` and its conversion.

pub mod cloud;
pub mod driver;

pub use cloud::ObservedKey;
