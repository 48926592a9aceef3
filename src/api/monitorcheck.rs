//! `LunaMonitorCheck`: a probe of a type of `monitor check-types`, aimed at an address or a
//! LunaVM, and the contacts (`LunaMonitorContact`) it alerts.
//!
//! Luna Node cannot change a check: a change of what the probe does replaces the cloud object
//! (deleted, then made again). The alerts that tie a check to its contacts are kept by
//! difference (`monitor alert-add` / `alert-remove`).

use super::common::{CLOUD_NAME_PATTERN, LocalObjectReference, at_most_one};

crate::managed_crd! {
    /// A monitoring check of the Luna Node account and the contacts it alerts.
    kube(kind = "LunaMonitorCheck", plural = "lunamonitorchecks", singular = "lunamonitorcheck", shortname = "lcheck"),
    status = "LunaMonitorCheckStatus",
    columns(id, ("Type", "string", ".spec.type"), status),
    /// Desired state of a LunaMonitorCheck.
    #[x_kube(validation = at_most_one("target", "vmRef"))]
    #[derive(Default)]
    pub struct LunaMonitorCheckSpec {
        /// The check's name on Luna Node; also how a check whose add answer was lost is found
        /// again, so keep it unique on the account. A new name replaces the check.
        #[schemars(length(min = 1, max = 64), regex(pattern = CLOUD_NAME_PATTERN))]
        pub name: String,

        /// The check type, a key of `monitor check-types`: `icmp`, `tcp`, `http`, `https`,
        /// `dns`, ... The parameters below are checked against the type's: a required one
        /// missing, or one the type does not take, stops the check (`InvalidCheck`).
        #[serde(rename = "type")]
        #[schemars(length(min = 1, max = 32), regex(pattern = r"^[a-z0-9_-]+$"))]
        pub check_type: String,

        /// The host or address probed (the `target` parameter). At most one of `target` and
        /// `vmRef`.
        #[schemars(length(min = 1, max = 253), regex(pattern = r"^[A-Za-z0-9.:_-]+$"))]
        pub target: Option<String>,

        /// A LunaVM of the namespace: its public IP is the `target`, followed as it changes.
        pub vm_ref: Option<LocalObjectReference>,

        /// The `port` parameter.
        #[schemars(range(min = 1, max = 65535))]
        pub port: Option<u16>,

        /// The `path` parameter (HTTP checks).
        #[schemars(length(min = 1, max = 255), regex(pattern = r"^/[^\s]*$"))]
        pub path: Option<String>,

        /// The `hostname` parameter (DNS checks: the name to resolve).
        #[schemars(length(min = 1, max = 253), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
        pub hostname: Option<String>,

        /// The `record_type` parameter (DNS checks), e.g. `A`.
        #[schemars(length(min = 1, max = 10), regex(pattern = r"^[A-Z]+$"))]
        pub record_type: Option<String>,

        /// The `expected` parameter: text the answer must contain.
        #[schemars(length(min = 1, max = 255))]
        pub expected: Option<String>,

        /// Seconds between two probes (Luna Node's default when left out).
        #[schemars(range(min = 30, max = 86400))]
        pub check_interval_seconds: Option<u32>,

        /// Failures in a row before the contacts are alerted (Luna Node's default when left
        /// out).
        #[schemars(range(min = 1, max = 100))]
        pub failures_before_alert: Option<u32>,

        /// LunaMonitorContacts of the namespace to alert: one alert per contact, kept by
        /// difference.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 16))]
        pub contact_refs: Vec<LocalObjectReference>,
    }
}

impl LunaMonitorCheckSpec {
    /// A check `name` of type `check_type`, alerting no one and aimed at nothing yet: set
    /// `target` or `vm_ref`.
    pub fn new(name: &str, check_type: &str) -> Self {
        Self {
            name: name.into(),
            check_type: check_type.into(),
            ..Self::default()
        }
    }
}

crate::status_types! {
    /// Observed state of a LunaMonitorCheck.
    pub struct LunaMonitorCheckStatus for LunaMonitorCheck(CheckAtProvider) {
        /// The contact IDs the check's alerts were last made to match (sorted): the alerts are
        /// listed again only when the contacts asked for differ.
        pub alerted_contacts: Option<Vec<String>>,
    }

    /// A check as the API reports it.
    pub struct CheckAtProvider {
        /// Its name.
        pub name: Option<String>,
        /// Its type.
        pub check_type: Option<String>,
        /// Its state as the API words it, e.g. `online`, `offline`.
        pub status: Option<String>,
        /// Its parameters, as Luna Node summarizes them.
        pub summary: Option<String>,
    }
}
