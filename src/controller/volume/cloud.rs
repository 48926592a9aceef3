//! The cloud reads of the LunaVolume controller: the shared `volume list` of a region.

use crate::controller::caches::list_cache;

use crate::lunanode::types::Volume;

list_cache! {
    /// The account's `volume list` cache of `region`, polled; shared by every LunaVolume of the
    /// region (and read by the LunaVM controller for the volumes attached to a VM).
    pub fn volumes(account, region) -> Volume = "volume list",
        |client, region| client.volume_list(region),
        |volume| &volume.id,
        |volume| volume
}
