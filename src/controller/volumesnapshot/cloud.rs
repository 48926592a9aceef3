//! The cloud reads of the LunaVolumeSnapshot controller: the shared `volume snapshot-list` of a
//! region.

use crate::{controller::caches::list_cache, lunanode::types::VolumeSnapshot};

list_cache! {
    /// The account's `volume snapshot-list` cache of `region`, polled; shared by every
    /// LunaVolumeSnapshot of the region.
    pub fn snapshots(account, region) -> VolumeSnapshot = "volume snapshot-list",
        |client, region| client.volume_snapshot_list(region),
        |snapshot| &snapshot.id,
        |snapshot| snapshot
}
