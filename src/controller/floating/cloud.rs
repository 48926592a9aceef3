//! The cloud reads and calls of the LunaFloatingIP controller: the shared `floating list` and
//! the allocation.

use crate::controller::caches::list_cache;

use crate::lunanode::{self, Client, types::FloatingIp};

list_cache! {
    /// The account's `floating list` cache (all regions), polled.
    pub fn addresses(account) -> FloatingIp = "floating list",
        |client| client.floating_list(),
        |ip| &ip.id,
        |ip| ip
}

/// `floating add` in `region`; returns the new address's ID.
pub async fn allocate(client: &Client, region: &str) -> Result<String, lunanode::Error> {
    let added = client.floating_add(region).await?;
    if let Some(id) = added.id {
        return Ok(id);
    }
    // The answer named only the address: its ID is in the list.
    client
        .floating_list()
        .await?
        .into_iter()
        .find(|ip| ip.ip == added.ip)
        .map(|ip| ip.id)
        .ok_or_else(|| lunanode::Error::Decode {
            message: "floating/add answered with an address the list does not show".into(),
            snippet: String::new(),
        })
}
