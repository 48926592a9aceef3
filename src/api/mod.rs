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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::fmt::Debug;

    use kube::{CustomResourceExt, core::object::HasSpec};
    use serde::{Serialize, de::DeserializeOwned};
    use serde_json::{Map, Value};

    use super::*;

    /// `K`'s spec as the operator reads a manifest that gives only the fields its CRD lists as
    /// required (their values taken from `Default`).
    fn applied_with_required_fields_only<K>() -> K::Spec
    where
        K: CustomResourceExt + HasSpec,
        K::Spec: Default + Serialize + DeserializeOwned,
    {
        let crd = K::crd();
        let schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|validation| validation.open_api_v3_schema.as_ref())
            .and_then(|root| root.properties.as_ref())
            .and_then(|properties| properties.get("spec"))
            .expect("a spec schema");
        let required = schema.required.clone().unwrap_or_default();
        let Value::Object(full) = serde_json::to_value(K::Spec::default()).unwrap() else {
            panic!("a spec is an object");
        };
        let given: Map<String, Value> = full
            .into_iter()
            .filter(|(field, _)| required.contains(field))
            .collect();
        serde_json::from_value(Value::Object(given)).unwrap()
    }

    fn default_is_the_schema_default<K>()
    where
        K: CustomResourceExt + HasSpec,
        K::Spec: Default + Serialize + DeserializeOwned + PartialEq + Debug,
    {
        assert_eq!(
            applied_with_required_fields_only::<K>(),
            K::Spec::default(),
            "{}: the derived Default differs from what the schema's defaults give; implement \
             Default by hand or drop it",
            K::crd_name()
        );
    }

    /// The specs that derive `Default` (every kind's but those whose serde defaults are not
    /// the type's: the zone's TTL, the network's DNS servers, the balancer's connection limit,
    /// and the three whose fields are all required) default every optional field to what an
    /// apply that leaves it out gets, so `..Default::default()` in code means what leaving a
    /// field out of a manifest means.
    #[test]
    fn derived_defaults_are_the_schema_defaults() {
        macro_rules! each {
            ($($kind:ty),* $(,)?) => {
                $(default_is_the_schema_default::<$kind>();)*
            };
        }
        each!(
            LunaVM,
            LunaVolume,
            LunaFloatingIP,
            LunaImage,
            LunaVolumeSnapshot,
            LunaDynamicRecord,
            LunaEmailDomain,
            LunaMonitorContact,
            LunaMonitorCheck,
            LunaSnapshotSchedule,
            LunaSecurityGroup,
            LunaStartupScript,
        );
    }

    #[test]
    fn a_key_line_read_from_a_file_is_taken_without_its_newline() {
        let spec = LunaSSHKeySpec::new("laptop", "ssh-ed25519 AAAAC3Nza me@laptop\n");
        assert_eq!(spec.public_key, "ssh-ed25519 AAAAC3Nza me@laptop");
    }
}
