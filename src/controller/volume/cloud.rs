//! The cloud reads of the LunaVolume controller: the shared `volume list` of a region.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};

use crate::{
    controller::{accounts::Account, list_cache::ListCache},
    lunanode::{self, Client, types::Volume},
};

/// The account's `volume list` cache of `region`, polled; shared by every LunaVolume of the
/// region (and read by the LunaVM controller for the volumes attached to a VM).
pub fn volumes(account: &Account, region: &str) -> Arc<ListCache<Volume>> {
    account.caches.keyed("volume list", region, list)
}

fn list(
    client: Client,
    region: String,
) -> BoxFuture<'static, Result<Vec<(String, Volume)>, lunanode::Error>> {
    async move {
        Ok(client
            .volume_list(&region)
            .await?
            .into_iter()
            .map(|volume| (volume.id.clone(), volume))
            .collect())
    }
    .boxed()
}
