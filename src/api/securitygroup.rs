//! `LunaSecurityGroup`: a firewall in a region and its rules, which the operator makes exactly
//! the manifest's by difference (`rule-delete` and `rule-insert` only for what changed).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CLOUD_NAME_PATTERN, LocalObjectReference, Region, at_most_one_of, immutable};

crate::managed_crd! {
    /// A Luna Node security group (firewall) with its rules, kept exactly as the spec says.
    kube(kind = "LunaSecurityGroup", plural = "lunasecuritygroups", singular = "lunasecuritygroup", shortname = "lsg"),
    status = "LunaSecurityGroupStatus",
    columns(id, ("Rules", "integer", ".status.atProvider.rules"), region),
    /// Desired state of a LunaSecurityGroup.
    #[x_kube(validation = immutable("region"))]
    #[derive(Default)]
    pub struct LunaSecurityGroupSpec {
        /// Region: `toronto` (default), `montreal` or `roubaix`. Immutable.
        #[serde(default)]
        pub region: Region,

        /// Name of the group on Luna Node (renamed to follow the spec); also how a group whose
        /// create answer was lost is found again, so keep it unique in the region.
        #[schemars(length(min = 1, max = 64), regex(pattern = CLOUD_NAME_PATTERN))]
        pub name: String,

        /// The group's rules, authoritative: a rule the group has and this list lacks (added
        /// in the panel, say) is deleted and reported; a rule this list has and the group lacks
        /// is inserted. Order does not matter; a rule listed twice is one rule.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 200))]
        pub rules: Vec<FirewallRule>,
    }
}

impl LunaSecurityGroupSpec {
    /// A group `name` with `rules` in the default region.
    pub fn new(name: impl Into<String>, rules: Vec<FirewallRule>) -> Self {
        Self {
            name: name.into(),
            rules,
            ..Self::default()
        }
    }
}

/// One firewall rule. Luna Node cannot change a rule: a changed rule is deleted and inserted.
#[serde_with::skip_serializing_none]
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[x_kube(
    validation = at_most_one_of(&["cidr", "groupId", "groupRef"]),
    validation = Rule::new("!has(self.portMin) && !has(self.portMax) || (has(self.protocol) && (self.protocol == 'TCP' || self.protocol == 'UDP'))")
        .message("ports are for protocol TCP or UDP"),
    validation = Rule::new("!has(self.portMin) || !has(self.portMax) || self.portMin <= self.portMax")
        .message("portMin must not exceed portMax"),
)]
#[serde(rename_all = "camelCase")]
pub struct FirewallRule {
    /// `Ingress` (default: traffic to the VMs) or `Egress`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub direction: Direction,
    /// `IPv4` (default) or `IPv6`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub ip_version: IpVersion,
    /// `Any` (default), `TCP`, `UDP` or `ICMP`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub protocol: Protocol,
    /// First port (TCP and UDP); with `portMax` left out, this one port.
    #[schemars(range(min = 1, max = 65535))]
    pub port_min: Option<u16>,
    /// Last port (TCP and UDP).
    #[schemars(range(min = 1, max = 65535))]
    pub port_max: Option<u16>,
    /// The remote addresses, as a CIDR (`203.0.113.0/24`). With neither `cidr` nor `groupId`:
    /// every address of the IP version.
    #[schemars(
        length(min = 2, max = 64),
        regex(pattern = r"^[0-9a-fA-F:.]+/[0-9]{1,3}$")
    )]
    pub cidr: Option<String>,
    /// The remote addresses as the members of another security group, by its Luna Node ID.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[0-9]+$"))]
    pub group_id: Option<String>,
    /// The remote addresses as the members of a LunaSecurityGroup of the namespace (this one
    /// too): the rule waits until that group has its ID, and that group's deletion waits while
    /// this rule names it.
    pub group_ref: Option<LocalObjectReference>,
    /// Free text shown in the panel.
    #[schemars(length(max = 128))]
    pub label: Option<String>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The direction of a rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Direction {
    /// Traffic to the group's VMs.
    #[default]
    Ingress,
    /// Traffic from the group's VMs.
    Egress,
}

/// The IP version of a rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum IpVersion {
    /// IPv4.
    #[default]
    IPv4,
    /// IPv6.
    IPv6,
}

/// The protocol of a rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Protocol {
    /// Every protocol.
    #[default]
    Any,
    /// TCP.
    TCP,
    /// UDP.
    UDP,
    /// ICMP.
    ICMP,
}

/// A rule as the API reads and writes it: every field in its wire form, ports as text (empty
/// for every port). Two rules are the same rule when these are equal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WireRule {
    /// `ingress` or `egress`.
    pub direction: String,
    /// `ipv4` or `ipv6`.
    pub ip_version: String,
    /// `any`, `tcp`, `udp` or `icmp`.
    pub protocol: String,
    /// First port, or empty.
    pub port_min: String,
    /// Last port, or empty.
    pub port_max: String,
    /// `cidr` or `group`.
    pub remote_type: String,
    /// A CIDR or a group ID.
    pub remote_value: String,
    /// Free text.
    pub label: String,
}

impl FirewallRule {
    /// The rule in its wire form; `group_ref` is the ID `groupRef` resolved to (unused
    /// without one).
    pub fn wire(&self, group_ref: Option<&str>) -> WireRule {
        let ipv6 = self.ip_version == IpVersion::IPv6;
        let referenced = group_ref.filter(|_| self.group_ref.is_some());
        let group = self.group_id.as_deref().or(referenced);
        let (remote_type, remote_value) = match (group, &self.cidr) {
            (Some(group), _) => ("group", group.to_owned()),
            (None, Some(cidr)) => ("cidr", cidr.clone()),
            (None, None) => ("cidr", if ipv6 { "::/0" } else { "0.0.0.0/0" }.to_owned()),
        };
        let port = |port: Option<u16>| port.map(|p| p.to_string()).unwrap_or_default();
        WireRule {
            direction: match self.direction {
                Direction::Ingress => "ingress",
                Direction::Egress => "egress",
            }
            .to_owned(),
            ip_version: if ipv6 { "ipv6" } else { "ipv4" }.to_owned(),
            protocol: match self.protocol {
                Protocol::Any => "any",
                Protocol::TCP => "tcp",
                Protocol::UDP => "udp",
                Protocol::ICMP => "icmp",
            }
            .to_owned(),
            port_min: port(self.port_min),
            port_max: port(self.port_max.or(self.port_min)),
            remote_type: remote_type.to_owned(),
            remote_value,
            label: self.label.clone().unwrap_or_default(),
        }
    }
}

crate::status_types! {
    /// A group as the API reports it.
    pub struct SecurityGroupAtProvider in LunaSecurityGroupStatus for LunaSecurityGroup {
        /// Its name.
        pub name: Option<String>,
        /// Its region.
        pub region: Option<String>,
        /// How many rules it has.
        pub rules: Option<i64>,
    }
}
