//! Virtual networks: `network/list`, `create`, `delete`.

use super::decode_list;

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

read_actions! {
    /// `network/list`, in one region or all (`None`).
    network_list = "network"/"list"(region: Option<&str>) -> Vec<Network>
        = decode_list["networks"];

    /// `network/create`: `subnet` is the first three octets (`192.168.30` for
    /// `192.168.30.0/24`) and `dns` a comma-separated resolver list. The answer's shape is
    /// unknown; this reads `net_id` (or `id`, `network_id`), and returns `None` when none is
    /// there, in which case find the network by name in `network/list`.
    network_create = "network"/"create"(region, name, subnet, dns) -> Option<String>
        = create_maybe_id["net_id", "id", "network_id"];
}

plain_actions! {
    /// `network/delete`.
    network_delete = "network"/"delete"(region, net_id);
}
