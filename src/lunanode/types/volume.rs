//! Block storage volumes: `volume/create`, `list`, `info`, `attach`, `detach`, `extend`,
//! `delete`, and their snapshots: `volume/snapshot-create`, `snapshot-list`, `snapshot-delete`.
//!
//! The older API wanted `region` on every volume call and the newer one accepts it, so every
//! method sends it.

use super::{decode_list, decode_object};
use crate::lunanode::{Client, Error};

/// The parameters of `volume/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeCreate {
    /// Region slug.
    pub region: String,
    /// The volume's label (its name).
    pub label: String,
    /// Size in GB.
    pub size_gb: u64,
    /// An image to write onto the volume (an empty volume when unset).
    pub image: Option<String>,
    /// A volume snapshot to restore.
    pub snapshot_id: Option<String>,
}

wire_struct! {
    /// A volume, as `volume/list` and `volume/info` describe it.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Volume {
        /// Volume ID (numeric string).
        id: String,
        /// OpenStack UUID.
        identification: String,
        /// Name (the label given at create).
        name: String,
        /// Region slug.
        region: String,
        /// Size in GB.
        size: Option<u64>,
        /// `creating`, `downloading`, `available`, `in-use`, ...
        status: String,
        /// The VM it is attached to; `None` when detached.
        attached: Option<String>,
        /// Creation time (list form).
        time_created: String,
        /// Creation time (info form).
        created: String,
        /// Owner's user ID.
        user_id: String,
    }
}

wire_struct! {
    /// A volume snapshot, as `volume/snapshot-list` describes it.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct VolumeSnapshot {
        /// Snapshot ID (numeric string).
        id: String,
        /// Its label.
        name: String,
        /// The volume it was taken from.
        volume_id: String,
        /// Region slug.
        region: String,
        /// Size in GB.
        size: Option<u64>,
        /// `creating`, `available`, `error`, ...
        status: String,
        /// Creation time.
        time_created: String,
    }
}

impl Client {
    /// `volume/create`: returns the new volume's ID (it goes `creating`, then `available`).
    pub async fn volume_create(&self, request: &VolumeCreate) -> Result<String, Error> {
        let size = request.size_gb.to_string();
        let parameters = [
            ("region", request.region.as_str()),
            ("label", request.label.as_str()),
            ("size", size.as_str()),
            ("image", request.image.as_deref().unwrap_or_default()),
            (
                "snapshot_id",
                request.snapshot_id.as_deref().unwrap_or_default(),
            ),
        ];
        self.create("volume", "create", &parameters, &["volume_id", "id"])
            .await
    }

    /// `volume/extend` to `size_gb` (volumes only grow).
    pub async fn volume_extend(
        &self,
        region: &str,
        volume_id: &str,
        size_gb: u64,
    ) -> Result<(), Error> {
        let size = size_gb.to_string();
        let parameters = [
            ("region", region),
            ("volume_id", volume_id),
            ("size", size.as_str()),
        ];
        self.call("volume", "extend", &parameters).await
    }
}

read_actions! {
    /// `volume/list`, for one region (or all, when the server allows `region` to be empty).
    volume_list = "volume"/"list"(region) -> Vec<Volume> = decode_list["volumes"];

    /// `volume/info`. The answer is `{"volume": {...}}`; a flat answer is read as well.
    volume_info = "volume"/"info"(region, volume_id) -> Volume = decode_object["volume", "info"];

    /// `volume/snapshot-list`, for one region.
    volume_snapshot_list = "volume"/"snapshot-list"(region) -> Vec<VolumeSnapshot>
        = decode_list["snapshots"];

    /// `volume/snapshot-create`: returns the new snapshot's ID (it goes `creating`, then
    /// `available`). The answer's shape is unknown; this reads `snapshot_id` (or `id`).
    volume_snapshot_create = "volume"/"snapshot-create"(region, volume_id, label) -> String
        = create_with_id["snapshot_id", "id"];

    /// `volume/snapshot-replicate`: makes an image named `image_name` in `dst_region` from the
    /// snapshot (of `region`); returns the image's ID.
    volume_snapshot_replicate = "volume"/"snapshot-replicate"(region, snapshot_id, image_name, dst_region)
        -> String = create_with_id["image_id", "id"];
}

plain_actions! {
    /// `volume/attach`: `target` is `auto` or a device path such as `/dev/vdc`.
    volume_attach = "volume"/"attach"(region, volume_id, vm_id, target);

    /// `volume/detach`.
    volume_detach = "volume"/"detach"(region, volume_id);

    /// `volume/delete`. An attached volume (or one still `in-use` just after its VM was
    /// deleted) is refused; try again later.
    volume_delete = "volume"/"delete"(region, volume_id);

    /// `volume/rename`: the volume's label becomes `name`.
    volume_rename = "volume"/"rename"(region, volume_id, name);

    /// `volume/snapshot-delete`.
    volume_snapshot_delete = "volume"/"snapshot-delete"(region, snapshot_id);
}
