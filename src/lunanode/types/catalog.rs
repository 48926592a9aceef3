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
        pub plan_id: String,
        /// Display name, e.g. `512 MB` or `m.2`.
        pub name: String,
        /// Plan family, e.g. `SSD-Cached`.
        pub category: String,
        /// RAM in MB.
        pub ram: Option<u64>,
        /// Virtual CPUs.
        pub vcpu: Option<u32>,
        /// Storage in GB.
        pub storage: Option<u64>,
        /// Bandwidth in GB per month.
        pub bandwidth: Option<u64>,
        /// Hourly price in USD.
        pub price: Option<f64>,
        /// Hourly price for display, e.g. `$0.005`.
        pub price_nice: String,
        /// Monthly price for display, when sent.
        pub price_monthly_nice: String,
        /// Regions offering the plan, for display, when sent.
        pub regions_nice: String,
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
        pub image_id: String,
        /// Name; public ones end in ` (template)` or ` (ISO)`.
        pub name: String,
        /// Region slug.
        pub region: String,
        /// `active`, `queued`, `saving`, `killed`, `error`.
        pub status: String,
    }
}

wire_struct! {
    /// The `details` of `image/details`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct ImageDetails {
        /// Name.
        pub name: String,
        /// Region slug.
        pub region: String,
        /// Status, as in [`Image::status`].
        pub status: String,
        /// Size in bytes.
        pub size: Option<u64>,
        /// Checksum.
        pub checksum: String,
        /// Disk format, e.g. `qcow2`.
        pub disk_format: String,
        /// Disk cache mode.
        pub cache_mode: String,
        /// `ide` or `virtio`.
        pub hw_disk_bus: String,
        /// Video model.
        pub hw_video_model: String,
        /// `e1000` or `virtio`.
        pub hw_vif_model: String,
        /// Read-only (sent as `"no"`/`"yes"`).
        pub is_read_only: bool,
        /// libvirt CPU mode.
        pub libvirt_cpu_mode: String,
        /// Metadata (`[]` or `""` when empty).
        pub metadata: BTreeMap<String, String>,
        /// Creation time.
        pub time_created: String,
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
    /// `plan/list`.
    pub async fn plan_list(&self) -> Result<Vec<Plan>, Error> {
        let response = self.request("plan", "list", &[]).await?;
        decode_list(&response, &["plans"])
    }

    /// `region/list` (an object from slug to display name on the wire), sorted by slug.
    pub async fn region_list(&self) -> Result<Vec<Region>, Error> {
        let response = self.request("region", "list", &[]).await?;
        Ok(Region::list_from_response(&response))
    }

    /// `image/list`, in one region or all (`None`).
    pub async fn image_list(&self, region: Option<&str>) -> Result<Vec<Image>, Error> {
        let response = self
            .request("image", "list", &[("region", region.unwrap_or_default())])
            .await?;
        decode_list(&response, &["images"])
    }

    /// `image/details`.
    pub async fn image_details(&self, image_id: &str) -> Result<ImageDetails, Error> {
        let response = self
            .request("image", "details", &[("image_id", image_id)])
            .await?;
        decode_object(&response, &["details"])
    }
}
