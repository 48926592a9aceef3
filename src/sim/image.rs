//! Images (`image/*`): the seeded public templates plus the account's own images (VM
//! snapshots, fetched images, replicas). Own images go `queued` → `saving` → `active`, computed
//! from their timestamps.

use serde::Serialize;
use serde_json::{Value, json};

use super::{
    call::{ApiError, Ctx, Params, Reply, done, in_region, regional, reply, valid_text},
    catalog::{self, PUBLIC_IMAGE_CREATED_MS},
    clock::{Millis, after, iso_micros},
    state::{Account, IdKind},
};

/// One of the account's own images.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Image {
    /// Numeric ID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Region slug.
    pub region: String,
    /// Creation time (simulated).
    pub created_at: Millis,
    /// When it leaves `queued`.
    pub saving_at: Millis,
    /// When it becomes `active`.
    pub active_at: Millis,
    /// Size in bytes.
    pub size: u64,
    /// Where it came from (a VM snapshot, a URL, a replica), for the state dump.
    pub source: String,
    /// `qcow2` or `iso`.
    pub format: String,
    /// Whether it uses virtio devices.
    pub virtio: bool,
    /// Login user inherited from the template it was taken from.
    pub user: Option<String>,
    /// Creation order.
    pub seq: u64,
    /// It ends in `error` instead of `active` (the `image_error` faults).
    pub fails: bool,
}

/// Image status at a given time, from its timestamps.
pub(crate) fn status_at(saving_at: Millis, active_at: Millis, now: Millis) -> &'static str {
    if now < saving_at {
        "queued"
    } else if now < active_at {
        "saving"
    } else {
        "active"
    }
}

impl Image {
    fn status(&self, now: Millis) -> &'static str {
        match status_at(self.saving_at, self.active_at, now) {
            "active" if self.fails => "error",
            status => status,
        }
    }
}

/// An image a VM can be built from.
#[derive(Debug, Clone)]
pub(crate) struct Usable {
    /// Image ID.
    pub id: String,
    /// Image name.
    pub name: String,
    /// Login user, if a template.
    pub user: Option<String>,
    /// Whether it is an ISO.
    pub iso: bool,
}

/// A public image, or an own `active` image, in that region.
pub(crate) fn usable(account: &Account, id: &str, region: &str, now: Millis) -> Option<Usable> {
    if let Some(public) = catalog::public_image(id) {
        return (public.region == region).then(|| Usable {
            id: public.id.clone(),
            name: public.name.to_owned(),
            user: public.user.map(str::to_owned),
            iso: public.user.is_none(),
        });
    }
    account
        .images
        .get(id.trim())
        .filter(|image| image.region == region && image.status(now) == "active")
        .map(|image| Usable {
            id: image.id.clone(),
            name: image.name.clone(),
            user: image.user.clone(),
            iso: image.format == "iso",
        })
}

/// Records a new own image (queued now); returns its ID.
pub(crate) fn create(
    ctx: &mut Ctx<'_>,
    name: &str,
    region: &str,
    user: Option<String>,
    size: u64,
    source: String,
    iso: bool,
) -> String {
    let id = ctx.id(IdKind::Image);
    let saving_at = after(ctx.now, ctx.timing.image_queued);
    let image = Image {
        id: id.clone(),
        name: name.trim().to_owned(),
        region: region.to_owned(),
        created_at: ctx.now,
        saving_at,
        active_at: after(saving_at, ctx.timing.image_saving),
        size,
        source,
        format: if iso { "iso" } else { "qcow2" }.to_owned(),
        virtio: true,
        user,
        seq: ctx.seq(),
        fails: ctx.image_fails(),
    };
    ctx.account.images.insert(id.clone(), image);
    id
}

regional!(Image);

pub(crate) fn list(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.region()?;
    let wanted = |r: &str| region.is_none_or(|wanted| wanted == r);
    let mut entries: Vec<Value> = catalog::public_images()
        .filter(|image| wanted(image.region))
        .map(|image| {
            json!({"image_id": image.id, "name": image.name, "region": image.region,
                "status": "active"})
        })
        .collect();
    entries.extend(
        in_region(&ctx.account.images, region)
            .into_iter()
            .map(|image| {
                json!({"image_id": image.id, "name": image.name, "region": image.region,
            "status": image.status(ctx.now)})
            }),
    );
    reply([("images", Value::Array(entries))])
}

fn own<'a>(account: &'a Account, params: &Params) -> Result<&'a Image, ApiError> {
    params.find(&account.images, "image_id", "image")
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let id = own(ctx.account, params)?.id.clone();
    ctx.account.images.remove(&id);
    done()
}

pub(crate) fn details(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let id = params.require("image_id")?;
    let (name, region, size, status, created, virtio, format) = match catalog::public_image(id) {
        Some(public) => (
            public.name.to_owned(),
            public.region.to_owned(),
            public.size,
            "active",
            PUBLIC_IMAGE_CREATED_MS,
            true,
            if public.user.is_some() {
                "qcow2"
            } else {
                "iso"
            },
        ),
        None => {
            let image = own(ctx.account, params)?;
            (
                image.name.clone(),
                image.region.clone(),
                image.size,
                image.status(ctx.now),
                image.created_at,
                image.virtio,
                if image.format == "iso" {
                    "iso"
                } else {
                    "qcow2"
                },
            )
        }
    };
    let bus = if virtio { "virtio" } else { "ide" };
    let vif = if virtio { "virtio" } else { "e1000" };
    let checksum = format!("{:032x}", u128::from(size) * 0x9e37_79b9_7f4a_7c15);
    reply([(
        "details",
        json!({
            "name": name,
            "region": region,
            "size": size,
            "status": status,
            "disk_format": format,
            "checksum": checksum,
            "cache_mode": "writeback",
            "hw_disk_bus": bus,
            "hw_video_model": "cirrus",
            "hw_vif_model": vif,
            "is_read_only": "no",
            "libvirt_cpu_mode": "host-model",
            "metadata": {},
            "time_created": iso_micros(created),
        }),
    )])
}

pub(crate) fn replicate(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let (name, user, size, format) = {
        let image = own(ctx.account, params)?;
        (
            image.name.clone(),
            image.user.clone(),
            image.size,
            image.format.clone(),
        )
    };
    let source = format!("replica of {}", params.require("image_id")?.trim());
    let id = create(ctx, &name, region, user, size, source, format == "iso");
    reply([("image_id", json!(id))])
}

pub(crate) fn fetch(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let name = params.require("name")?;
    let location = params.require("location")?;
    let format = params.require("format")?;
    if !valid_text(name, 255) {
        return Err(ApiError::invalid("name"));
    }
    if !(location.starts_with("http://") || location.starts_with("https://")) {
        return Err(ApiError::invalid("location"));
    }
    let iso = match format {
        "iso" => true,
        "qcow2" => false,
        _ => return Err(ApiError::invalid("format")),
    };
    // Like vm/create's `volume_virtio`, whose value the provider's page says is ignored.
    let virtio = params.is_sent("virtio");
    let id = create(
        ctx,
        name,
        region,
        None,
        512 * 1024 * 1024,
        location.to_owned(),
        iso,
    );
    if let Some(image) = ctx.account.images.get_mut(&id) {
        image.virtio = virtio;
    }
    reply([("image_id", json!(id))])
}

pub(crate) fn retrieve(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let id = params.require("image_id")?;
    if catalog::public_image(id).is_none() {
        own(ctx.account, params)?;
    }
    // The real action streams the image file; the simulator has no image files.
    Err(ApiError::new(
        "image retrieve is not supported by the simulator",
    ))
}

pub(crate) fn rename(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let name = params.text("name")?;
    params
        .find_mut(&mut ctx.account.images, "image_id", "image")?
        .name = name.trim().to_owned();
    done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_status_follows_timestamps() {
        assert_eq!(status_at(10, 20, 5), "queued");
        assert_eq!(status_at(10, 20, 10), "saving");
        assert_eq!(status_at(10, 20, 20), "active");
    }
}
