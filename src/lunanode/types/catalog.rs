//! What the provider offers: `plan/list`, `region/list`, `image/list`, `image/details`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{decode_list, decode_object, field};
use crate::lunanode::{
    Client, Error,
    decode::{entries, pick, scalar_text},
};

wire_struct! {
    /// One plan of `plan/list`.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct Plan {
        /// Numeric plan ID.
        plan_id: String,
        /// Display name, e.g. `512 MB` or `m.2`.
        name: String,
        /// Plan family, e.g. `SSD-Cached`.
        category: String,
        /// RAM in MB.
        ram: Option<u64>,
        /// Virtual CPUs.
        vcpu: Option<u32>,
        /// Storage in GB.
        storage: Option<u64>,
        /// Bandwidth in GB per month.
        bandwidth: Option<u64>,
        /// Hourly price in USD.
        price: Option<f64>,
        /// Hourly price for display, e.g. `$0.005`.
        price_nice: String,
        /// Monthly price in USD, when sent.
        price_monthly: Option<f64>,
        /// Monthly price for display, when sent.
        price_monthly_nice: String,
        /// Regions offering the plan, for display, when sent.
        regions_nice: String,
    }
}

/// A region: its slug (`toronto`) and display name (`Toronto, Canada`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Region {
    /// Slug, used as the `region` parameter.
    pub slug: String,
    /// Display name.
    pub name: String,
}

wire_struct! {
    /// One image of `image/list` (public templates and the account's own images and snapshots).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Image {
        /// Image ID.
        image_id: String,
        /// Name; public ones end in ` (template)` or ` (ISO)`.
        name: String,
        /// Region slug.
        region: String,
        /// `active`, `queued`, `saving`, `killed`, `error`.
        status: String,
    }
}

wire_struct! {
    /// The `details` of `image/details`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct ImageDetails {
        /// Name.
        name: String,
        /// Region slug.
        region: String,
        /// Status, as in [`Image::status`].
        status: String,
        /// Size in bytes.
        size: Option<u64>,
        /// Checksum.
        checksum: String,
        /// Disk format, e.g. `qcow2`.
        disk_format: String,
        /// Disk cache mode.
        cache_mode: String,
        /// `ide` or `virtio`.
        hw_disk_bus: String,
        /// Video model.
        hw_video_model: String,
        /// `e1000` or `virtio`.
        hw_vif_model: String,
        /// Read-only (sent as `"no"`/`"yes"`).
        is_read_only: bool,
        /// libvirt CPU mode.
        libvirt_cpu_mode: String,
        /// Metadata (`[]` or `""` when empty).
        metadata: BTreeMap<String, String>,
        /// Creation time.
        time_created: String,
    }
}

impl Region {
    /// Reads `region/list`: `regions` is an object from slug to display name (an array of
    /// `{slug|region, name}` objects is read as well). Sorted by slug.
    pub fn list_from_response(response: &Value) -> Vec<Self> {
        let mut regions: Vec<Self> = entries(field(response, &["regions"]).clone())
            .into_iter()
            .filter_map(|(key, value)| match (&value, key) {
                (Value::Object(map), _) => Some(Self {
                    slug: pick(map, &["slug", "region", "id"]),
                    name: pick(map, &["name", "display_name"]),
                }),
                (_, Some(slug)) => Some(Self {
                    slug,
                    name: scalar_text(&value).unwrap_or_default(),
                }),
                (_, None) => None,
            })
            .filter(|region| !region.slug.is_empty())
            .collect();
        regions.sort_by(|a, b| a.slug.cmp(&b.slug));
        regions
    }
}

impl Client {
    /// `region/list` (an object from slug to display name on the wire), sorted by slug.
    pub async fn region_list(&self) -> Result<Vec<Region>, Error> {
        let response = self.request("region", "list", &[]).await?;
        Ok(Region::list_from_response(&response))
    }
}

read_actions! {
    /// `plan/list`.
    plan_list = "plan"/"list"() -> Vec<Plan> = decode_list["plans"];

    /// `image/list`, in one region or all (`None`).
    image_list = "image"/"list"(region: Option<&str>) -> Vec<Image> = decode_list["images"];

    /// `image/details`.
    image_details = "image"/"details"(image_id) -> ImageDetails = decode_object["details"];

    /// `image/fetch`: Luna Node downloads the image at `location` (`format` `qcow2` or `iso`;
    /// `virtio` `yes` for virtio devices, left out for IDE and e1000) into `region`; returns the
    /// new image's ID (it goes `queued`, `saving`, `active`).
    image_fetch = "image"/"fetch"(region, name, location, format, virtio: Option<&str>) -> String
        = create_with_id["image_id"];

    /// `image/replicate`: copies the image into `region`; returns the copy's ID (it takes the
    /// name of the image it copies).
    image_replicate = "image"/"replicate"(image_id, region) -> String = create_with_id["image_id"];
}

plain_actions! {
    /// `image/rename`.
    image_rename = "image"/"rename"(image_id, name);

    /// `image/delete`.
    image_delete = "image"/"delete"(image_id);
}
