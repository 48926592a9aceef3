//! The cloud reads of the LunaVolumeSnapshot controller: the shared `volume snapshot-list` of a
//! region.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};

use crate::{
    controller::{accounts::Account, caches::by_id, list_cache::ListCache},
    lunanode::{self, Client, types::VolumeSnapshot},
};

/// The account's `volume snapshot-list` cache of `region`, polled; shared by every
/// LunaVolumeSnapshot of the region.
pub fn snapshots(account: &Account, region: &str) -> Arc<ListCache<VolumeSnapshot>> {
    account.caches.keyed("volume snapshot-list", region, list)
}

fn list(
    client: Client,
    region: String,
) -> BoxFuture<'static, Result<Vec<(String, VolumeSnapshot)>, lunanode::Error>> {
    async move {
        let snapshots = client.volume_snapshot_list(&region).await?;
        Ok(by_id(
            snapshots,
            |snapshot| &snapshot.id,
            |snapshot| snapshot,
        ))
    }
    .boxed()
}
