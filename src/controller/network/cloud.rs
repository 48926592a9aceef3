//! The cloud reads of the LunaNetwork controller: the shared `network list` and its conversion.

use crate::controller::caches::list_cache;

list_cache! {
    /// The account's `network list` cache (all regions), polled.
    pub fn networks(account) -> ObservedNetwork = "network list",
        |client| client.network_list(None),
        |network| &network.net_id,
        |network| ObservedNetwork {
            id: network.net_id,
            name: network.name,
            subnet: network.subnet,
            region: network.region,
        }
}

/// A network as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedNetwork {
    /// `net_id`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its subnet (CIDR).
    pub subnet: String,
    /// Its region.
    pub region: String,
}
