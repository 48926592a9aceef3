//! Virtual networks: `network/list`, `create`, `delete`.

use super::decode_list;
use crate::lunanode::{Client, Error};

wire_struct! {
    /// One network of `network/list`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Network {
        /// Network ID.
        net_id: String,
        /// Name.
        name: String,
        /// Subnet in CIDR form, e.g. `172.20.0.0/16` (sent as `172.20.0.0\/16`).
        subnet: String,
        /// Region slug, when the server includes it.
        region: String,
    }
}

impl Client {
    /// `network/list`, in one region or all (`None`).
    pub async fn network_list(&self, region: Option<&str>) -> Result<Vec<Network>, Error> {
        let response = self
            .request("network", "list", &[("region", region.unwrap_or_default())])
            .await?;
        decode_list(&response, &["networks"])
    }

    /// `network/create`: `subnet` is the first three octets (`192.168.30` for
    /// `192.168.30.0/24`) and `dns` a comma-separated resolver list. The answer's shape is
    /// unknown; this reads `net_id` (or `id`), and returns `None` when neither is there, in which
    /// case find the network by name in `network/list`.
    pub async fn network_create(
        &self,
        region: &str,
        name: &str,
        subnet: &str,
        dns: &str,
    ) -> Result<Option<String>, Error> {
        let parameters = [
            ("region", region),
            ("name", name),
            ("subnet", subnet),
            ("dns", dns),
        ];
        self.create_maybe_id(
            "network",
            "create",
            &parameters,
            &["net_id", "id", "network_id"],
        )
        .await
    }
}

plain_actions! {
    /// `network/delete`.
    network_delete = "network"/"delete"(region, net_id);
}
