//! The cloud reads of the LunaNetwork controller: the shared `network list` and its conversion.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};

use crate::{
    controller::{accounts::Account, caches::by_id, list_cache::ListCache},
    lunanode::{self, Client},
};

/// The account's `network list` cache (all regions), polled.
pub fn networks(account: &Account) -> Arc<ListCache<ObservedNetwork>> {
    account.caches.keyed("network list", "", list)
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

fn list(
    client: Client,
    _key: String,
) -> BoxFuture<'static, Result<Vec<(String, ObservedNetwork)>, lunanode::Error>> {
    async move {
        let networks = client.network_list(None).await?;
        Ok(by_id(
            networks,
            |network| &network.net_id,
            |network| ObservedNetwork {
                id: network.net_id,
                name: network.name,
                subnet: network.subnet,
                region: network.region,
            },
        ))
    }
    .boxed()
}
