//! The LunaVM controller: the driver, observation and status. The steps live beside it:
//! `vm_create` (adopt, recover or create), `vm_act` (one write on an existing VM),
//! `vm_delete` (the finalizer), `vm_decide` (pure decisions) and `vm_cloud` (the API calls).
//!
//! The skeleton in [`super::managed`] runs the watch, the finalizer, the pause check, the
//! credentials and the final status write. What is the VM's own, in `decide_and_act`:
//! 1. observe through the account's shared `vm list` cache (a list call only when the
//!    snapshot is too old; never a per-VM call in steady state);
//! 2. decide: create (crash-safe), adopt, or the one next step from [`vm_decide::next_step`];
//! 3. act: at most one cloud write, with an Event;
//! 4. report: the observed VM into the status.
//!
//! `cleanup` deletes the VM (unless the policy is Orphan or ObserveOnly) and lets the finalizer
//! go only once a fresh list no longer shows it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use kube::{ResourceExt, runtime::controller::Action};

use super::{
    accounts::Account,
    error::Error,
    managed::{self, Cx, Reconciler},
    report::{event, key},
    vm_cloud,
    vm_decide::{self, ObservedVm, Step},
};
use crate::api::{
    common::{ManagedResource, ManagementPolicy, READY, SYNCED},
    vm::{AtProvider, LunaVM, LunaVMStatus},
};

/// The finalizer that guards the cloud VM.
pub const FINALIZER: &str = "lunavms.lunanode.com/cleanup";

impl Reconciler for LunaVM {
    const KIND: &'static str = "LunaVM";

    async fn apply(
        vm: &LunaVM,
        status: &mut LunaVMStatus,
        account: &Arc<Account>,
        cx: &Cx<'_, LunaVM>,
    ) -> Result<Action, Error> {
        decide_and_act(vm, status, account, cx).await
    }

    async fn cleanup(vm: &LunaVM, cx: &Cx<'_, LunaVM>) -> Result<Action, Error> {
        super::vm_delete::cleanup(vm, cx.ctx).await
    }
}

pub(super) fn credentials_name(vm: &LunaVM) -> String {
    vm.credentials_secret_name().to_owned()
}

async fn decide_and_act(
    vm: &LunaVM,
    status: &mut LunaVMStatus,
    account: &Arc<Account>,
    cx: &Cx<'_, LunaVM>,
) -> Result<Action, Error> {
    let ctx = cx.ctx;
    let object = key(vm);
    if let Some(message) = unsupported_reference(vm) {
        set(status, vm, READY, false, "ReferenceNotSupported", &message);
        set(status, vm, SYNCED, false, "ReferenceNotSupported", &message);
        return Ok(Action::await_change());
    }
    ctx.attach_vm_listener(account);
    let uid = vm.uid().unwrap_or_default();
    let vms = &account.caches.vms;
    let snapshot = vms
        .get(ctx.accounts.timing().slow_interval)
        .await
        .map_err(|source| cloud("list vms", &object, source))?;

    // Find the cloud VM this object stands for.
    let observed = match status.id.clone() {
        Some(id) => match managed::confirm(vms, &snapshot, &id)
            .await
            .map_err(|source| cloud("list vms", &object, source))?
        {
            Some(observed) => observed,
            None => {
                // Gone from the cloud: deleted outside the operator (or never finished).
                vms.track(&uid, false);
                if vm.spec.management_policy == ManagementPolicy::ObserveOnly {
                    let message = format!("vm {id} no longer exists");
                    set(status, vm, READY, false, "NotFound", &message);
                    set(status, vm, SYNCED, true, "Observed", "observed");
                    return Ok(Action::await_change());
                }
                event(
                    &ctx.recorder,
                    vm,
                    true,
                    "ExternallyDeleted",
                    "Observe",
                    format!("vm {id} disappeared from the account; creating it again"),
                )
                .await;
                status.id = None;
                status.at_provider = None;
                return Ok(Action::requeue(Duration::from_millis(100)));
            }
        },
        None => return super::vm_create::find_or_create(vm, status, account, cx).await,
    };

    // The list shows only the OpenStack state: "active" while powering off or resizing. After
    // its own power, resize or reimage write, the operator follows the VM with `vm info` (the
    // task in progress); a build needs no such call, the list says `building`.
    let needs_detail = vms.wants_detail(&uid)
        || (vm_decide::power_state(&observed.status).is_none()
            && !vm_decide::is_building(&observed.status));
    let observed = if needs_detail {
        let read_at = Instant::now();
        let fresh = vm_cloud::info(&account.client, &observed.id)
            .await
            .map_err(|source| cloud("read vm", &object, source))?;
        vms.record(&fresh.id, fresh.clone(), read_at);
        fresh
    } else {
        observed
    };

    if vm.spec.management_policy == ManagementPolicy::ObserveOnly {
        report_observed(vm, status, &observed, true);
        return Ok(Action::await_change());
    }

    let step = vm_decide::next_step(&vm.spec, status, &observed);
    let ready = vm_decide::is_ready(&step);
    vms.track(&uid, !ready && step != Step::ReimageNotAllowed);
    if ready {
        vms.want_detail(&uid, false);
    }
    if status.applied_plan_id.is_none() && ready {
        status.applied_plan_id = Some(observed.plan_id.clone());
    }
    super::vm_act::act(vm, status, account, ctx, &observed, &step).await?;
    report_observed(vm, status, &observed, ready);
    if ready {
        super::vm_act::write_connection_secret(vm, status, account, ctx, &observed).await?;
        Ok(Action::await_change())
    } else {
        Ok(Action::requeue(ctx.accounts.timing().fast_interval * 3))
    }
}

/// References to kinds this operator does not serve yet (LunaNetwork, LunaFloatingIP): a clear
/// condition instead of a VM created without them.
fn unsupported_reference(vm: &LunaVM) -> Option<String> {
    if let Some(network) = &vm.spec.network_ref {
        return Some(format!(
            "spec.networkRef {} needs the LunaNetwork kind, which this version does not serve yet; use spec.netId",
            network.name
        ));
    }
    if let Some(floating) = &vm.spec.floating_ip_ref {
        return Some(format!(
            "spec.floatingIPRef {} needs the LunaFloatingIP kind, which this version does not serve yet; use spec.floatingIP",
            floating.name
        ));
    }
    None
}

pub(super) fn report_observed(
    vm: &LunaVM,
    status: &mut LunaVMStatus,
    observed: &ObservedVm,
    ready: bool,
) {
    let previous_image = status.at_provider.as_ref().and_then(|at| at.image.clone());
    status.at_provider = Some(AtProvider {
        status: Some(observed.status.clone()),
        ip: non_empty(&observed.ip),
        private_ip: non_empty(&observed.private_ip),
        plan: non_empty(&observed.plan_id),
        region: non_empty(&observed.region),
        hostname: non_empty(&observed.hostname),
        ram: observed.ram.and_then(|value| i64::try_from(value).ok()),
        vcpu: observed.vcpu.and_then(|value| i64::try_from(value).ok()),
        storage: observed.storage.and_then(|value| i64::try_from(value).ok()),
        image: previous_image.or_else(|| vm.spec.image.clone()),
        ..AtProvider::default()
    });
    if ready {
        set(
            status,
            vm,
            READY,
            true,
            "Available",
            "the vm matches the manifest",
        );
    } else {
        let message = format!("vm {} is {}", observed.id, observed.status);
        set(status, vm, READY, false, "InProgress", &message);
    }
    let synced = status.conditions.iter().any(|c| {
        c.type_ == SYNCED
            && !c.is_true()
            && matches!(
                c.reason.as_str(),
                "ReimageNotAllowed" | "ResizeFailed" | "ImageNotFound"
            )
    });
    if !synced {
        set(
            status,
            vm,
            SYNCED,
            true,
            "ReconcileSuccess",
            "the last reconcile succeeded",
        );
    }
}

pub(super) fn set(
    status: &mut LunaVMStatus,
    vm: &LunaVM,
    kind: &str,
    ok: bool,
    reason: &str,
    message: &str,
) {
    managed::set(status, vm, kind, ok, reason, message);
}

pub(super) use managed::cloud;

pub(super) fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}
