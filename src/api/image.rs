//! `LunaImage`: an image of the account, fetched from a URL (`image fetch`), taken as a snapshot
//! of a LunaVM (`vm snapshot`), made from a LunaVolumeSnapshot (`volume snapshot-replicate`), or
//! replicated from another LunaImage into this one's region (`image replicate`).
//!
//! An image goes `queued` → `saving` → `active` at Luna Node, or ends `killed` or `error`:
//! Ready follows it, and `onError` says whether a failed image is reported or replaced. Only its
//! name can change (`image rename`); where it comes from and its region are immutable (CEL rules
//! say so at `kubectl apply` time).
//!
//! A replica is a LunaImage of its own, one per region, whose `source.imageRef` names the image
//! it is copied from: each cloud image then has one owner object, with its own crash-safe create,
//! conditions and deletion. Luna Node gives a replica the name of its source, so a replica's
//! `name` must be its source's name when it is made (it may be renamed afterwards).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CLOUD_NAME_PATTERN, ListedObject, LocalObjectReference, Region, exactly_one_of,
    immutable_fields, not_nullable,
};
use super::vm::{OnError, Recreations};

crate::managed_crd! {
    /// An image of the Luna Node account, made from a URL, a VM or another image, and renamed to match its spec.
    kube(kind = "LunaImage", plural = "lunaimages", singular = "lunaimage", shortname = "limg"),
    status = "LunaImageStatus",
    columns(id, ("Name", "string", ".status.atProvider.name"), status, region),
    /// Desired state of a LunaImage.
    #[x_kube(validation = immutable_fields(
        &["region", "source"],
        "an image cannot move or be made again from elsewhere; create a new LunaImage",
    ))]
    #[derive(Default)]
    pub struct LunaImageSpec {
        /// The image's name on Luna Node; changing it renames the image. Also how an image whose
        /// create answer was lost is found again, so keep it unique in its region. A replica's
        /// name must be its source's name when the replica is made.
        #[schemars(length(min = 1, max = 255), regex(pattern = CLOUD_NAME_PATTERN))]
        pub name: String,

        /// Region of the image: `toronto` (default), `montreal` or `roubaix`. A snapshot is made
        /// in its VM's region, a replica in this region. Immutable.
        #[serde(default)]
        pub region: Region,

        /// Where the image comes from: exactly one of `url`, `vmRef`, `volumeSnapshotRef` and
        /// `imageRef`. Immutable.
        pub source: ImageSource,

        /// What to do with an image that Luna Node reports `killed` or `error`: `Report`
        /// (default) says so in the conditions (`ImageFailed`; `Stalled=True`) and leaves it;
        /// `Recreate` deletes it and, once it is gone, makes it again (at most three times per
        /// generation of the spec; then it reports).
        #[serde(default, skip_serializing_if = "OnError::is_report")]
        pub on_error: OnError,
    }
}

/// Where an image comes from: exactly one of `url`, `vmRef`, `volumeSnapshotRef` and `imageRef`.
#[derive(kube::KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = not_nullable)]
#[x_kube(
    validation = exactly_one_of(&["url", "vmRef", "volumeSnapshotRef", "imageRef"]),
    validation = Rule::new("has(self.url) || (!has(self.format) && !has(self.virtio))")
        .message("format and virtio go with url only"),
)]
pub struct ImageSource {
    /// An `http://` or `https://` URL Luna Node downloads the image from (`image fetch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 8, max = 2048), regex(pattern = r"^https?://[^\s]+$"))]
    pub url: Option<String>,

    /// The format of the file at `url`: `qcow2` (default) or `iso`.
    #[serde(default, skip_serializing_if = "ImageFormat::is_default")]
    pub format: ImageFormat,

    /// Whether a VM built from the image at `url` uses virtio disk and network devices
    /// (default false: IDE and e1000, which any system boots with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtio: Option<bool>,

    /// A LunaVM of the namespace to take a snapshot of (`vm snapshot`), once it has its ID.
    /// The image is made in the VM's region, so `region` must be the VM's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_ref: Option<LocalObjectReference>,

    /// A LunaVolumeSnapshot of the namespace to make the image from (`volume
    /// snapshot-replicate`, into `region`), once it is available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_ref: Option<LocalObjectReference>,

    /// A LunaImage of the namespace to replicate into `region` (`image replicate`), once it is
    /// active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<LocalObjectReference>,
}

/// The format of an image file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// A QEMU disk image.
    #[default]
    Qcow2,
    /// A CD image.
    Iso,
}

impl ImageFormat {
    /// Whether this is the default, left out when an object is written.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The word `image fetch` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qcow2 => "qcow2",
            Self::Iso => "iso",
        }
    }
}

impl ImageSource {
    /// The file at `url`, in `qcow2`.
    pub fn url(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::default()
        }
    }

    /// A snapshot of LunaVM `name`.
    pub fn vm(name: impl Into<String>) -> Self {
        Self {
            vm_ref: Some(LocalObjectReference::new(name)),
            ..Self::default()
        }
    }

    /// A replica of LunaImage `name`.
    pub fn image(name: impl Into<String>) -> Self {
        Self {
            image_ref: Some(LocalObjectReference::new(name)),
            ..Self::default()
        }
    }
}

impl LunaImageSpec {
    /// An image `name` from `source` in the default region.
    pub fn new(name: impl Into<String>, source: ImageSource) -> Self {
        Self {
            name: name.into(),
            source,
            ..Self::default()
        }
    }
}

crate::status_types! {
    /// Observed state of a LunaImage.
    pub struct LunaImageStatus for LunaImage(ImageAtProvider) {
        /// How many failed images `onError: Recreate` replaced for a generation of the spec.
        pub recreations: Option<Recreations>,
    }
}

/// An image as the API reports it: its name, region and state.
pub type ImageAtProvider = ListedObject;
