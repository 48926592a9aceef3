//! `LunaNetwork`: a private network (one /24 subnet) that VMs and load balancers join.
//!
//! Luna Node has no call to change a network, so every field is immutable (CEL rules say so at
//! `kubectl apply` time). Deleting a LunaNetwork waits while a LunaVM or LunaLoadBalancer of the
//! namespace still references it, and says so in its Ready condition.

use super::common::{CLOUD_NAME_PATTERN, ManagedSpec, Region, immutable_fields};

/// Pattern of a private /24 subnet: `10.x.y.0/24`, `172.16-31.x.0/24` or `192.168.x.0/24`.
const SUBNET_PATTERN: &str = r"^(10\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])|172\.(1[6-9]|2[0-9]|3[01])|192\.168)\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.0/24$";

crate::managed_crd! {
    /// A Luna Node private network, created and deleted to match its spec.
    kube(kind = "LunaNetwork", plural = "lunanetworks", singular = "lunanetwork", shortname = "lnet"),
    status = "LunaNetworkStatus",
    columns(id, ("Subnet", "string", ".spec.subnet"), region),
    /// Desired state of a LunaNetwork.
    #[x_kube(validation = immutable_fields(
        &["region", "name", "subnet", "dns"],
        "Luna Node cannot change a network; create a new LunaNetwork",
    ))]
    pub struct LunaNetworkSpec {
        /// Region: `toronto` (default), `montreal` or `roubaix`. Immutable.
        #[serde(default)]
        pub region: Region,

        /// Name of the network on Luna Node; also how a network whose create answer was lost is
        /// found again, so keep it unique on the account. Immutable.
        #[schemars(length(min = 1, max = 64), regex(pattern = CLOUD_NAME_PATTERN))]
        pub name: String,

        /// The private /24 subnet, e.g. `10.20.30.0/24` (10/8, 172.16/12 or 192.168/16). Immutable.
        #[schemars(length(min = 9, max = 18), regex(pattern = SUBNET_PATTERN))]
        pub subnet: String,

        /// DNS resolvers handed to the network's VMs (IPv4). Default: `8.8.8.8`, `8.8.4.4`.
        /// Immutable.
        #[serde(default = "default_dns")]
        #[schemars(length(min = 1, max = 4), inner(ipv4, length(max = 15)))]
        pub dns: Vec<String>,
    }
}

fn default_dns() -> Vec<String> {
    vec!["8.8.8.8".into(), "8.8.4.4".into()]
}

impl LunaNetworkSpec {
    /// A network `name` with `subnet` in the default region.
    pub fn new(name: impl Into<String>, subnet: impl Into<String>) -> Self {
        Self {
            region: Region::default(),
            name: name.into(),
            subnet: subnet.into(),
            dns: default_dns(),
            managed: ManagedSpec::default(),
        }
    }

    /// The first three octets of the subnet, as `network/create` wants them.
    pub fn subnet_prefix(&self) -> &str {
        self.subnet.strip_suffix(".0/24").unwrap_or(&self.subnet)
    }
}

crate::status_types! {
    /// A network as the API reports it.
    pub struct NetworkAtProvider in LunaNetworkStatus for LunaNetwork {
        /// Its name.
        pub name: Option<String>,
        /// Its subnet.
        pub subnet: Option<String>,
        /// Its region.
        pub region: Option<String>,
    }
}
