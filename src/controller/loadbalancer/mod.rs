//! The LunaLoadBalancer controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl;
//! - [`decide`]: the pool to reach, the member writes, when to read (pure);
//! - [`act`]: carrying the writes out (member adds and removes, the floating IP), with their
//!   Events and conditions;
//! - [`cloud`]: the `lb list` read and its conversion.

pub mod act;
pub mod cloud;
pub mod decide;
pub mod driver;

pub use driver::{lb_networks, member_vms};
