//! The custom resource types of the `lunanode.com` group, and the generation of their CRD YAML.
//!
//! - [`common`] holds what every kind shares: policies, references, conditions, and the
//!   [`ManagedResource`] trait the generic controller is written against.
//! - [`vm`] holds `LunaVM`; [`volume`], [`floating`], [`network`] and [`loadbalancer`] the kinds
//!   around it; [`dnszone`] holds `LunaDnsZone`, [`dynamicrecord`] `LunaDynamicRecord`; [`sshkey`] holds `LunaSSHKey`, [`securitygroup`] `LunaSecurityGroup`, [`startupscript`] `LunaStartupScript`; [`image`] holds `LunaImage`; [`volumesnapshot`] `LunaVolumeSnapshot`; [`emaildomain`], [`emailuser`] and [`emailalias`] the hosted e-mail kinds; [`monitorcontact`] and [`monitorcheck`] the monitoring kinds; [`schedule`] `LunaSnapshotSchedule`.
//! - [`crdgen`] renders the CRD YAML written to `crds/`.

pub mod common;
pub mod crdgen;
pub mod dnszone;
pub mod dynamicrecord;
pub mod emailalias;
pub mod emaildomain;
pub mod emailuser;
pub mod floating;
pub mod image;
pub mod kinds;
pub mod loadbalancer;
pub mod monitorcheck;
pub mod monitorcontact;
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
pub use emailalias::{LunaEmailAlias, LunaEmailAliasSpec, LunaEmailAliasStatus};
pub use emaildomain::{LunaEmailDomain, LunaEmailDomainSpec, LunaEmailDomainStatus};
pub use emailuser::{LunaEmailUser, LunaEmailUserSpec, LunaEmailUserStatus};
pub use floating::{LunaFloatingIP, LunaFloatingIPSpec, LunaFloatingIPStatus};
pub use image::{LunaImage, LunaImageSpec, LunaImageStatus};
pub use loadbalancer::{LunaLoadBalancer, LunaLoadBalancerSpec, LunaLoadBalancerStatus};
pub use monitorcheck::{LunaMonitorCheck, LunaMonitorCheckSpec, LunaMonitorCheckStatus};
pub use monitorcontact::{LunaMonitorContact, LunaMonitorContactSpec, LunaMonitorContactStatus};
pub use network::{LunaNetwork, LunaNetworkSpec, LunaNetworkStatus};
pub use schedule::{LunaSnapshotSchedule, LunaSnapshotScheduleSpec, LunaSnapshotScheduleStatus};
pub use securitygroup::{LunaSecurityGroup, LunaSecurityGroupSpec, LunaSecurityGroupStatus};
pub use sshkey::{LunaSSHKey, LunaSSHKeySpec, LunaSSHKeyStatus};
pub use startupscript::{LunaStartupScript, LunaStartupScriptSpec, LunaStartupScriptStatus};
pub use vm::{LunaVM, LunaVMSpec, LunaVMStatus};
pub use volume::{LunaVolume, LunaVolumeSpec, LunaVolumeStatus};
pub use volumesnapshot::{LunaVolumeSnapshot, LunaVolumeSnapshotSpec, LunaVolumeSnapshotStatus};
