//! `LunaVolumeSnapshot`: a snapshot of a LunaVolume (`volume snapshot-create`), which a new
//! LunaVolume can be made from (`snapshotRef`).
//!
//! Luna Node cannot change a snapshot, so every field is immutable (CEL rules say so at `kubectl
//! apply` time). A snapshot goes `creating` → `available`; Ready follows it.

use super::common::{
    CLOUD_NAME_PATTERN, ListedObject, LocalObjectReference, Region, immutable_fields,
};

crate::managed_crd! {
    /// A snapshot of a Luna Node volume, taken once and deleted with the object.
    kube(kind = "LunaVolumeSnapshot", plural = "lunavolumesnapshots", singular = "lunavolumesnapshot", shortname = "lvsnap"),
    status = "LunaVolumeSnapshotStatus",
    columns(id, ("Volume", "string", ".spec.volumeRef.name"), status, region),
    /// Desired state of a LunaVolumeSnapshot.
    #[x_kube(validation = immutable_fields(
        &["region", "name", "volumeRef"],
        "Luna Node cannot change a snapshot; create a new LunaVolumeSnapshot",
    ))]
    #[derive(Default)]
    pub struct LunaVolumeSnapshotSpec {
        /// The snapshot's label on Luna Node; also how a snapshot whose create answer was lost
        /// is found again, so keep it unique in its region. Immutable.
        #[schemars(length(min = 1, max = 64), regex(pattern = CLOUD_NAME_PATTERN))]
        pub name: String,

        /// Region: the volume's, `toronto` by default. Immutable.
        #[serde(default)]
        pub region: Region,

        /// The LunaVolume of the namespace to take the snapshot of, once it is Ready. Immutable.
        pub volume_ref: LocalObjectReference,
    }
}

impl LunaVolumeSnapshotSpec {
    /// A snapshot `name` of LunaVolume `volume` in the default region.
    pub fn new(name: impl Into<String>, volume: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            volume_ref: LocalObjectReference::new(volume),
            ..Self::default()
        }
    }
}

crate::status_types! {
    /// A snapshot as the API reports it.
    pub struct VolumeSnapshotAtProvider in LunaVolumeSnapshotStatus for LunaVolumeSnapshot {
        /// Its label, region and state.
        #[serde(flatten)]
        pub listed: ListedObject,
        /// Its size in GB.
        pub size: Option<i64>,
        /// The ID of the volume it was taken from.
        pub volume_id: Option<String>,
    }
}
