//! Seeded, read-only data every account sees: regions, plans and public images (the plan codes
//! and IDs are the ones LunaNode used as of 2018).

use serde_json::{Value, json};

/// Region slugs and display names, as `region/list` returns them.
pub(crate) const REGIONS: &[(&str, &str)] = &[
    ("toronto", "Toronto, Canada"),
    ("montreal", "Montreal, Canada"),
    ("roubaix", "Roubaix, France"),
];

/// The region used when vm/create gets none.
pub(crate) const DEFAULT_REGION: &str = "toronto";

/// A known region slug (exact match), as a `'static` string.
pub(crate) fn region(slug: &str) -> Option<&'static str> {
    REGIONS
        .iter()
        .find(|(known, _)| *known == slug)
        .map(|(known, _)| *known)
}

/// A VM plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Numeric ID, e.g. `86`.
    pub id: &'static str,
    /// Plan code, e.g. `m.1`; vm/create accepts it in place of the ID.
    pub code: &'static str,
    /// Family shown as `category`.
    pub category: &'static str,
    /// RAM in MB.
    pub ram: u32,
    /// Virtual CPUs.
    pub vcpu: u32,
    /// Disk in GB.
    pub storage: u32,
    /// Monthly transfer in GB.
    pub bandwidth: u32,
    /// Price per month in US cents.
    pub monthly_cents: u32,
}

#[allow(clippy::too_many_arguments)] // one row of the plan table
const fn plan(
    id: &'static str,
    code: &'static str,
    category: &'static str,
    ram: u32,
    vcpu: u32,
    storage: u32,
    bandwidth: u32,
    monthly_cents: u32,
) -> Plan {
    Plan {
        id,
        code,
        category,
        ram,
        vcpu,
        storage,
        bandwidth,
        monthly_cents,
    }
}

/// Every plan: s.half=79 … s.32=85, m.1=86 … m.64=92, c.1=93 … c.16=97.
pub(crate) const PLANS: &[Plan] = &[
    plan("79", "s.half", "SSD", 512, 1, 10, 1000, 350),
    plan("80", "s.1", "SSD", 1024, 1, 20, 1000, 500),
    plan("81", "s.2", "SSD", 2048, 1, 40, 2000, 850),
    plan("82", "s.4", "SSD", 4096, 2, 70, 3000, 1700),
    plan("83", "s.8", "SSD", 8192, 4, 130, 4000, 3400),
    plan("84", "s.16", "SSD", 16384, 6, 250, 5000, 6800),
    plan("85", "s.32", "SSD", 32768, 8, 450, 6000, 13600),
    plan("86", "m.1", "General", 1024, 1, 15, 1000, 350),
    plan("87", "m.2", "General", 2048, 1, 30, 2000, 700),
    plan("88", "m.4", "General", 4096, 2, 60, 3000, 1400),
    plan("89", "m.8", "General", 8192, 4, 120, 4000, 2800),
    plan("90", "m.16", "General", 16384, 6, 240, 5000, 5600),
    plan("91", "m.32", "General", 32768, 8, 480, 6000, 11200),
    plan("92", "m.64", "General", 65536, 16, 960, 8000, 22400),
    plan("93", "c.1", "Compute", 2048, 2, 20, 1000, 1200),
    plan("94", "c.2", "Compute", 4096, 4, 40, 2000, 2400),
    plan("95", "c.4", "Compute", 8192, 8, 80, 3000, 4800),
    plan("96", "c.8", "Compute", 16384, 16, 160, 4000, 9600),
    plan("97", "c.16", "Compute", 32768, 32, 320, 5000, 19200),
];

/// A plan by numeric ID or by code (codes case-insensitively).
pub(crate) fn plan_lookup(selection: &str) -> Option<&'static Plan> {
    let selection = selection.trim();
    PLANS
        .iter()
        .find(|plan| plan.id == selection || plan.code.eq_ignore_ascii_case(selection))
}

impl Plan {
    /// The `plan/list` entry.
    pub(crate) fn entry(self) -> Value {
        let monthly = f64::from(self.monthly_cents) / 100.0;
        let hourly = monthly / 730.0;
        let regions: Vec<&str> = REGIONS.iter().map(|(slug, _)| *slug).collect();
        let regions_nice: Vec<&str> = REGIONS
            .iter()
            .map(|(_, name)| name.split(',').next().unwrap_or(name))
            .collect();
        json!({
            "plan_id": self.id,
            "name": self.code,
            "category": self.category,
            "ram": self.ram,
            "vcpu": self.vcpu,
            "storage": self.storage,
            "bandwidth": self.bandwidth,
            "ips": 1,
            "price": format!("{hourly:.6}"),
            "price_nice": format!("${hourly:.4}/hour"),
            "price_monthly": format!("{monthly:.2}"),
            "price_monthly_nice": format!("${monthly:.2}/month"),
            "regions": regions.join(","),
            "regions_nice": regions_nice.join(", "),
            "metadata_json": "",
            "metadata": {},
        })
    }
}

/// A public image, present in every region under a region-specific ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicImage {
    /// Numeric ID: 1001.. in Toronto, 2001.. in Montreal, 3001.. in Roubaix.
    pub id: String,
    /// Display name, ending in ` (template)` or ` (ISO)`.
    pub name: &'static str,
    /// Region slug.
    pub region: &'static str,
    /// Login user of a template (`None` for an ISO: no login details).
    pub user: Option<&'static str>,
    /// Size in bytes, for `image/details`.
    pub size: u64,
}

/// Name, login user (`None` for ISOs) and size in MB of each public image.
const TEMPLATES: &[(&str, Option<&str>, u64)] = &[
    ("Ubuntu 22.04 64-bit (template)", Some("ubuntu"), 2252),
    ("Ubuntu 24.04 64-bit (template)", Some("ubuntu"), 2560),
    ("Debian 12 64-bit (template)", Some("debian"), 1843),
    ("Debian 11 64-bit (template)", Some("debian"), 1740),
    ("Rocky Linux 9 64-bit (template)", Some("rocky"), 1120),
    ("AlmaLinux 9 64-bit (template)", Some("almalinux"), 1100),
    ("Ubuntu 24.04 Server 64-bit (ISO)", None, 2700),
];

/// Every public image of every region.
pub(crate) fn public_images() -> impl Iterator<Item = PublicImage> {
    REGIONS.iter().enumerate().flat_map(|(r, (region, _))| {
        TEMPLATES
            .iter()
            .enumerate()
            .map(move |(i, (name, user, mb))| PublicImage {
                id: ((r + 1) * 1000 + i + 1).to_string(),
                name,
                region,
                user: *user,
                size: mb * 1024 * 1024,
            })
    })
}

/// A public image by ID.
pub(crate) fn public_image(id: &str) -> Option<PublicImage> {
    public_images().find(|image| image.id == id.trim())
}

/// When the public images were "uploaded" (a fixed date: 2024-01-15T00:00:00Z).
pub(crate) const PUBLIC_IMAGE_CREATED_MS: i64 = 1_705_276_800_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_codes_map_to_reference_ids() {
        for (code, id) in [
            ("s.half", "79"),
            ("s.32", "85"),
            ("m.1", "86"),
            ("m.64", "92"),
        ] {
            assert_eq!(plan_lookup(code).map(|p| p.id), Some(id));
        }
        assert_eq!(plan_lookup("c.16").map(|p| p.id), Some("97"));
        assert_eq!(plan_lookup("93").map(|p| p.code), Some("c.1"));
        assert!(plan_lookup("m.3").is_none());
    }

    #[test]
    fn public_images_have_distinct_ids() {
        let ids: std::collections::HashSet<String> = public_images().map(|i| i.id).collect();
        assert_eq!(ids.len(), REGIONS.len() * TEMPLATES.len());
        assert_eq!(
            public_image("1001").map(|i| i.name),
            Some("Ubuntu 22.04 64-bit (template)")
        );
    }
}
