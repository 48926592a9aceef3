//! The LunaLoadBalancer controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl;
//! - [`decide`]: the pool to reach, the member writes, when to read (pure).

pub mod decide;
pub mod driver;

pub use driver::{lb_networks, member_vms};
