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
//!   its Ready condition), then `volume attach`.
//!
//! Deleting detaches first, then waits while the volume is still `in-use` (Luna Node keeps a
//! volume `in-use` for a while after its VM is deleted) without calling the API, then deletes.

use std::{sync::Arc, time::Duration};

use futures::FutureExt;
use kube::{
    ResourceExt,
    runtime::{Controller, controller::Action, watcher},
};

use super::{
    Context,
    accounts::Account,
    error::Error,
    list_cache::ListCache,
    managed::{
        self, Blocked, Cx, External, Reconciler, Reference, cloud, external::Read, set, stuck,
    },
    vm_cloud,
};
use crate::{
    api::{
        common::{ManagedResource, READY, SYNCED, is_condition_true},
        vm::LunaVM,
        volume::{LunaVolume, VolumeAtProvider},
    },
    lunanode::{
        self,
        types::{Volume, VolumeCreate},
    },
};

pub(super) fn list(
    client: lunanode::Client,
    region: String,
) -> futures::future::BoxFuture<'static, Result<Vec<(String, Volume)>, lunanode::Error>> {
    async move {
        Ok(client
            .volume_list(&region)
            .await?
            .into_iter()
            .map(|volume| (volume.id.clone(), volume))
            .collect())
    }
    .boxed()
}

/// The LunaVM a volume is attached to by reference.
pub(super) fn attached_vm(volume: &LunaVolume) -> Vec<String> {
    volume
        .spec
        .attach_to
        .as_ref()
        .and_then(|attach| attach.vm.vm_ref.as_ref())
        .map(|reference| vec![reference.name.clone()])
        .unwrap_or_default()
}

fn is_busy(status: &str) -> bool {
    matches!(
        status,
        "creating" | "downloading" | "extending" | "attaching" | "detaching"
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
    match managed::resolve::<LunaVM>(cx.ctx, &namespace, &reference.name) {
        Reference::Ready { id, object } if is_condition_true(object.conditions(), READY) => {
            Ok(Some(id))
        }
        Reference::Ready { .. } => {
            let message = format!("waiting for LunaVM {} to be ready", reference.name);
            set(status, volume, READY, false, "WaitingForVM", &message);
            // The LunaVM watch wakes this object when the VM changes.
            Err(Action::requeue(Duration::from_secs(60)))
        }
        Reference::Waiting(message) => {
            set(status, volume, READY, false, "WaitingForVM", &message);
            Err(Action::requeue(Duration::from_secs(60)))
        }
        Reference::Missing(message) => {
            set(status, volume, READY, false, "VMNotFound", &message);
            Err(Action::await_change())
        }
    }
}

impl Reconciler for LunaVolume {
    const KIND: &'static str = "LunaVolume";

    managed::external_steps!();

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        controller.watches(
            managed::scoped::<LunaVM>(ctx),
            watcher::Config::default().any_semantic(),
            managed::referrers::<LunaVolume, LunaVM>(ctx, attached_vm),
        )
    }
}

/// What a volume create needs resolved: the image ID.
pub struct VolumePlan {
    image: Option<String>,
}

impl External for LunaVolume {
    type Observed = Volume;
    type Plan = VolumePlan;

    fn cache(&self, account: &Account) -> Arc<ListCache<Volume>> {
        account.caches.keyed("volume list", &self.spec.region, list)
    }

    fn create_name(&self) -> String {
        self.spec.label.clone()
    }

    fn is_create_of(&self, label: &str, observed: &Volume) -> bool {
        observed.name == label
    }

    async fn read(
        &self,
        id: &str,
        account: &Arc<Account>,
    ) -> Result<Read<Volume>, lunanode::Error> {
        match account.client.volume_info(&self.spec.region, id).await {
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

    async fn plan(
        &self,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> Result<Result<VolumePlan, Blocked>, Error> {
        let Some(image) = &self.spec.image else {
            return Ok(Ok(VolumePlan { image: None }));
        };
        let resolved = vm_cloud::resolve_image(account, image, &self.spec.region)
            .await
            .map_err(|source| cloud("list images", &cx.object, source))?;
        Ok(match resolved {
            Some(id) => Ok(VolumePlan { image: Some(id) }),
            None => Err(Blocked::new(
                "ImageNotFound",
                format!("image {image} not found in region {}", self.spec.region),
            )),
        })
    }

    async fn create(
        &self,
        plan: &VolumePlan,
        account: &Arc<Account>,
    ) -> Result<String, lunanode::Error> {
        let spec = &self.spec;
        account
            .client
            .volume_create(&VolumeCreate {
                region: spec.region.clone(),
                label: spec.label.clone(),
                size_gb: u64::try_from(spec.size).unwrap_or(1),
                image: plan.image.clone(),
                snapshot_id: spec.snapshot_id.clone(),
            })
            .await
    }

    fn report(&self, status: &mut Self::Status, observed: &Volume) {
        let non_empty = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        status.at_provider = Some(VolumeAtProvider {
            status: non_empty(&observed.status),
            size: observed.size.and_then(|size| i64::try_from(size).ok()),
            region: non_empty(&observed.region),
            attached_to: observed.attached.clone(),
        });
    }

    async fn sync(
        &self,
        status: &mut Self::Status,
        observed: &Volume,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> Result<Action, Error> {
        let uid = self.uid().unwrap_or_default();
        let cache = self.cache(account);
        let region = &self.spec.region;
        let confirm = Action::requeue(Duration::from_secs(1));
        if is_busy(&observed.status) {
            let message = format!("volume {} is {}", observed.id, observed.status);
            set(status, self, READY, false, "InProgress", &message);
            return Ok(Action::requeue(cx.ctx.accounts.timing().fast_interval * 3));
        }

        // Size: volumes only grow (a CEL rule rejects a smaller spec).
        let wanted_size = u64::try_from(self.spec.size).unwrap_or(0);
        if observed.size.is_some_and(|size| size < wanted_size) {
            let result = account
                .client
                .volume_extend(region, &observed.id, wanted_size)
                .await;
            cache.wrote(&uid);
            match result {
                Ok(()) => {
                    cx.event(
                        self,
                        false,
                        "Extended",
                        "Update",
                        format!("extended volume {} to {wanted_size} GB", observed.id),
                    )
                    .await;
                    set(status, self, READY, false, "Extending", "extending");
                    return Ok(confirm);
                }
                Err(error) if !error.is_retryable() && !error.may_have_taken_effect() => {
                    let message = format!("unable to extend to {wanted_size} GB: {error}");
                    stuck(status, self, "ExtendFailed", &message);
                    return Ok(Action::requeue(Duration::from_secs(300)));
                }
                Err(error) => return Err(cloud("extend volume", &cx.object, error)),
            }
        }

        // Attachment.
        // While a referenced VM is not ready the attachment is left as it is.
        let wanted = match wanted_vm(self, status, cx) {
            Ok(wanted) => wanted,
            Err(action) => return Ok(action),
        };
        match (&observed.attached, &wanted) {
            (Some(current), wanted) if wanted.as_deref() != Some(current.as_str()) => {
                account
                    .client
                    .volume_detach(region, &observed.id)
                    .await
                    .map_err(|source| cloud("detach volume", &cx.object, source))?;
                cache.wrote(&uid);
                cx.event(
                    self,
                    false,
                    "Detached",
                    "Detach",
                    format!("detached volume {} from vm {current}", observed.id),
                )
                .await;
                set(
                    status,
                    self,
                    READY,
                    false,
                    "Detaching",
                    "detached; confirming",
                );
                return Ok(confirm);
            }
            (None, Some(vm)) => {
                if observed.status != "available" {
                    // Still in use after a detach or after its VM was deleted: wait.
                    let message = format!("volume {} is {}", observed.id, observed.status);
                    set(status, self, READY, false, "InProgress", &message);
                    return Ok(Action::requeue(cx.ctx.accounts.timing().fast_interval * 3));
                }
                let target = self
                    .spec
                    .attach_to
                    .as_ref()
                    .map_or("auto", |attach| attach.target.as_str());
                let result = account
                    .client
                    .volume_attach(region, &observed.id, vm, target)
                    .await;
                cache.wrote(&uid);
                match result {
                    Ok(()) => {
                        cx.event(
                            self,
                            false,
                            "Attached",
                            "Attach",
                            format!("attached volume {} to vm {vm}", observed.id),
                        )
                        .await;
                        set(
                            status,
                            self,
                            READY,
                            false,
                            "Attaching",
                            "attached; confirming",
                        );
                        return Ok(confirm);
                    }
                    Err(error) if !error.is_retryable() && !error.may_have_taken_effect() => {
                        let message = format!("unable to attach to vm {vm}: {error}");
                        set(status, self, READY, false, "AttachFailed", &message);
                        set(status, self, SYNCED, false, "AttachFailed", &message);
                        return Ok(Action::requeue(Duration::from_secs(300)));
                    }
                    Err(error) => return Err(cloud("attach volume", &cx.object, error)),
                }
            }
            _ => {}
        }
        let message = match &observed.attached {
            Some(vm) => format!("volume {} is attached to vm {vm}", observed.id),
            None => format!("volume {} is {}", observed.id, observed.status),
        };
        set(status, self, READY, true, "Available", &message);
        Ok(Action::await_change())
    }

    async fn delete(
        &self,
        observed: &Volume,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> Result<(), Error> {
        let region = &self.spec.region;
        if observed.attached.is_some() {
            match account.client.volume_detach(region, &observed.id).await {
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
        match account.client.volume_delete(region, &observed.id).await {
            Ok(()) => {
                cx.event(
                    self,
                    false,
                    "Deleted",
                    "Delete",
                    format!("deleted volume {}", observed.id),
                )
                .await;
                Ok(())
            }
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(cloud("delete volume", &cx.object, error)),
        }
    }
}
