//! Block volumes and their snapshots (`volume/*`). Volumes go `creating` (or `downloading`
//! from an image) → `available`; `in-use` while attached, and for a while after the VM they
//! were attached to is deleted (`releasing`, shown as `in-use`).

use serde::Serialize;
use serde_json::{Value, json};

use super::{
    call::{
        ApiError, Ctx, Params, Reply, done, regional, regional_list, reply, stored, valid_text,
    },
    catalog,
    clock::{Millis, after, rfc3339, sql_time},
    image,
    state::Account,
    vm, vm_status,
};

/// Where a volume is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum VolumeState {
    /// Being created (`downloading` when filled from an image); with `fails` (the
    /// `volume_error` faults) it ends in `Error` instead of `Available`.
    Creating {
        until: Millis,
        downloading: bool,
        fails: bool,
    },
    /// The create failed (`error`): it can only be deleted.
    Error,
    /// Ready to attach.
    Available,
    /// Attached to a VM.
    InUse,
    /// Its VM was deleted; still `in-use` until `until`.
    Releasing { until: Millis },
    /// volume/attach accepted (`volume_attach_seconds`): `attaching`, then `in-use`.
    Attaching { until: Millis },
    /// volume/detach accepted: `detaching`, then `available`.
    Detaching { until: Millis },
}

/// A volume's attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct VolumeAttachment {
    /// The VM.
    pub vm_id: String,
    /// Device path, e.g. `/dev/vdb`.
    pub device: String,
}

/// A block volume.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Volume {
    /// Numeric ID.
    pub id: String,
    /// UUID (`identification`).
    pub identification: String,
    /// Label.
    pub name: String,
    /// Region slug.
    pub region: String,
    /// Size in GB.
    pub size: u64,
    /// Lifecycle state.
    pub state: VolumeState,
    /// Attachment, while in use.
    pub attachment: Option<VolumeAttachment>,
    /// Creation time (simulated).
    pub created_at: Millis,
    /// Creation order.
    pub seq: u64,
}

impl Volume {
    /// Ends a timed state.
    pub(crate) fn settle(&mut self, now: Millis) {
        match self.state {
            VolumeState::Creating {
                until, fails: true, ..
            } if now >= until => {
                self.state = VolumeState::Error;
            }
            VolumeState::Creating { until, .. } | VolumeState::Releasing { until }
                if now >= until =>
            {
                self.state = VolumeState::Available;
            }
            VolumeState::Attaching { until } if now >= until => {
                self.state = VolumeState::InUse;
            }
            VolumeState::Detaching { until } if now >= until => {
                self.state = VolumeState::Available;
                self.attachment = None;
            }
            _ => {}
        }
    }

    /// The wire status.
    pub(crate) fn status(&self) -> &'static str {
        match self.state {
            VolumeState::Creating {
                downloading: true, ..
            } => "downloading",
            VolumeState::Creating { .. } => "creating",
            VolumeState::Available => "available",
            VolumeState::InUse | VolumeState::Releasing { .. } => "in-use",
            VolumeState::Attaching { .. } => "attaching",
            VolumeState::Detaching { .. } => "detaching",
            VolumeState::Error => "error",
        }
    }
}

/// A volume snapshot: `creating` → `available`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VolumeSnapshot {
    /// Numeric ID.
    pub id: String,
    /// Label.
    pub name: String,
    /// The volume it was taken from.
    pub volume_id: String,
    /// Region slug.
    pub region: String,
    /// Size in GB.
    pub size: u64,
    /// Creation time (simulated).
    pub created_at: Millis,
    /// When it becomes `available`.
    pub ready_at: Millis,
    /// Creation order.
    pub seq: u64,
}

/// Marks a volume attached (used by vm/create with `volume_id`).
pub(crate) fn attach_to(account: &mut Account, volume_id: &str, vm_id: &str, device: &str) {
    if let Some(volume) = account.volumes.get_mut(volume_id) {
        volume.state = VolumeState::InUse;
        volume.attachment = Some(VolumeAttachment {
            vm_id: vm_id.to_owned(),
            device: device.to_owned(),
        });
    }
}

/// The volumes attached to a VM, by device.
pub(crate) fn attached_to<'a>(account: &'a Account, vm_id: &str) -> Vec<&'a Volume> {
    let mut volumes: Vec<&Volume> = account
        .volumes
        .values()
        .filter(|v| v.attachment.as_ref().is_some_and(|a| a.vm_id == vm_id))
        .collect();
    volumes.sort_by(|a, b| {
        a.attachment
            .as_ref()
            .map(|x| &x.device)
            .cmp(&b.attachment.as_ref().map(|x| &x.device))
    });
    volumes
}

regional!(Volume, VolumeSnapshot);
stored!(Volume, Volume, "volume_id", volumes);
stored!(
    VolumeSnapshot,
    VolumeSnapshot,
    "snapshot_id",
    volume_snapshots
);

/// One of the caller's volumes; a given `region` must match it.
fn find<'a>(account: &'a mut Account, params: &Params) -> Result<&'a mut Volume, ApiError> {
    let region = params.region()?;
    params.find_in(&mut account.volumes, "volume_id", "volume", region)
}

fn entry(volume: &Volume) -> Value {
    let attachment = volume.attachment.as_ref();
    json!({
        "id": volume.id,
        "identification": volume.identification,
        "name": volume.name,
        "region": volume.region,
        "size": volume.size,
        "status": volume.status(),
        "time_created": rfc3339(volume.created_at),
        "attached": attachment.map(|a| a.vm_id.clone()).unwrap_or_default(),
        "target": attachment.map(|a| a.device.clone()).unwrap_or_default(),
    })
}

pub(crate) fn list(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    regional_list(params, "volumes", &ctx.account.volumes, entry)
}

fn parse_size(params: &Params) -> Result<u64, ApiError> {
    let size: u64 = params.number("size")?;
    if !(1..=16_000).contains(&size) {
        return Err(ApiError::invalid("size"));
    }
    Ok(size)
}

pub(crate) fn create(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let label = params.require("label")?;
    let mut size = parse_size(params)?;
    if !valid_text(label, 255) {
        return Err(ApiError::invalid("label"));
    }
    let from_image = match params.get("image") {
        Some(image_id) => {
            image::usable(ctx.account, image_id, region, ctx.now)
                .ok_or_else(|| ApiError::invalid("image"))?;
            true
        }
        None => false,
    };
    if let Some(snapshot_id) = params.get("snapshot_id") {
        let snapshot = ctx
            .account
            .volume_snapshots
            .get(snapshot_id.trim())
            .filter(|s| s.region == region && ctx.now >= s.ready_at)
            .ok_or_else(|| ApiError::invalid("snapshot"))?;
        size = size.max(snapshot.size);
    }
    let seq = ctx.seq();
    let fails = ctx.volume_fails();
    let identification = ctx.shared.uuid();
    ctx.shared.create(ctx.account, params, |id| Volume {
        id,
        identification,
        name: label.trim().to_owned(),
        region: region.to_owned(),
        size,
        state: VolumeState::Creating {
            until: after(ctx.now, ctx.timing.volume_create),
            downloading: from_image,
            fails,
        },
        attachment: None,
        created_at: ctx.now,
        seq,
    })
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let volume = find(ctx.account, params)?;
    if volume.attachment.is_some() || volume.status() == "in-use" {
        return Err(ApiError::new("the volume is in use; detach it first"));
    }
    let id = volume.id.clone();
    ctx.account.volumes.remove(&id);
    done()
}

pub(crate) fn attach(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let target = params.require("target")?.trim().to_owned();
    let strict = ctx.attach_rules();
    let (vm_id, vm_region) = {
        let vm = vm::find(ctx.account, params)?;
        if strict {
            vm_status::attachable(&vm.phase)?;
        }
        (vm.id.clone(), vm.region.clone())
    };
    let takes = ctx.volume_attach_time();
    let until = after(ctx.now, takes);
    let used: Vec<String> = attached_to(ctx.account, &vm_id)
        .iter()
        .filter_map(|v| v.attachment.as_ref().map(|a| a.device.clone()))
        .collect();
    let volume = find(ctx.account, params)?;
    if volume.region != vm_region {
        return Err(ApiError::invalid("vm"));
    }
    if volume.state != VolumeState::Available {
        return Err(ApiError::new("the volume is not available"));
    }
    let device = if target == "auto" {
        ('b'..='z')
            .map(|letter| format!("/dev/vd{letter}"))
            .find(|device| !used.contains(device))
            .ok_or_else(|| ApiError::new("no free device left on the VM"))?
    } else {
        let valid = target.strip_prefix("/dev/").is_some_and(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric())
        });
        if !valid || used.contains(&target) {
            return Err(ApiError::invalid("target"));
        }
        target
    };
    volume.state = if takes.is_zero() {
        VolumeState::InUse
    } else {
        VolumeState::Attaching { until }
    };
    volume.attachment = Some(VolumeAttachment { vm_id, device });
    done()
}

pub(crate) fn detach(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let takes = ctx.volume_attach_time();
    let until = after(ctx.now, takes);
    let volume = find(ctx.account, params)?;
    if volume.attachment.is_none() {
        return Err(ApiError::new("the volume is not attached"));
    }
    if matches!(
        volume.state,
        VolumeState::Attaching { .. } | VolumeState::Detaching { .. }
    ) {
        return Err(ApiError::new(
            "the volume is busy with another operation, please try again later",
        ));
    }
    if takes.is_zero() {
        volume.attachment = None;
        volume.state = VolumeState::Available;
    } else {
        volume.state = VolumeState::Detaching { until };
    }
    done()
}

pub(crate) fn info(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let volume = find(ctx.account, params)?;
    let mut value = entry(volume);
    if let Some(object) = value.as_object_mut() {
        object.insert("created".into(), json!(sql_time(volume.created_at)));
    }
    reply([("volume", value)])
}

pub(crate) fn extend(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let size = parse_size(params)?;
    let volume = find(ctx.account, params)?;
    if size <= volume.size {
        return Err(ApiError::invalid("size"));
    }
    if matches!(
        volume.state,
        VolumeState::Creating { .. } | VolumeState::Error
    ) {
        return Err(ApiError::new("the volume is not available"));
    }
    volume.size = size;
    done()
}

pub(crate) fn rename(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let name = params.text("name")?;
    find(ctx.account, params)?.name = name.trim().to_owned();
    done()
}

pub(crate) fn snapshot_create(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let label = params.text("label")?;
    let (volume_id, region, size) = {
        let volume = find(ctx.account, params)?;
        if matches!(
            volume.state,
            VolumeState::Creating { .. } | VolumeState::Error
        ) {
            return Err(ApiError::new("the volume is not available"));
        }
        (volume.id.clone(), volume.region.clone(), volume.size)
    };
    let seq = ctx.seq();
    let snapshot = |id| VolumeSnapshot {
        id,
        name: label.trim().to_owned(),
        volume_id,
        region,
        size,
        created_at: ctx.now,
        ready_at: after(ctx.now, ctx.timing.volume_create),
        seq,
    };
    ctx.shared.create(ctx.account, params, snapshot)
}

pub(crate) fn snapshot_list(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let snapshots = &ctx.account.volume_snapshots;
    regional_list(params, "snapshots", snapshots, |s| {
        json!({
            "id": s.id, "name": s.name, "volume_id": s.volume_id, "region": s.region,
            "size": s.size, "time_created": rfc3339(s.created_at),
            "status": if ctx.now >= s.ready_at { "available" } else { "creating" },
        })
    })
}

fn find_snapshot<'a>(
    account: &'a mut Account,
    params: &Params,
) -> Result<&'a mut VolumeSnapshot, ApiError> {
    let region = params.region()?;
    params.find_in(
        &mut account.volume_snapshots,
        "snapshot_id",
        "snapshot",
        region,
    )
}

pub(crate) fn snapshot_replicate(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let image_name = params.require("image_name")?;
    let dst_region = catalog::region(params.require("dst_region")?)
        .ok_or_else(|| ApiError::invalid("dst_region"))?;
    if !valid_text(image_name, 255) {
        return Err(ApiError::invalid("image_name"));
    }
    let (source, size) = {
        let snapshot = find_snapshot(ctx.account, params)?;
        if ctx.now < snapshot.ready_at {
            return Err(ApiError::new("the snapshot is not available yet"));
        }
        (format!("volume snapshot {}", snapshot.id), snapshot.size)
    };
    let id = image::create(
        ctx,
        image_name,
        dst_region,
        None,
        size * 1024 * 1024 * 1024,
        source,
        false,
    );
    reply([("image_id", json!(id))])
}

pub(crate) fn snapshot_delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let id = find_snapshot(ctx.account, params)?.id.clone();
    ctx.account.volume_snapshots.remove(&id);
    done()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(state: VolumeState) -> Volume {
        Volume {
            id: "1".into(),
            identification: "u".into(),
            name: "v".into(),
            region: "toronto".into(),
            size: 10,
            state,
            attachment: None,
            created_at: 0,
            seq: 1,
        }
    }

    #[test]
    fn creating_becomes_available() {
        let mut v = volume(VolumeState::Creating {
            until: 5,
            downloading: true,
            fails: false,
        });
        assert_eq!(v.status(), "downloading");
        v.settle(4);
        assert_eq!(v.status(), "downloading");
        v.settle(5);
        assert_eq!(v.status(), "available");
    }

    #[test]
    fn released_volumes_stay_in_use_for_a_while() {
        let mut v = volume(VolumeState::Releasing { until: 10 });
        assert_eq!(v.status(), "in-use");
        v.settle(10);
        assert_eq!(v.status(), "available");
    }
}
