//! `LunaVolume`: a block storage volume, optionally made from an image or a snapshot and
//! attached to a VM.
//!
//! Growing `size` extends the volume; a smaller size is rejected by a CEL rule (volumes only
//! grow). Moving `attachTo` detaches, then attaches; deleting detaches first.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AttachedVm, CLOUD_NAME_PATTERN, LocalObjectReference, Region, at_most_one, immutable,
    immutable_optional,
};

crate::managed_crd! {
    /// A Luna Node block storage volume, created, grown, attached and deleted to match its spec.
    kube(kind = "LunaVolume", plural = "lunavolumes", singular = "lunavolume", shortname = "lvol"),
    status = "LunaVolumeStatus",
    columns(id, ("Size", "integer", ".spec.size"), status,
        ("Attached", "string", ".status.atProvider.attachedTo")),
    /// Desired state of a LunaVolume.
    #[x_kube(
        validation = Rule::new("self.size >= oldSelf.size").message("size cannot shrink: Luna Node volumes only grow").field_path(".size"),
        validation = immutable("region"),
        validation = at_most_one("image", "snapshotId"),
        validation = Rule::new("[has(self.image), has(self.snapshotId), has(self.snapshotRef)].filter(x, x).size() <= 1")
            .message("set at most one of image, snapshotId and snapshotRef"),
        validation = immutable_optional("image", ""),
        validation = immutable_optional("snapshotId", ""),
        validation = immutable_optional("snapshotRef", ".name"),
    )]
    #[derive(Default)]
    pub struct LunaVolumeSpec {
        /// Size in GB. Growing it extends the volume; it cannot shrink.
        #[schemars(range(min = 1, max = 16000))]
        pub size: i32,

        /// Label (name) of the volume on Luna Node; also how a volume whose create answer was lost
        /// is found again, so keep it unique on the account. Changing it renames the volume.
        #[schemars(length(min = 1, max = 64), regex(pattern = CLOUD_NAME_PATTERN))]
        pub label: String,

        /// Region: `toronto` (default), `montreal` or `roubaix`. Immutable.
        #[serde(default)]
        pub region: Region,

        /// Image to fill the volume from: an image ID or the exact name of an image. Immutable.
        #[schemars(length(min = 1, max = 255))]
        pub image: Option<String>,

        /// ID of a volume snapshot to make the volume from. Immutable.
        #[schemars(length(min = 1, max = 64))]
        pub snapshot_id: Option<String>,

        /// A LunaVolumeSnapshot of the namespace, in the volume's region, to make the volume
        /// from: the create waits until the snapshot is available. At most one of `image`,
        /// `snapshotId` and `snapshotRef`. Immutable.
        pub snapshot_ref: Option<LocalObjectReference>,

        /// The VM to attach the volume to. Changing it detaches and attaches again; removing it
        /// detaches.
        pub attach_to: Option<VolumeAttachment>,
    }
}

/// Where a volume is attached: a LunaVM of the namespace or a VM ID, at a device.
#[derive(JsonSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeAttachment {
    /// The VM: `vmRef` or `vmId`.
    #[serde(flatten)]
    pub vm: AttachedVm,
    /// The device: `auto` (default) or a path such as `/dev/vdc`.
    #[serde(default = "default_target")]
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^(auto|/dev/[a-z0-9]+)$"))]
    pub target: String,
}

fn default_target() -> String {
    "auto".into()
}

impl VolumeAttachment {
    /// Attached to the LunaVM `name` at an automatic device.
    pub fn vm_ref(name: impl Into<String>) -> Self {
        Self {
            vm: AttachedVm::vm_ref(name),
            target: default_target(),
        }
    }
}

impl LunaVolumeSpec {
    /// An empty volume of `size` GB labelled `label`, in the default region, unattached.
    pub fn new(label: impl Into<String>, size: i32) -> Self {
        Self {
            size,
            label: label.into(),
            ..Self::default()
        }
    }
}

crate::status_types! {
    /// A volume as the API reports it.
    pub struct VolumeAtProvider in LunaVolumeStatus for LunaVolume {
        /// `creating`, `available`, `in-use`, ...
        pub status: Option<String>,
        /// Size in GB.
        pub size: Option<i64>,
        /// Its region.
        pub region: Option<String>,
        /// The ID of the VM it is attached to.
        pub attached_to: Option<String>,
    }
}
