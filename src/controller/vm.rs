//! The LunaVM controller: the driver, observation and status. The steps live beside it:
//! `vm_create` (adopt, recover or create), `vm_act` (one write on an existing VM),
//! `vm_delete` (the finalizer), `vm_decide` (pure decisions) and `vm_cloud` (the API calls).
//!
//! Pipeline of one reconcile (`apply`):
//! 1. pause check (no client);
//! 2. credentials → account (Secret watch, no API call);
//! 3. observe through the account's shared `vm list` cache (a list call only when the
//!    snapshot is too old; never a per-VM call in steady state);
//! 4. decide: create (crash-safe), adopt, or the one next step from [`vm_decide::next_step`];
//! 5. act: at most one cloud write, with an Event;
//! 6. report: status written only when it changed.
//!
//! `cleanup` deletes the VM (unless the policy is Orphan or ObserveOnly) and lets the finalizer
//! go only once a fresh list no longer shows it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    runtime::{
        Controller,
        controller::Action,
        finalizer::{Event as FinalizerEvent, finalizer},
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use tokio::sync::mpsc;

use super::{
    Context,
    accounts::CredentialsError,
    error::{Error, requeue},
    report::{event, key, write_status},
    vm_cloud,
    vm_decide::{self, ObservedVm, Step},
};
use crate::{
    api::{
        common::{self, Condition, ManagementPolicy, PAUSED_ANNOTATION, READY, SYNCED},
        vm::{AtProvider, LunaVM, LunaVMStatus},
    },
    lunanode,
};

/// The finalizer that guards the cloud VM.
pub const FINALIZER: &str = "lunavms.lunanode.com/cleanup";

/// Runs the LunaVM controller until `shutdown` completes.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    ready: Arc<std::sync::atomic::AtomicBool>,
) {
    let api: Api<LunaVM> = match &ctx.config.namespace {
        Some(namespace) => Api::namespaced(ctx.kube.clone(), namespace),
        None => Api::all(ctx.kube.clone()),
    };
    let controller = Controller::new(api, watcher::Config::default().any_semantic());
    let store = controller.store();
    let (wake, woken) = mpsc::unbounded_channel::<ObjectRef<LunaVM>>();

    // A changed credentials Secret wakes the objects that use it.
    {
        let store = store.clone();
        let wake = wake.clone();
        ctx.accounts
            .on_secret_change(Arc::new(move |namespace, secret| {
                for vm in store.state() {
                    if vm.namespace().as_deref() == Some(namespace)
                        && credentials_name(&vm) == secret
                    {
                        let _ = wake.send(ObjectRef::from_obj(&*vm));
                    }
                }
            }));
    }
    *ctx.vm_waker
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Waker {
        store: store.clone(),
        wake,
    });

    // Readiness once the object cache has synced; then, every 15 s, the managed-objects gauge.
    {
        let store = store.clone();
        let metrics = ctx.metrics.clone();
        tokio::spawn(async move {
            // The store's readiness future wakes only its most recent poller, and the
            // controller polls it too: poll again every second rather than wait once.
            loop {
                match tokio::time::timeout(Duration::from_secs(1), store.wait_until_ready()).await {
                    Ok(Ok(())) => break,
                    Ok(Err(_)) => return,
                    Err(_) => {}
                }
            }
            tracing::info!("LunaVM cache synced: ready");
            ready.store(true, std::sync::atomic::Ordering::SeqCst);
            loop {
                let objects = store.state();
                let ready_count = objects
                    .iter()
                    .filter(|vm| {
                        vm.status.as_ref().is_some_and(|status| {
                            common::is_condition_true(&status.conditions, READY)
                        })
                    })
                    .count();
                metrics.managed("LunaVM", ready_count, objects.len() - ready_count);
                tokio::time::sleep(Duration::from_secs(15)).await;
            }
        });
    }
    let triggers = futures::stream::unfold(woken, |mut woken| async move {
        woken.recv().await.map(|object| (object, woken))
    });
    controller
        .with_config(
            kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency),
        )
        .reconcile_on(triggers)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile error");
            }
        })
        .await;
}

/// Wakes LunaVMs whose cloud VM changed in a list refresh.
#[derive(Clone)]
pub struct Waker {
    store: Store<LunaVM>,
    wake: mpsc::UnboundedSender<ObjectRef<LunaVM>>,
}

impl Waker {
    pub(crate) fn wake_ids(&self, ids: &[String]) {
        for vm in self.store.state() {
            let id = vm.status.as_ref().and_then(|status| status.id.as_deref());
            if id.is_some_and(|id| ids.iter().any(|changed| changed == id)) {
                let _ = self.wake.send(ObjectRef::from_obj(&*vm));
            }
        }
    }

    /// Whether another LunaVM already claims the cloud VM `id`.
    pub(crate) fn claimed_by_other(&self, id: &str, uid: &str) -> bool {
        self.store.state().iter().any(|vm| {
            vm.uid().as_deref() != Some(uid)
                && vm.status.as_ref().and_then(|s| s.id.as_deref()) == Some(id)
        })
    }
}

pub(super) fn credentials_name(vm: &LunaVM) -> String {
    vm.spec
        .credentials_secret_ref
        .as_ref()
        .map(|secret| secret.name.clone())
        .unwrap_or_else(|| common::DEFAULT_CREDENTIALS_SECRET.to_owned())
}

async fn reconcile(vm: Arc<LunaVM>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = vm.namespace().unwrap_or_default();
    let api: Api<LunaVM> = Api::namespaced(ctx.kube.clone(), &namespace);
    let object = key(&*vm);
    let started = Instant::now();
    let result = finalizer(&api, FINALIZER, vm, |event| async {
        match event {
            FinalizerEvent::Apply(vm) => apply(vm, &api, &ctx).await,
            FinalizerEvent::Cleanup(vm) => super::vm_delete::cleanup(vm, &ctx).await,
        }
    })
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)));
    if result.is_ok() {
        ctx.backoff.reset(&object);
    }
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.category(),
    };
    ctx.metrics.reconciled("LunaVM", outcome, started.elapsed());
    result
}

fn error_policy(vm: Arc<LunaVM>, error: &Error, ctx: Arc<Context>) -> Action {
    requeue(&ctx.backoff, &key(&*vm), error)
}

/// The status a reconcile ends with, and how soon to look again.
pub(super) struct Outcome {
    pub(super) status: LunaVMStatus,
    pub(super) action: Action,
    /// The object as last written during the reconcile, if it was (its resourceVersion is the
    /// one the final status write must name).
    pub(super) written: Option<LunaVM>,
}

async fn apply(vm: Arc<LunaVM>, api: &Api<LunaVM>, ctx: &Context) -> Result<Action, Error> {
    let current = vm.status.clone();
    let mut status = current.clone().unwrap_or_default();
    status.observed_generation = vm.metadata.generation;
    let requested = vm
        .annotations()
        .get(common::RECONCILE_REQUESTED_AT_ANNOTATION)
        .cloned();
    let outcome = decide_and_act(&vm, &mut status, api, ctx).await;
    let (mut status, action, base) = match outcome {
        Ok(Outcome {
            status,
            action,
            written,
        }) => (status, action, written.map(Arc::new).unwrap_or(vm)),
        Err(error) => {
            // A retryable failure: say so in Synced, keep the rest of the status.
            let mut failed = status;
            set(
                &mut failed,
                &vm,
                SYNCED,
                false,
                error.category_reason(),
                &error.to_string(),
            );
            // Best effort: from a stale copy this write conflicts, and the retry reports.
            if let Err(write_error) = write_status(api, &*vm, current.as_ref(), &failed).await {
                tracing::debug!(error = %write_error, "unable to report the failure");
            }
            return Err(error);
        }
    };
    status.last_reconcile_request = requested;
    write_status(api, &*base, base.status.as_ref(), &status).await?;
    Ok(action)
}

async fn decide_and_act(
    vm: &LunaVM,
    status: &mut LunaVMStatus,
    api: &Api<LunaVM>,
    ctx: &Context,
) -> Result<Outcome, Error> {
    let object = key(vm);
    if vm.annotations().get(PAUSED_ANNOTATION).map(String::as_str) == Some("true") {
        set(
            status,
            vm,
            SYNCED,
            false,
            "ReconcilePaused",
            "reconciliation is paused by the lunanode.com/paused annotation",
        );
        return Ok(done(status, Action::await_change()));
    }
    if let Some(message) = unsupported_reference(vm) {
        set(status, vm, READY, false, "ReferenceNotSupported", &message);
        set(status, vm, SYNCED, false, "ReferenceNotSupported", &message);
        return Ok(done(status, Action::await_change()));
    }
    let namespace = vm.namespace().unwrap_or_default();
    let account = match ctx.accounts.get(&namespace, &credentials_name(vm)).await {
        Ok(account) => account,
        Err(error) => {
            let reason = match error {
                CredentialsError::NotReady { .. } => "CredentialsUnavailable",
                _ => "CredentialsInvalid",
            };
            set(status, vm, READY, false, reason, &error.to_string());
            set(status, vm, SYNCED, false, reason, &error.to_string());
            // The Secret watch wakes this object when the Secret appears or changes.
            let action = match error {
                CredentialsError::NotReady { .. } => Action::requeue(Duration::from_secs(30)),
                _ => Action::await_change(),
            };
            return Ok(done(status, action));
        }
    };
    ctx.attach_vm_listener(&account);
    let uid = vm.uid().unwrap_or_default();
    let vms = &account.caches.vms;
    let snapshot = vms
        .get(ctx.accounts.timing().slow_interval)
        .await
        .map_err(|source| cloud("list vms", &object, source))?;

    // Find the cloud VM this object stands for.
    let observed = match status.id.clone() {
        Some(id) => match confirm(vms, &snapshot, &id)
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
                    return Ok(done(status, Action::await_change()));
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
                return Ok(done(status, Action::requeue(Duration::from_millis(100))));
            }
        },
        None => return super::vm_create::find_or_create(vm, status, &account, ctx, api).await,
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
        return Ok(done(status, Action::await_change()));
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
    super::vm_act::act(vm, status, &account, ctx, &observed, &step).await?;
    report_observed(vm, status, &observed, ready);
    if ready {
        super::vm_act::write_connection_secret(vm, status, &account, ctx, &observed).await?;
        Ok(done(status, Action::await_change()))
    } else {
        Ok(done(
            status,
            Action::requeue(ctx.accounts.timing().fast_interval * 3),
        ))
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

/// The VM `id` from the snapshot or, when the snapshot lacks it (it may predate the VM's
/// create), from a list fetched now: a VM is only ever taken as gone on fresh evidence.
pub(super) async fn confirm(
    vms: &super::list_cache::ListCache<ObservedVm>,
    snapshot: &super::list_cache::Snapshot<ObservedVm>,
    id: &str,
) -> Result<Option<ObservedVm>, lunanode::Error> {
    if let Some(found) = vms.lookup(snapshot, id) {
        return Ok(Some(found));
    }
    let fresh = vms.get_after(Instant::now()).await?;
    Ok(vms.lookup(&fresh, id))
}

pub(super) fn done(status: &mut LunaVMStatus, action: Action) -> Outcome {
    Outcome {
        status: std::mem::take(status),
        action,
        written: None,
    }
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
    common::set_condition(
        &mut status.conditions,
        Condition::new(
            kind,
            ok,
            reason,
            message,
            vm.metadata.generation,
            Timestamp::now(),
        ),
    );
}

pub(super) fn cloud(action: &'static str, object: &str, source: lunanode::Error) -> Error {
    Error::Cloud {
        action,
        object: object.to_owned(),
        source,
    }
}

pub(super) fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}
