//! LunaVM: a VM without a cloud ID yet — adopt it (`import.id`), finish a create whose answer
//! was lost, or create it, recording the intent first so that a crash or a dropped response
//! never leads to a second VM.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{ResourceExt, runtime::controller::Action};

use super::{
    accounts::Account,
    error::Error,
    managed::Cx,
    report::{event, key},
    vm::{cloud, set},
    vm_cloud,
    vm_decide::ObservedVm,
};
use crate::api::{
    common::{self, ManagementPolicy, READY, SYNCED},
    vm::{LunaVM, LunaVMStatus, PendingCreate},
};

/// No cloud ID yet: adopt (import), finish an interrupted create, or create.
pub(super) async fn find_or_create(
    vm: &LunaVM,
    status: &mut LunaVMStatus,
    account: &Arc<Account>,
    cx: &Cx<'_, LunaVM>,
) -> Result<Action, Error> {
    let ctx = cx.ctx;
    let object = key(vm);
    let uid = vm.uid().unwrap_or_default();
    let vms = &account.caches.vms;

    // The API refused a create for this very spec: wait for the spec to change. (This
    // reconcile was woken by the operator's own status write.)
    let refused = status.conditions.iter().any(|c| {
        c.type_ == SYNCED
            && !c.is_true()
            && c.reason == "CreateFailed"
            && c.observed_generation == vm.metadata.generation
    });
    if refused && !requested_again(vm, status) {
        return Ok(Action::await_change());
    }

    // Explicit adoption.
    if let Some(import_id) = vm.spec.import.as_ref().and_then(|import| import.id.clone()) {
        let snapshot = vms
            .get(ctx.accounts.timing().fast_interval)
            .await
            .map_err(|source| cloud("list vms", &object, source))?;
        let Some(observed) = snapshot.entries.get(&import_id) else {
            let message =
                format!("vm {import_id} named by spec.import.id does not exist on the account");
            set(status, vm, READY, false, "ImportNotFound", &message);
            set(status, vm, SYNCED, false, "ImportNotFound", &message);
            return Ok(Action::await_change());
        };
        adopt(status, vm, observed);
        event(
            &ctx.recorder,
            vm,
            false,
            "Adopted",
            "Import",
            format!("adopted existing vm {import_id}"),
        )
        .await;
        return Ok(Action::requeue(Duration::from_millis(100)));
    }
    if vm.spec.management_policy == ManagementPolicy::ObserveOnly {
        let message = "ObserveOnly needs spec.import.id: the operator never creates in this mode";
        set(status, vm, READY, false, "NothingToObserve", message);
        set(status, vm, SYNCED, false, "NothingToObserve", message);
        return Ok(Action::await_change());
    }

    // An earlier create may have happened without its answer reaching us (a dropped response,
    // or a crash before the status write): look before creating again.
    if let Some(pending) = status.pending_create.clone() {
        let since = Instant::now() - Duration::from_secs(0);
        let snapshot = vms
            .get_after(since)
            .await
            .map_err(|source| cloud("list vms", &object, source))?;
        let candidates: Vec<&ObservedVm> = snapshot
            .entries
            .values()
            .filter(|candidate| candidate.hostname.eq_ignore_ascii_case(&pending.hostname))
            .filter(|candidate| !pending.preexisting.contains(&candidate.id))
            .filter(|candidate| {
                ctx.registry
                    .waker::<LunaVM>()
                    .is_none_or(|waker| !waker.claimed_by_other(&candidate.id, &uid))
            })
            .collect();
        match candidates.as_slice() {
            [found] => {
                let found = (*found).clone();
                status.pending_create = None;
                status.id = Some(found.id.clone());
                status.applied_plan = Some(vm.spec.plan.clone());
                status.applied_image = vm.spec.image.clone();
                event(
                    &ctx.recorder,
                    vm,
                    false,
                    "CreateRecovered",
                    "Create",
                    format!("found vm {} created by an earlier attempt", found.id),
                )
                .await;
                vms.track(&uid, true);
                return Ok(Action::requeue(Duration::from_millis(100)));
            }
            [] => {}
            many => {
                let ids: Vec<&str> = many.iter().map(|vm| vm.id.as_str()).collect();
                let message = format!(
                    "failed to tell which vm an interrupted create made: {} vms are named {} ({}); set spec.import.id to the right one and delete the others",
                    ids.len(),
                    pending.hostname,
                    ids.join(", ")
                );
                set(status, vm, READY, false, "AmbiguousCreate", &message);
                set(status, vm, SYNCED, false, "AmbiguousCreate", &message);
                event(
                    &ctx.recorder,
                    vm,
                    true,
                    "AmbiguousCreate",
                    "Create",
                    message,
                )
                .await;
                return Ok(Action::await_change());
            }
        }
    }

    // Resolve what the create needs before recording that a create is pending.
    let image_id = match (&vm.spec.image, &vm.spec.boot_volume_id) {
        (Some(image), _) => {
            let resolved = vm_cloud::resolve_image(account, image, &vm.spec.region)
                .await
                .map_err(|source| cloud("list images", &object, source))?;
            match resolved {
                Some(id) => Some(id),
                None => {
                    let message = format!("image {image} not found in region {}", vm.spec.region);
                    set(status, vm, READY, false, "ImageNotFound", &message);
                    set(status, vm, SYNCED, false, "ImageNotFound", &message);
                    return Ok(Action::await_change());
                }
            }
        }
        _ => None,
    };
    let snapshot = vms
        .get(ctx.accounts.timing().fast_interval)
        .await
        .map_err(|source| cloud("list vms", &object, source))?;
    let preexisting: Vec<String> = snapshot
        .entries
        .values()
        .filter(|other| other.hostname.eq_ignore_ascii_case(&vm.spec.hostname))
        .map(|other| other.id.clone())
        .collect();
    // Record the intent first: if the create's answer is lost, the next reconcile looks the VM
    // up instead of creating a second one.
    let mut pending_status = status.clone();
    pending_status.pending_create = Some(PendingCreate {
        started_at: Time(Timestamp::now()),
        hostname: vm.spec.hostname.clone(),
        preexisting,
    });
    cx.save(vm, &pending_status).await?;
    *status = pending_status;

    tracing::info!(object = %object, hostname = %vm.spec.hostname, resource_version = ?vm.metadata.resource_version, "creating vm");
    let result = vm_cloud::create(&account.client, &vm.spec, image_id.as_deref()).await;
    match result {
        Ok(id) => {
            status.pending_create = None;
            status.id = Some(id.clone());
            status.applied_plan = Some(vm.spec.plan.clone());
            status.applied_image = vm.spec.image.clone();
            status.applied_floating_ip = vm.spec.floating_ip.clone();
            set(
                status,
                vm,
                READY,
                false,
                "Creating",
                &format!("vm {id} is being built"),
            );
            set(
                status,
                vm,
                SYNCED,
                true,
                "Created",
                &format!("created vm {id}"),
            );
            vms.track(&uid, true);
            event(
                &ctx.recorder,
                vm,
                false,
                "Created",
                "Create",
                format!("created vm {id}"),
            )
            .await;
            Ok(Action::requeue(ctx.accounts.timing().fast_interval * 3))
        }
        Err(error) if !error.may_have_taken_effect() && !error.is_retryable() => {
            // The API refused: nothing was created. Terminal until the spec changes.
            status.pending_create = None;
            let message = error.to_string();
            set(status, vm, READY, false, "CreateFailed", &message);
            set(status, vm, SYNCED, false, "CreateFailed", &message);
            event(&ctx.recorder, vm, true, "CreateFailed", "Create", message).await;
            Ok(Action::await_change())
        }
        // Unknown outcome: keep the pending mark; the retry looks before it creates.
        Err(error) => Err(cloud("create vm", &object, error)),
    }
}

/// Whether the reconcile-requested-at annotation asks for a new attempt since the last one.
fn requested_again(vm: &LunaVM, status: &LunaVMStatus) -> bool {
    let Some(requested) = vm
        .annotations()
        .get(common::RECONCILE_REQUESTED_AT_ANNOTATION)
    else {
        return false;
    };
    status.last_reconcile_request.as_deref() != Some(requested.as_str())
}

fn adopt(status: &mut LunaVMStatus, vm: &LunaVM, observed: &ObservedVm) {
    status.id = Some(observed.id.clone());
    // Adoption takes the VM's current plan and image as what the manifest asks for; a later
    // change of spec.plan resizes it.
    status.applied_plan = Some(vm.spec.plan.clone());
    status.applied_plan_id = Some(observed.plan_id.clone());
    status.applied_image = vm.spec.image.clone();
    status.applied_floating_ip = vm.spec.floating_ip.clone();
}
