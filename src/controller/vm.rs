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

use kube::{
    ResourceExt,
    runtime::{Controller, controller::Action, watcher},
};

use super::{
    Context,
    accounts::Account,
    error::Error,
    managed::{self, Cx, Reconciler, Reference},
    report::{event, key},
    vm_cloud,
    vm_decide::{self, ObservedVm, Step},
};
use crate::api::{
    common::{ManagedResource, ManagementPolicy, READY, SYNCED},
    floating::LunaFloatingIP,
    network::LunaNetwork,
    vm::{AtProvider, LunaVM, LunaVMStatus},
    volume::LunaVolume,
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
        super::vm_delete::cleanup(vm, cx).await
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        controller
            // A referenced network or floating IP became ready.
            .watches(
                managed::scoped::<LunaNetwork>(ctx),
                watcher::Config::default().any_semantic(),
                managed::referrers::<LunaVM, LunaNetwork>(ctx, |vm: &LunaVM| {
                    vm.spec.network_ref.iter().map(|r| r.name.clone()).collect()
                }),
            )
            .watches(
                managed::scoped::<LunaFloatingIP>(ctx),
                watcher::Config::default().any_semantic(),
                managed::referrers::<LunaVM, LunaFloatingIP>(ctx, |vm: &LunaVM| {
                    vm.spec
                        .floating_ip_ref
                        .iter()
                        .map(|r| r.name.clone())
                        .collect()
                }),
            )
            // A volume attached by reference changed (status.attachedVolumes), or one that held
            // a VM waiting to be deleted let go.
            .watches(
                managed::scoped::<LunaVolume>(ctx),
                watcher::Config::default().any_semantic(),
                managed::referenced::<LunaVM, LunaVolume>(super::volume::attached_vm),
            )
            .watches(
                managed::scoped::<LunaFloatingIP>(ctx),
                watcher::Config::default().any_semantic(),
                managed::referenced::<LunaVM, LunaFloatingIP>(super::floating::attached_vm),
            )
    }
}

/// The objects that hold VM `vm` by reference: its deletion waits for them to let go.
pub(super) async fn holders(vm: &LunaVM, ctx: &Context) -> Result<Vec<String>, Error> {
    let namespace = vm.namespace().unwrap_or_default();
    let name = vm.name_any();
    let mut holders =
        managed::holders::<LunaVolume>(ctx, &namespace, &name, super::volume::attached_vm).await?;
    holders.extend(
        managed::holders::<LunaFloatingIP>(ctx, &namespace, &name, super::floating::attached_vm)
            .await?,
    );
    Ok(holders)
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
    let resolved = match with_references(vm, status, ctx) {
        Ok(resolved) => resolved,
        Err(action) => return Ok(action),
    };
    let vm = &resolved;
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
    status.attached_volumes =
        attached_volumes(ctx, &vm.namespace().unwrap_or_default(), &observed.id);
    if ready {
        super::vm_act::write_connection_secret(vm, status, account, ctx, &observed).await?;
        Ok(Action::await_change())
    } else {
        Ok(Action::requeue(ctx.accounts.timing().fast_interval * 3))
    }
}

/// The VM with its references resolved: `networkRef` becomes `netId` (needed only until the VM
/// exists: the network cannot change), `floatingIPRef` becomes `floatingIP`. A reference that
/// is not ready yet stops the reconcile with a condition; the watches of LunaNetwork and
/// LunaFloatingIP wake the VM when it is.
fn with_references(
    vm: &LunaVM,
    status: &mut LunaVMStatus,
    ctx: &Context,
) -> Result<LunaVM, Action> {
    let mut resolved = vm.clone();
    let namespace = vm.namespace().unwrap_or_default();
    let waiting = |status: &mut LunaVMStatus, reason: &str, message: &str| {
        set(status, vm, READY, false, reason, message);
        set(status, vm, SYNCED, true, reason, message);
    };
    if let (Some(reference), None) = (&vm.spec.network_ref, &status.id) {
        match managed::resolve::<LunaNetwork>(ctx, &namespace, &reference.name) {
            Reference::Ready { id, .. } => resolved.spec.net_id = Some(id),
            Reference::Waiting(message) => {
                waiting(status, "WaitingForNetwork", &message);
                return Err(Action::requeue(Duration::from_secs(60)));
            }
            Reference::Missing(message) => {
                waiting(status, "NetworkNotFound", &message);
                return Err(Action::await_change());
            }
        }
    }
    if let Some(reference) = &vm.spec.floating_ip_ref {
        let address = match managed::resolve::<LunaFloatingIP>(ctx, &namespace, &reference.name) {
            Reference::Ready { object, .. } => object
                .status
                .as_ref()
                .and_then(|status| status.address.clone())
                .ok_or_else(|| {
                    let message = format!("LunaFloatingIP {} has no address yet", reference.name);
                    ("WaitingForFloatingIP", message)
                }),
            Reference::Waiting(message) => Err(("WaitingForFloatingIP", message)),
            Reference::Missing(message) => Err(("FloatingIPNotFound", message)),
        };
        match address {
            Ok(address) => resolved.spec.floating_ip = Some(address),
            // A running VM keeps the address it has until the reference resolves again.
            Err(_) if status.id.is_some() => {
                resolved.spec.floating_ip = status.applied_floating_ip.clone();
            }
            // The LunaFloatingIP watch wakes the VM when the object appears or gets its address.
            Err((reason, message)) => {
                waiting(status, reason, &message);
                return Err(if reason == "FloatingIPNotFound" {
                    Action::await_change()
                } else {
                    Action::requeue(Duration::from_secs(60))
                });
            }
        }
    }
    Ok(resolved)
}

/// The LunaVolumes of the namespace that the volume list shows attached to VM `id`.
fn attached_volumes(ctx: &Context, namespace: &str, id: &str) -> Vec<String> {
    let mut names: Vec<String> = ctx
        .registry
        .objects::<LunaVolume>(namespace)
        .iter()
        .filter(|volume| {
            volume
                .status
                .as_ref()
                .and_then(|status| status.at_provider.as_ref())
                .and_then(|at| at.attached_to.as_deref())
                == Some(id)
        })
        .map(|volume| volume.name_any())
        .collect();
    names.sort();
    names
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
