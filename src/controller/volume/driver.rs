//! The LunaVolume controller: create (from nothing, an image or a snapshot), grow, attach,
//! move and delete volumes.
//!
//! Observed through one `volume list` per account and region, shared by every LunaVolume of
//! that region; after its own write (extend, attach, detach) an object reads a list started
//! after the write. One write per reconcile, then a short requeue to confirm it:
//! - `creating`/`downloading`: wait (the list poller runs fast while any volume is in transition);
//! - smaller than the spec: `volume extend`;
//! - attached elsewhere than the spec says (or attached with no `attachTo`): `volume detach`;
//! - detached and `attachTo` names a VM: wait for the VM to be ready (a LunaVM by reference:
//!   its Ready condition) and able to take a volume (not building, shelved or in `ERROR`, as
//!   the account's last `vm list` shows it), then `volume attach`; `attaching` and
//!   `detaching` are waited for, never repeated.
//!
//! Deleting detaches first, then waits while the volume is still `in-use` (Luna Node keeps a
//! volume `in-use` for a while after its VM is deleted) without calling the API, then deletes.

use std::time::Duration;

use super::{act, cloud, decide};
use crate::api::{
    common::{READY, is_condition_true},
    vm::LunaVM,
    volume::{LunaVolume, VolumeAtProvider},
    volumesnapshot::LunaVolumeSnapshot,
};
use crate::controller::prelude::*;
use crate::controller::{managed::external::Read, vm::cloud as vm_cloud};
use crate::lunanode::types::{Volume, VolumeCreate};

/// The LunaVM a volume is attached to by reference.
pub(crate) fn attached_vm(volume: &LunaVolume) -> Vec<String> {
    managed::named(
        volume
            .spec
            .attach_to
            .as_ref()
            .and_then(|attach| attach.vm.vm_ref.as_ref()),
    )
}

/// Where the spec wants the volume: `Ok(None)` detached, `Ok(Some(vm id))`, or `Err(action)`
/// when a referenced LunaVM is not ready yet.
fn wanted_vm(
    volume: &LunaVolume,
    status: &mut <LunaVolume as ManagedResource>::Status,
    cx: &Cx<'_, LunaVolume>,
) -> Result<Option<String>, Action> {
    let Some(attach) = &volume.spec.attach_to else {
        return Ok(None);
    };
    let Some(reference) = &attach.vm.vm_ref else {
        return Ok(attach.vm.vm_id.clone());
    };
    let namespace = volume.namespace().unwrap_or_default();
    let message = match managed::resolve::<LunaVM>(cx.ctx, &namespace, &reference.name) {
        Reference::Ready { id, object } if is_condition_true(object.conditions(), READY) => {
            return Ok(Some(id));
        }
        Reference::Ready { .. } => format!("waiting for LunaVM {} to be ready", reference.name),
        Reference::Waiting(message) => message,
        Reference::Missing(message) => {
            mark(status, volume).not_ready(Reason::VMNotFound, &message);
            return Err(Action::await_change());
        }
    };
    mark(status, volume).not_ready(Reason::WaitingForVM, &message);
    // The LunaVM watch wakes this object when the VM changes.
    Err(Action::requeue(Duration::from_secs(60)))
}

/// Why VM `vm_id` cannot take a volume now, from the account's last `vm list` (no call): it
/// builds or is in another transition, is shelved, or is in `ERROR` — Luna Node refuses an
/// attach then. `None` when it can, or when the list does not show it (the API decides).
fn vm_cannot_attach(account: &Account, vm_id: &str) -> Option<String> {
    let snapshot = vm_cloud::vms(account).current()?;
    let vm = snapshot.entries.get(vm_id)?;
    match crate::controller::vm::decide::power_state(&vm.status) {
        Some(crate::api::vm::PowerState::Running | crate::api::vm::PowerState::Stopped)
            if vm.task.is_empty() =>
        {
            None
        }
        _ => Some(format!(
            "vm {vm_id} is {}",
            vm_cloud::status_word(&vm.status)
        )),
    }
}

/// What a volume create needs resolved: the image ID, the snapshot ID.
pub struct VolumePlan {
    image: Option<String>,
    snapshot_id: Option<String>,
}

/// The ID of the LunaVolumeSnapshot `volume` is made from (`snapshotRef`), or why the create
/// waits (or cannot start).
fn snapshot_of(volume: &LunaVolume, ctx: &Context) -> Result<Option<String>, Blocked> {
    let Some(reference) = &volume.spec.snapshot_ref else {
        return Ok(volume.spec.snapshot_id.clone());
    };
    let namespace = volume.namespace().unwrap_or_default();
    match managed::resolve::<LunaVolumeSnapshot>(ctx, &namespace, &reference.name) {
        Reference::Ready { object, .. } if object.spec.region != volume.spec.region => {
            Err(Blocked::new(
                Reason::InvalidSource,
                format!(
                    "LunaVolumeSnapshot {} is in region {}, the volume in {}",
                    reference.name, object.spec.region, volume.spec.region
                ),
            ))
        }
        Reference::Ready { object, .. } if !managed::is_ready(object.as_ref()) => {
            Err(Blocked::waiting(
                Reason::WaitingForVolume,
                format!("LunaVolumeSnapshot {} is not available yet", reference.name),
            ))
        }
        Reference::Ready { id, .. } => Ok(Some(id)),
        Reference::Waiting(message) => Err(Blocked::waiting(Reason::WaitingForVolume, message)),
        Reference::Missing(message) => Err(Blocked::waiting(Reason::VolumeNotFound, message)),
    }
}

impl External for LunaVolume {
    type Observed = Volume;
    type Plan = VolumePlan;

    managed::found_by!(cloud::volumes[region], label, name);

    async fn read(&self, id: &str, client: &Client) -> Result<Read<Volume>, lunanode::Error> {
        match client.volume_info(&self.spec.region, id).await {
            Ok(mut volume) => {
                if volume.id.is_empty() {
                    id.clone_into(&mut volume.id);
                }
                Ok(Read::Found(volume))
            }
            Err(error) if error.is_not_found() => Ok(Read::Gone),
            Err(error) => Err(error),
        }
    }

    async fn plan(&self, cx: &CloudCx<'_, Self>) -> Result<Result<VolumePlan, Blocked>, Error> {
        let snapshot_id = match snapshot_of(self, cx.ctx) {
            Ok(id) => id,
            Err(blocked) => return Ok(Err(blocked)),
        };
        let Some(image) = &self.spec.image else {
            return Ok(Ok(VolumePlan {
                image: None,
                snapshot_id,
            }));
        };
        let usable =
            crate::controller::image::cloud::usable_image(cx.account, image, &self.spec.region)
                .await
                .map_err(|source| cloud("list images", &cx.object, source))?;
        Ok(usable.map(|id| VolumePlan {
            image: Some(id),
            snapshot_id,
        }))
    }

    async fn create(&self, plan: &VolumePlan, client: &Client) -> Result<String, lunanode::Error> {
        let spec = &self.spec;
        client
            .volume_create(&VolumeCreate {
                region: spec.region.to_string(),
                label: spec.label.clone(),
                size_gb: u64::try_from(spec.size).unwrap_or(1),
                image: plan.image.clone(),
                snapshot_id: plan.snapshot_id.clone(),
            })
            .await
    }

    fn report(&self, status: &mut Self::Status, observed: &Volume) {
        status.at_provider = Some(VolumeAtProvider {
            status: non_empty(&observed.status),
            size: observed.size.and_then(|size| i64::try_from(size).ok()),
            region: non_empty(&observed.region),
            attached_to: observed.attached.clone(),
        });
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        // While a referenced VM is not ready the attachment is left as it is.
        let (wanted, blocked) = match wanted_vm(self, status, cx) {
            Ok(wanted) => (Some(wanted), Action::await_change()),
            Err(action) => (None, action),
        };
        let wanted_size = u64::try_from(self.spec.size).unwrap_or(0);
        let wanted_vm = wanted.as_ref().map(Option::as_deref);
        let step = decide::next_step(observed, &self.spec.label, wanted_size, wanted_vm);
        if let decide::Step::Attach { to } = &step {
            if let Some(why) = vm_cannot_attach(cx.account, to) {
                let message = format!("the volume is attached once the VM can take it: {why}");
                mark(status, self).not_ready(Reason::WaitingForVM, &message);
                // A LunaVM by reference wakes this object when it changes; a VM by ID is
                // looked at again on the shared list.
                return Ok(Action::requeue(Duration::from_secs(30)));
            }
        }
        act::act(self, status, observed, step, blocked, cx).await
    }

    async fn delete(&self, observed: &Volume, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let region = &self.spec.region;
        if decide::is_busy(&observed.status) {
            // Attaching or detaching (a detach this cleanup sent, say): no call until it ends.
            return Ok(());
        }
        if observed.attached.is_some() {
            match cx.client().volume_detach(region, &observed.id).await {
                Ok(()) => {}
                Err(error) if error.is_not_found() => {}
                Err(error) => return Err(cloud("detach volume", &cx.object, error)),
            }
            return Ok(());
        }
        if observed.status != "available" && observed.status != "error" {
            // In use for a while after its VM was deleted, or still being created: no call now;
            // the driver looks again (the list poller runs fast while this is in transition).
            return Ok(());
        }
        let call = cx.client().volume_delete(region, &observed.id);
        cx.remove(self, "delete volume", &observed.id, call).await
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        controller
            .follows::<LunaVM>(ctx, attached_vm)
            // The snapshot of `snapshotRef` got its ID or became available.
            .follows_ref::<LunaVolumeSnapshot>(ctx, |volume| volume.spec.snapshot_ref.as_ref())
    }
}
