//! `LunaLoadBalancer`: a Luna Node load balancer in a private network, its pool of members and
//! an optional floating IP.
//!
//! Luna Node has no call to change a load balancer, so region, name, network, method, protocol,
//! port and connection limit are create-only (CEL rules refuse an edit at `kubectl apply` time).
//! The members are reconciled: `spec.members` is the whole pool, and members added outside the
//! operator are removed. A `vmRef` member is the LunaVM's private IP
//! (`status.atProvider.privateIp`) and follows it; a member whose LunaVM is missing, not created
//! yet or being deleted is left out of the pool (and reported) until the VM is back.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CLOUD_NAME_PATTERN, LocalObjectReference, ManagedSpec, Placement, Region, at_most_one,
    exactly_one, immutable_fields, immutable_optional,
};

crate::managed_crd! {
    /// A Luna Node load balancer whose members follow the spec (and the IPs of its member LunaVMs).
    kube(kind = "LunaLoadBalancer", plural = "lunaloadbalancers", singular = "lunaloadbalancer", shortname = "llb"),
    status = "LunaLoadBalancerStatus",
    columns(id, ("IP", "string", ".status.atProvider.floatingIP"),
        ("Members", "integer", ".status.atProvider.memberCount"), status,
        ("Port", "integer", ".spec.port", 1), region),
    /// Desired state of a LunaLoadBalancer. It lives in the network of `networkRef` or `netId`
    /// (exactly one; an import may leave both out). Removing `floatingIP` or `floatingIPRef`
    /// leaves the address associated: Luna Node has no call to take it back short of deleting
    /// the load balancer.
    #[x_kube(
        validation = at_most_one("networkRef", "netId"),
        validation = Rule::new("has(self.networkRef) || has(self.netId) || has(self.import)")
            .message("set networkRef or netId: a load balancer lives in a network (only an import may leave both out)"),
        validation = at_most_one("floatingIP", "floatingIPRef"),
        validation = immutable_fields(
            &["region", "method", "protocol", "port", "connectionLimit"],
            "Luna Node cannot change a load balancer; create a new LunaLoadBalancer",
        ),
        validation = immutable_optional("name", ""),
        validation = immutable_optional("networkRef", ".name"),
        validation = immutable_optional("netId", ""),
    )]
    pub struct LunaLoadBalancerSpec {
        /// Region: `toronto` (default), `montreal` or `roubaix`. Immutable.
        #[serde(default)]
        pub region: Region,

        /// Name of the load balancer on Luna Node (default: the object's name); also how a load
        /// balancer whose create answer was lost is found again, so keep it unique on the account.
        /// Immutable.
        #[schemars(length(min = 1, max = 64), regex(pattern = CLOUD_NAME_PATTERN))]
        pub name: Option<String>,

        /// How connections are spread: `ROUND_ROBIN` (default), `LEAST_CONNECTIONS` or
        /// `SOURCE_IP`. Immutable.
        #[serde(default)]
        pub method: LbMethod,

        /// `HTTP`, `HTTPS` or `TCP` (default). Immutable.
        #[serde(default)]
        pub protocol: LbProtocol,

        /// The port the load balancer listens on. Immutable.
        #[schemars(range(min = 1, max = 65535))]
        pub port: u16,

        /// The most connections at once; `-1` (default) for no limit. Immutable.
        #[serde(default = "unlimited")]
        #[schemars(range(min = -1, max = 1_000_000))]
        pub connection_limit: i64,

        /// The whole pool: the operator adds and removes members so that Luna Node has exactly
        /// these (members added by other means are removed). A `vmRef` member follows the LunaVM's
        /// private IP and is left out while that VM has none.
        #[serde(default)]
        #[schemars(length(max = 64))]
        pub members: Vec<LbMemberSpec>,

        /// The network (exactly one of `networkRef` and `netId`; an import may leave both out)
        /// and the floating IP to associate with the load balancer. Removing the floating IP
        /// leaves the address associated: Luna Node has no call to take it back short of
        /// deleting the load balancer.
        #[serde(flatten)]
        pub placement: Placement,
    }
}

fn unlimited() -> i64 {
    -1
}

/// How a load balancer spreads connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LbMethod {
    /// In turn.
    #[default]
    RoundRobin,
    /// To the member with the fewest open connections.
    LeastConnections,
    /// By client address, so a client keeps its member.
    SourceIp,
}

impl LbMethod {
    /// The wire form, e.g. `ROUND_ROBIN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoundRobin => "ROUND_ROBIN",
            Self::LeastConnections => "LEAST_CONNECTIONS",
            Self::SourceIp => "SOURCE_IP",
        }
    }
}

/// What a load balancer speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LbProtocol {
    /// HTTP.
    Http,
    /// HTTPS (passed through).
    Https,
    /// Any TCP stream.
    #[default]
    Tcp,
}

impl LbProtocol {
    /// The wire form, e.g. `TCP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
            Self::Tcp => "TCP",
        }
    }
}

/// One member of the pool: a LunaVM (its private IP) or an address, and a port.
#[serde_with::skip_serializing_none]
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[x_kube(
    validation = exactly_one("vmRef", "ip"),
)]
#[serde(rename_all = "camelCase")]
pub struct LbMemberSpec {
    /// A backend address (IPv4), reachable from the load balancer's network.
    #[schemars(ipv4, length(max = 15))]
    pub ip: Option<String>,

    /// A LunaVM in the same namespace: the member is its private IP, and follows it. The VM's
    /// deletion does not wait for the load balancer: the member is removed when the VM goes.
    pub vm_ref: Option<LocalObjectReference>,

    /// The backend port (default: the load balancer's `port`).
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
}

impl LbMemberSpec {
    /// The LunaVM `name` on `port`.
    pub fn vm(name: impl Into<String>, port: u16) -> Self {
        Self {
            ip: None,
            vm_ref: Some(LocalObjectReference::new(name)),
            port: Some(port),
        }
    }

    /// The address `ip` on `port`.
    pub fn ip(ip: impl Into<String>, port: u16) -> Self {
        Self {
            ip: Some(ip.into()),
            vm_ref: None,
            port: Some(port),
        }
    }
}

impl LunaLoadBalancerSpec {
    /// A round-robin TCP load balancer on `port` in the LunaNetwork `network`, default region,
    /// without members.
    pub fn new(network: impl Into<String>, port: u16) -> Self {
        Self {
            region: Region::default(),
            name: None,
            method: LbMethod::default(),
            protocol: LbProtocol::default(),
            port,
            connection_limit: unlimited(),
            members: Vec::new(),
            placement: Placement {
                network_ref: Some(LocalObjectReference::new(network)),
                ..Placement::default()
            },
            managed: ManagedSpec::default(),
        }
    }
}

crate::status_types! {
    /// Observed state of a LunaLoadBalancer.
    pub struct LunaLoadBalancerStatus for LunaLoadBalancer(LoadBalancerAtProvider) {
        /// The floating IP the operator last associated.
        #[serde(rename = "appliedFloatingIP")]
        pub applied_floating_ip: Option<String>,
    }

    /// A load balancer as the API reports it: the `lb/list` fields, and the `lb/info` ones as of
    /// the last read.
    pub struct LoadBalancerAtProvider {
        /// How it listens: the settings fixed at create.
        #[serde(flatten)]
        pub listener: LbListener,
        /// Its name.
        pub name: Option<String>,
        /// Its region.
        pub region: Option<String>,
        /// Its state, e.g. `creating` or `active`.
        pub status: Option<String>,
        /// Its network.
        pub net_id: Option<String>,
        /// The floating IP associated with it.
        #[serde(rename = "floatingIP")]
        pub floating_ip: Option<String>,
        /// How many members its pool has.
        pub member_count: Option<u32>,
        /// Its pool, as of the last `lb/info` (absent until the first read).
        pub members: Option<Vec<LbMemberStatus>>,
    }

    /// How a load balancer listens, as the API reports it (`lb/info`): what the spec's
    /// create-only fields are compared with.
    #[derive(Eq)]
    pub struct LbListener {
        /// Its balancing method.
        pub method: Option<String>,
        /// Its protocol.
        pub protocol: Option<String>,
        /// Its listening port.
        pub port: Option<u16>,
        /// Its connection limit.
        pub connection_limit: Option<i64>,
    }

    /// A pool member as the API reports it.
    #[derive(Eq)]
    pub struct LbMemberStatus {
        /// Its member ID.
        pub member_id: String,
        /// Its address.
        pub ip: String,
        /// Its port.
        pub port: Option<u16>,
    }

}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_wire_names_and_defaults_are_the_documented_ones() {
        let spec: LunaLoadBalancerSpec = serde_json::from_value(serde_json::json!({
            "networkRef": {"name": "private"},
            "port": 80,
            "members": [{"vmRef": {"name": "web-1"}}, {"ip": "10.0.0.9", "port": 8080}],
            "floatingIP": "203.0.113.7",
        }))
        .unwrap();
        assert_eq!(spec.region, "toronto");
        assert_eq!(spec.method.as_str(), "ROUND_ROBIN");
        assert_eq!(spec.protocol.as_str(), "TCP");
        assert_eq!(spec.connection_limit, -1);
        assert_eq!(spec.members[1], LbMemberSpec::ip("10.0.0.9", 8080));
        let value = serde_json::to_value(&spec).unwrap();
        assert_eq!(value["method"], "ROUND_ROBIN");
        assert_eq!(value["floatingIP"], "203.0.113.7");
        let methods: Vec<LbMethod> =
            serde_json::from_value(serde_json::json!(["LEAST_CONNECTIONS", "SOURCE_IP"])).unwrap();
        assert_eq!(methods, [LbMethod::LeastConnections, LbMethod::SourceIp]);
        let protocol: LbProtocol = serde_json::from_value(serde_json::json!("HTTPS")).unwrap();
        assert_eq!(protocol.as_str(), "HTTPS");
    }
}
