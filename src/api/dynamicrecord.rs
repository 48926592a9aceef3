//! `LunaDynamicRecord`: a dynamic DNS name of the account (`dns dyn-*`), pointing at a literal
//! address, a LunaVM's public IP or a LunaFloatingIP's address, and following it.
//!
//! A kind of its own rather than a field of `LunaDnsZone`: Luna Node keeps dynamic names apart
//! from hosted zones (under its own dynamic domain, with their own calls), and one object per
//! name gives each its own crash-safe create, conditions and deletion policy.

use std::net::IpAddr;

use super::common::{LocalObjectReference, exactly_one_of};

/// Pattern of a dynamic name: one DNS label.
const LABEL_PATTERN: &str = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";

crate::managed_crd! {
    /// A dynamic DNS name of the Luna Node account, pointed at an address and kept on it.
    kube(kind = "LunaDynamicRecord", plural = "lunadynamicrecords", singular = "lunadynamicrecord", shortname = "ldyn"),
    status = "LunaDynamicRecordStatus",
    columns(id, ("Name", "string", ".spec.name"), ("IP", "string", ".status.atProvider.ip")),
    /// Desired state of a LunaDynamicRecord.
    #[x_kube(validation = exactly_one_of(&["ip", "vmRef", "floatingIPRef"]))]
    #[derive(Default)]
    pub struct LunaDynamicRecordSpec {
        /// The name (one DNS label) under the account's dynamic domain; changing it renames the
        /// entry (`dns dyn-update`). Also how an entry whose create answer was lost is found
        /// again, so keep it unique on the account.
        #[schemars(length(min = 1, max = 63), regex(pattern = LABEL_PATTERN))]
        pub name: String,

        /// A literal address (IPv4 or IPv6). Exactly one of `ip`, `vmRef` and `floatingIPRef`.
        #[schemars(length(min = 2, max = 45), regex(pattern = r"^[0-9a-fA-F.:]+$"))]
        pub ip: Option<String>,

        /// A LunaVM of the namespace: the name follows its public IP (`status.atProvider.ip`).
        pub vm_ref: Option<LocalObjectReference>,

        /// A LunaFloatingIP of the namespace: the name follows its address (`status.address`).
        #[serde(rename = "floatingIPRef")]
        pub floating_ip_ref: Option<LocalObjectReference>,
    }
}

impl LunaDynamicRecordSpec {
    /// The name `name` pointing at the literal address `ip` (IPv4 or IPv6).
    pub fn ip(name: impl Into<String>, ip: impl Into<IpAddr>) -> Self {
        Self {
            name: name.into(),
            ip: Some(ip.into().to_string()),
            ..Self::default()
        }
    }

    /// The name `name` following the public IP of LunaVM `vm`.
    pub fn vm(name: impl Into<String>, vm: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            vm_ref: Some(LocalObjectReference::new(vm)),
            ..Self::default()
        }
    }
}

crate::status_types! {
    /// A dynamic DNS entry as the API reports it.
    pub struct DynamicRecordAtProvider in LunaDynamicRecordStatus for LunaDynamicRecord {
        /// Its name.
        pub name: Option<String>,
        /// The address it points at.
        pub ip: Option<String>,
    }
}
