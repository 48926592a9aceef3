//! The custom resource types of the `lunanode.com` group, and the generation of their CRD YAML.
//!
//! - [`common`] holds what every kind shares: policies, references, conditions, and the
//!   [`ManagedResource`] trait the generic controller is written against.
//! - [`vm`] holds `LunaVM`; [`volume`], [`floating`], [`network`] and [`loadbalancer`] the kinds
//!   around it; [`dnszone`] holds `LunaDnsZone`, [`dynamicrecord`] `LunaDynamicRecord`; [`sshkey`] holds `LunaSSHKey`, [`securitygroup`] `LunaSecurityGroup`, [`startupscript`] `LunaStartupScript`; [`image`] holds `LunaImage`; [`volumesnapshot`] `LunaVolumeSnapshot`; [`email`] `LunaEmailDomain`, `LunaEmailUser` and `LunaEmailAlias`; [`monitor`] `LunaMonitorContact` and `LunaMonitorCheck`; [`schedule`] `LunaSnapshotSchedule`.
//! - [`crdgen`] renders the CRD YAML written to `crds/`.

pub mod common;
pub mod crdgen;
pub mod dnszone;
pub mod dynamicrecord;
pub mod email;
pub mod floating;
pub mod image;
pub mod kinds;
pub mod loadbalancer;
pub mod monitor;
pub mod network;
pub mod schedule;
pub mod securitygroup;
pub mod sshkey;
pub mod startupscript;
pub mod vm;
pub mod volume;
pub mod volumesnapshot;

pub use common::{ManagedResource, ManagedStatus};
pub use dnszone::{LunaDnsZone, LunaDnsZoneSpec, LunaDnsZoneStatus};
pub use dynamicrecord::{LunaDynamicRecord, LunaDynamicRecordSpec, LunaDynamicRecordStatus};
pub use email::{LunaEmailAlias, LunaEmailDomain, LunaEmailUser};
pub use floating::{LunaFloatingIP, LunaFloatingIPSpec, LunaFloatingIPStatus};
pub use image::{LunaImage, LunaImageSpec, LunaImageStatus};
pub use loadbalancer::{LunaLoadBalancer, LunaLoadBalancerSpec, LunaLoadBalancerStatus};
pub use monitor::{LunaMonitorCheck, LunaMonitorContact};
pub use network::{LunaNetwork, LunaNetworkSpec, LunaNetworkStatus};
pub use schedule::{LunaSnapshotSchedule, LunaSnapshotScheduleSpec, LunaSnapshotScheduleStatus};
pub use securitygroup::{LunaSecurityGroup, LunaSecurityGroupSpec, LunaSecurityGroupStatus};
pub use sshkey::{LunaSSHKey, LunaSSHKeySpec, LunaSSHKeyStatus};
pub use startupscript::{LunaStartupScript, LunaStartupScriptSpec, LunaStartupScriptStatus};
pub use vm::{LunaVM, LunaVMSpec, LunaVMStatus};
pub use volume::{LunaVolume, LunaVolumeSpec, LunaVolumeStatus};
pub use volumesnapshot::{LunaVolumeSnapshot, LunaVolumeSnapshotSpec, LunaVolumeSnapshotStatus};
