//! `LunaDnsZone`: a hosted DNS zone and the records the operator keeps in it.
//!
//! Which API: Luna Node has two forms of hosted zones, the older `dns/zone-*`/`dns/record-*`
//! and the newer `dns2/zone-*`/`dns2/record-*` (see the wire reference, §3.11). `spec.api`
//! chooses; the default is `Dns2`, the newer form, which the reference documents with the same
//! actions plus record-level options, and which names the zone on record removal (so a record
//! ID can never hit another zone). `Dns` is there for zones that only the older form lists. The
//! choice is immutable: a zone ID of one form means nothing to the other.
//!
//! Records are relative to the origin (`www`, `@` for the origin itself). Each has exactly one
//! source: literal `data`, a `vmRef` (the LunaVM's public IP) or a `floatingIPRef` (the
//! LunaFloatingIP's address); CEL rules check the data's shape per type at `kubectl apply`
//! time. The operator deletes only records it created (or took over because the spec lists
//! them verbatim), unless `prune: true` hands it the whole zone; `status.records` lists those
//! records with their IDs.

use kube::{KubeSchema, core::Rule};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{LocalObjectReference, ManagedSpec, immutable_fields, not_nullable};

/// Most records one LunaDnsZone holds (keeps the CEL cost and the status bounded).
pub const MAX_RECORDS: usize = 500;
/// Longest record data (bounds the cost of the per-type CEL rules).
pub const MAX_DATA_LENGTH: u32 = 1024;
/// The TTL used when neither the record nor the zone names one.
pub const DEFAULT_TTL: u32 = 3600;
/// Lowest TTL accepted, in seconds.
pub const MIN_TTL: u32 = 60;
/// Highest TTL accepted, in seconds (a week).
pub const MAX_TTL: u32 = 604_800;

/// A zone origin: a domain of two labels or more, with or without the final dot.
const ORIGIN_PATTERN: &str =
    r"^([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][-A-Za-z0-9]{0,61}[A-Za-z0-9]\.?$";

/// A record name relative to the origin: `@`, `*`, `*.dev`, `www`, `_sip._tcp`.
const RECORD_NAME_PATTERN: &str = r"^(@|\*|(\*\.)?[A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?)*)$";

/// Record data: printable (no control characters) and not blank at either end.
const DATA_PATTERN: &str = r"^[^\x00-\x20\x7f]([^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?$";

/// Which form of the hosted-zone API a zone is managed through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DnsApi {
    /// The newer `dns2/*` actions (default).
    #[default]
    Dns2,
    /// The older `dns/zone-*` and `dns/record-*` actions.
    Dns,
}

impl DnsApi {
    /// The API category: `dns2` or `dns`.
    pub fn category(self) -> &'static str {
        match self {
            Self::Dns2 => "dns2",
            Self::Dns => "dns",
        }
    }
}

/// A DNS record type the Luna Node API accepts.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum DnsRecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    AAAA,
    /// Alias of another name.
    CNAME,
    /// Host information: `<cpu> <os>`.
    HINFO,
    /// Mail exchanger: `<priority> <host>`.
    MX,
    /// Naming authority pointer: `<order> <preference> "<flags>" "<service>" "<regexp>" <replacement>`.
    NAPTR,
    /// Name server of a delegated sub-zone.
    NS,
    /// Pointer (reverse DNS).
    PTR,
    /// Responsible person: `<mailbox-name> <txt-name>`.
    RP,
    /// Service location: `<priority> <weight> <port> <target>`.
    SRV,
    /// Text.
    TXT,
}

impl DnsRecordType {
    /// The type as the API writes it, e.g. `AAAA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::AAAA => "AAAA",
            Self::CNAME => "CNAME",
            Self::HINFO => "HINFO",
            Self::MX => "MX",
            Self::NAPTR => "NAPTR",
            Self::NS => "NS",
            Self::PTR => "PTR",
            Self::RP => "RP",
            Self::SRV => "SRV",
            Self::TXT => "TXT",
        }
    }
}

crate::managed_crd! {
    /// A Luna Node hosted DNS zone and the records the operator keeps in it.
    kube(kind = "LunaDnsZone", plural = "lunadnszones", singular = "lunadnszone", shortname = "ldns"),
    status = "LunaDnsZoneStatus",
    columns(("Origin", "string", ".spec.origin"), ("Records", "integer", ".status.counts.managed"),
        id, ("External", "integer", ".status.counts.external", 1), ("API", "string", ".spec.api", 1)),
    /// Desired state of a LunaDnsZone.
    #[x_kube(
        validation = immutable_fields(&["origin"], "create a new LunaDnsZone for another domain"),
        validation = immutable_fields(&["api"], "a zone ID of one API form means nothing to the other"),
    )]
    pub struct LunaDnsZoneSpec {
        /// The domain of the zone, e.g. `example.com.` (the final dot is optional). Also how a zone
        /// whose create answer was lost is found again. Immutable.
        #[schemars(length(min = 3, max = 253), regex(pattern = ORIGIN_PATTERN))]
        pub origin: String,

        /// Default TTL in seconds: the zone's TTL at creation, and the TTL of every record that
        /// names none. Changing it replaces those records (remove + add). 60 to 604800; default
        /// 3600.
        #[serde(default = "default_ttl")]
        #[schemars(range(min = MIN_TTL, max = MAX_TTL))]
        pub ttl: u32,

        /// The API form: `Dns2` (default, the newer `dns2/*` actions) or `Dns` (the older
        /// `dns/zone-*` and `dns/record-*`). Immutable.
        #[serde(default)]
        pub api: DnsApi,

        /// `true` hands the whole zone to the operator: records in the zone that this spec does not
        /// list are deleted, whoever made them (the zone's own SOA and apex NS records excepted).
        /// `false` (default): only records the operator created are ever deleted.
        #[serde(default)]
        pub prune: bool,

        /// The records to keep in the zone. Identical entries count once.
        #[serde(default)]
        #[schemars(length(max = MAX_RECORDS))]
        pub records: Vec<DnsRecordSpec>,
    }
}

fn default_ttl() -> u32 {
    DEFAULT_TTL
}

/// One record of a zone.
#[serde_with::skip_serializing_none]
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[x_kube(
    validation = Rule::new("(has(self.data) ? 1 : 0) + (has(self.vmRef) ? 1 : 0) + (has(self.floatingIPRef) ? 1 : 0) == 1")
        .message("set exactly one of data, vmRef and floatingIPRef"),
    validation = Rule::new("self.type == 'A' || !(has(self.vmRef) || has(self.floatingIPRef))")
        .message("vmRef and floatingIPRef give an IPv4 address: use them with type A"),
    validation = Rule::new("self.type != 'CNAME' || self.name != '@'")
        .message("a CNAME cannot be at the apex (@), which holds the zone's SOA and NS records")
        .field_path(".name"),
    validation = data_matches(&["A"], "^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.]){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", "an A record's data is an IPv4 address, e.g. 192.0.2.10"),
    validation = data_matches(&["AAAA"], "^(([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(([0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4})?::(([0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4})?)$", "an AAAA record's data is an IPv6 address, e.g. 2001:db8::10"),
    validation = data_matches(&["CNAME", "NS", "PTR"], "^[A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?([.][A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?)*[.]?$", "a CNAME, NS or PTR record's data is a host name, e.g. www.example.com. (with the final dot; without it, the name is relative to the origin)"),
    validation = data_matches(&["MX"], "^[0-9]{1,5} +[-A-Za-z0-9_.]+$", "an MX record's data is '<priority> <host>', e.g. '10 mail.example.com.'"),
    validation = data_matches(&["SRV"], "^[0-9]{1,5} +[0-9]{1,5} +[0-9]{1,5} +[-A-Za-z0-9_.]+$", "an SRV record's data is '<priority> <weight> <port> <target>', e.g. '10 5 5060 sip.example.com.'"),
    validation = data_matches(&["HINFO"], r#"^("[^"]*"|[^ "]+) +("[^"]*"|[^ "]+)$"#, "an HINFO record's data is '<cpu> <os>', each a word or a quoted string, e.g. '\"x86_64\" \"Linux\"'"),
    validation = data_matches(&["RP"], "^[-A-Za-z0-9_.]+ +[-A-Za-z0-9_.]+$", "an RP record's data is '<mailbox-name> <txt-name>', e.g. 'admin.example.com. info.example.com.'"),
    validation = data_matches(&["NAPTR"], r#"^[0-9]{1,5} +[0-9]{1,5} +"[^"]*" +"[^"]*" +"[^"]*" +[-A-Za-z0-9_.]+$"#, "an NAPTR record's data is '<order> <preference> \"<flags>\" \"<service>\" \"<regexp>\" <replacement>', e.g. '100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .'"),
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = not_nullable)]
pub struct DnsRecordSpec {
    /// Name relative to the origin: `www`, `_sip._tcp`, `*` (wildcard), or `@` for the origin
    /// itself. Never the full name: `www.example.com` in the zone `example.com.` would be
    /// `www.example.com.example.com.`.
    #[schemars(length(min = 1, max = 253), regex(pattern = RECORD_NAME_PATTERN))]
    pub name: String,

    /// Record type: `A`, `AAAA`, `CNAME`, `HINFO`, `MX`, `NAPTR`, `NS`, `PTR`, `RP`, `SRV` or
    /// `TXT`.
    #[serde(rename = "type")]
    pub record_type: DnsRecordType,

    /// The value in zone-file form: `192.0.2.10` (A), `2001:db8::10` (AAAA), `www.example.com.`
    /// (CNAME, NS, PTR), `10 mail.example.com.` (MX), `10 5 5060 sip.example.com.` (SRV), any
    /// text (TXT, up to 1024 characters). Exactly one of `data`, `vmRef` and `floatingIPRef`.
    #[schemars(length(min = 1, max = MAX_DATA_LENGTH), regex(pattern = DATA_PATTERN))]
    pub data: Option<String>,

    /// A LunaVM in the same namespace: the record follows its public IP
    /// (`status.atProvider.ip`). Type A only.
    pub vm_ref: Option<LocalObjectReference>,

    /// A LunaFloatingIP in the same namespace: the record follows its address
    /// (`status.address`). Type A only.
    #[serde(rename = "floatingIPRef")]
    pub floating_ip_ref: Option<LocalObjectReference>,

    /// TTL in seconds (60 to 604800). Default: the zone's `ttl`.
    #[schemars(range(min = MIN_TTL, max = MAX_TTL))]
    pub ttl: Option<u32>,
}

/// A CEL rule for a record: unless it has no `data` or is of none of `types`, its `data`
/// matches `pattern` (a regular expression without `'`), or `message` is reported at `.data`.
fn data_matches(types: &[&str], pattern: &str, message: &str) -> Rule {
    let other_type = match types {
        [only] => format!("self.type != '{only}'"),
        _ => {
            let quoted: Vec<String> = types.iter().map(|t| format!("'{t}'")).collect();
            format!("!(self.type in [{}])", quoted.join(", "))
        }
    };
    Rule::new(format!(
        "!has(self.data) || {other_type} || self.data.matches('{pattern}')"
    ))
    .message(message)
    .field_path(".data")
}

impl DnsRecordSpec {
    /// A record with literal data.
    pub fn data(
        name: impl Into<String>,
        record_type: DnsRecordType,
        data: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            record_type,
            data: Some(data.into()),
            vm_ref: None,
            floating_ip_ref: None,
            ttl: None,
        }
    }

    /// An A record that follows the public IP of the LunaVM `vm`.
    pub fn vm(name: impl Into<String>, vm: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            record_type: DnsRecordType::A,
            data: None,
            vm_ref: Some(LocalObjectReference::new(vm)),
            floating_ip_ref: None,
            ttl: None,
        }
    }
}

impl LunaDnsZoneSpec {
    /// A zone for `origin` with no records and every other field at its default.
    pub fn new(origin: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            ttl: DEFAULT_TTL,
            api: DnsApi::default(),
            prune: false,
            records: Vec::new(),
            managed: ManagedSpec::default(),
        }
    }

    /// The origin in canonical form: lower case, with the final dot.
    pub fn canonical_origin(&self) -> String {
        canonical_origin(&self.origin)
    }
}

/// `Example.COM` and `example.com.` both become `example.com.`.
pub fn canonical_origin(origin: &str) -> String {
    format!(
        "{}.",
        origin.trim().trim_end_matches('.').to_ascii_lowercase()
    )
}

crate::status_types! {
    /// Observed state of a LunaDnsZone.
    pub struct LunaDnsZoneStatus for LunaDnsZone(ZoneAtProvider) {
        /// The records the operator created (or took over because the spec lists them verbatim),
        /// with the values they were created with: the only records it ever deletes unless `prune`
        /// is true.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub records: Vec<AppliedRecord>,

        /// Record counts.
        pub counts: Option<RecordCounts>,
    }

    /// A zone as the API reports it.
    pub struct ZoneAtProvider {
        /// The zone's name (origin).
        pub origin: Option<String>,
        /// The zone's default TTL, when reported.
        pub ttl: Option<u32>,
    }

    /// A record the operator owns, as it was created.
    #[derive(Eq, PartialOrd, Ord)]
    pub struct AppliedRecord {
        /// Name relative to the origin (`@` for the origin).
        pub name: String,
        /// Record type.
        #[serde(rename = "type")]
        pub record_type: String,
        /// The value it was created with.
        pub data: String,
        /// Its TTL.
        pub ttl: u32,
        /// The LunaVM it follows, if any.
        pub vm_ref: Option<String>,
        /// The LunaFloatingIP it follows, if any.
        #[serde(rename = "floatingIPRef")]
        pub floating_ip_ref: Option<String>,
        /// The record's Luna Node ID.
        pub id: String,
    }

    /// How many records are where.
    #[derive(Eq)]
    pub struct RecordCounts {
        /// Distinct records in the spec.
        pub desired: u32,
        /// Records the operator owns in the zone (`status.records`).
        pub managed: u32,
        /// Records in the zone the operator does not own, as of the last record list.
        pub external: u32,
        /// Spec records waiting for a vmRef or floatingIPRef to have an address.
        pub waiting: u32,
        /// Spec records the API refused.
        pub rejected: u32,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn origins_are_canonical() {
        assert_eq!(canonical_origin("Example.COM"), "example.com.");
        assert_eq!(canonical_origin("example.com."), "example.com.");
    }

    #[test]
    fn record_types_serialize_as_the_api_writes_them() {
        for kind in [
            DnsRecordType::AAAA,
            DnsRecordType::NAPTR,
            DnsRecordType::TXT,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn a_spec_reads_with_defaults() {
        let spec: LunaDnsZoneSpec = serde_json::from_value(serde_json::json!({
            "origin": "example.com.",
            "records": [
                {"name": "www", "type": "A", "data": "192.0.2.10"},
                {"name": "@", "type": "A", "vmRef": {"name": "web-1"}, "ttl": 300},
            ],
        }))
        .unwrap();
        assert_eq!(spec.ttl, DEFAULT_TTL);
        assert_eq!(spec.api, DnsApi::Dns2);
        assert!(!spec.prune);
        assert_eq!(spec.records[1], {
            let mut record = DnsRecordSpec::vm("@", "web-1");
            record.ttl = Some(300);
            record
        });
    }
}
