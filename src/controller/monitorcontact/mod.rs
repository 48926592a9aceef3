//! The LunaMonitorContact controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl: the contact added with its
//!   address (inline or from a Secret), replaced when the address changes, removed;
//! - [`cloud`]: the shared `monitor contact-list`.

pub mod cloud;
pub mod driver;
