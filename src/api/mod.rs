//! The custom resource types of the `lunanode.com` group, and the generation of their CRD YAML.
//!
//! - [`common`] holds what every kind shares: policies, references, conditions, and the
//!   [`ManagedResource`] trait the generic controller is written against.
//! - [`vm`] holds `LunaVM`.
//! - [`crdgen`] renders the CRD YAML written to `crds/`.

pub mod common;
pub mod crdgen;
pub mod vm;

pub use common::{ManagedResource, ManagedStatus};
pub use vm::{LunaVM, LunaVMSpec, LunaVMStatus};
