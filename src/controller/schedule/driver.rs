//! The LunaSnapshotSchedule controller: at each slot, make the slot's snapshot object (a
//! LunaVolumeSnapshot or a LunaImage) owned by the schedule, and delete the oldest of its own
//! beyond `keep`. The schedule makes no cloud call itself: each snapshot object does its own,
//! with the contract of its kind.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::OwnerReference, jiff::Timestamp};
use kube::{
    Api, Resource,
    api::{DeleteParams, PostParams, Preconditions},
};

use super::decide::{self, Owned, Taken};
use crate::api::{
    common::{
        ManagedSpec, ManagedStatus, ManagementPolicy, READY, Region, STALLED, find_condition,
        is_condition_true,
    },
    image::{ImageSource, LunaImage, LunaImageSpec},
    schedule::{LunaSnapshotSchedule, ScheduleAtProvider, ScheduledSnapshot},
    vm::LunaVM,
    volume::LunaVolume,
    volumesnapshot::{LunaVolumeSnapshot, LunaVolumeSnapshotSpec},
};
use crate::controller::prelude::*;

const KIND: &str = "LunaSnapshotSchedule";

/// The LunaVolume a schedule snapshots.
fn volume_of(schedule: &LunaSnapshotSchedule) -> Vec<String> {
    managed::named(schedule.spec.volume_ref.as_ref())
}

/// The LunaVM a schedule snapshots.
fn vm_of(schedule: &LunaSnapshotSchedule) -> Vec<String> {
    managed::named(schedule.spec.vm_ref.as_ref())
}

/// The schedule that controls a snapshot object, by its owner reference.
fn schedule_of<R: Resource>(snapshot: &R) -> Vec<String> {
    snapshot
        .meta()
        .owner_references
        .iter()
        .flatten()
        .filter(|owner| owner.kind == KIND && owner.controller == Some(true))
        .map(|owner| owner.name.clone())
        .collect()
}

impl Reconciler for LunaSnapshotSchedule {
    async fn apply(
        object: &Self,
        status: &mut Self::Status,
        cx: &CloudCx<'_, Self>,
    ) -> Result<Action, Error> {
        run(object, status, cx).await
    }

    /// A schedule holds nothing in the cloud, so it never gets the finalizer: its snapshot
    /// objects are deleted with it by their owner reference.
    async fn cleanup(_object: &Self, _cx: &Cx<'_, Self>) -> Result<Action, Error> {
        Ok(Action::await_change())
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // The volume or VM became Ready; one of the schedule's snapshots changed.
        controller
            .follows::<LunaVolume>(ctx, volume_of)
            .follows::<LunaVM>(ctx, vm_of)
            .named_by::<LunaVolumeSnapshot>(ctx, schedule_of::<LunaVolumeSnapshot>)
            .named_by::<LunaImage>(ctx, schedule_of::<LunaImage>)
    }
}

/// What a schedule snapshots, resolved.
enum Target {
    /// A LunaVolume, Ready: its name and region.
    Volume(String, Region),
    /// A LunaVM, Ready: its name and region.
    Vm(String, Region),
}

/// One snapshot object the schedule owns, as its kind's cache holds it.
struct Held {
    owned: Owned,
    id: Option<String>,
    reason: Option<String>,
    uid: String,
}

async fn run(
    schedule: &LunaSnapshotSchedule,
    status: &mut <LunaSnapshotSchedule as ManagedResource>::Status,
    cx: &CloudCx<'_, LunaSnapshotSchedule>,
) -> Result<Action, Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    let interval = u64::from(schedule.spec.interval_seconds.max(10));
    let keep = usize::try_from(schedule.spec.keep.max(1)).unwrap_or(1);
    let held = held(schedule, cx.ctx);
    let observe_only = schedule.spec.managed.management_policy == ManagementPolicy::ObserveOnly;
    let target = if observe_only {
        Err(None)
    } else {
        target(schedule, cx.ctx)
    };
    let owned: Vec<Owned> = held.iter().map(|held| held.owned.clone()).collect();
    let plan = decide::plan(now, interval, keep, &owned, target.is_ok());
    let mut made = None;
    if let (Some(slot), Ok(target)) = (plan.take, &target) {
        match take(schedule, slot, target, cx).await? {
            Ok(name) => made = Some((name, slot)),
            Err(taken_by) => {
                let message = format!(
                    "the slot's snapshot name {} is taken by an object this schedule does not own: rename or delete that object",
                    decide::object_name(&schedule.name_any(), slot)
                );
                report(status, &held, None, plan.next_run);
                mark(status, schedule).not_ready(Reason::AlreadyExists, &message);
                tracing::info!(object = %taken_by, "the slot's name is taken");
                return Ok(Action::requeue(until(plan.next_run, now)));
            }
        }
    }
    for name in &plan.prune {
        if let Some(snapshot) = held.iter().find(|held| &held.owned.name == name) {
            prune(schedule, snapshot, cx).await?;
        }
    }
    report(status, &held, made, plan.next_run);
    match target {
        Err(Some(blocked)) => {
            mark(status, schedule).not_ready(blocked.0, &blocked.1);
        }
        Err(None) => {
            mark(status, schedule).ready(
                Reason::Observed,
                "managementPolicy is ObserveOnly: no snapshot is taken or deleted",
            );
        }
        Ok(_) => {
            let (reason, message) = condition(status);
            if reason == Reason::LastSnapshotFailed {
                mark(status, schedule).not_ready(reason, &message);
            } else {
                mark(status, schedule).ready(reason, &message);
            }
        }
    }
    mark(status, schedule).synced(Reason::ReconcileSuccess, "the last reconcile succeeded");
    Ok(Action::requeue(until(plan.next_run, now)))
}

/// How long until `next_run`, a second past it (the slot has begun by then).
fn until(next_run: u64, now: u64) -> Duration {
    Duration::from_secs(next_run.saturating_sub(now) + 1)
}

/// The schedule's own snapshot objects: of its target's kind, in its namespace, controlled by
/// this very schedule (its UID, not only its name), with a name of its slots.
fn held(schedule: &LunaSnapshotSchedule, ctx: &Context) -> Vec<Held> {
    let namespace = schedule.namespace().unwrap_or_default();
    let uid = schedule.uid().unwrap_or_default();
    let name = schedule.name_any();
    let mut held = Vec::new();
    if schedule.spec.volume_ref.is_some() {
        for object in ctx.registry.objects::<LunaVolumeSnapshot>(&namespace) {
            held.extend(hold(&*object, &name, &uid));
        }
    } else {
        for object in ctx.registry.objects::<LunaImage>(&namespace) {
            held.extend(hold(&*object, &name, &uid));
        }
    }
    held.sort_by_key(|held| held.owned.slot);
    held
}

fn hold<R: ManagedResource>(object: &R, schedule: &str, uid: &str) -> Option<Held> {
    let controlled = object
        .meta()
        .owner_references
        .iter()
        .flatten()
        .any(|owner| owner.kind == KIND && owner.uid == uid && owner.controller == Some(true));
    let name = object.name_any();
    let slot = decide::slot_in_name(schedule, &name)?;
    if !controlled || uid.is_empty() {
        return None;
    }
    let ready = object
        .managed_status()
        .and_then(|status| find_condition(status.conditions(), READY).cloned());
    // Stalled: it will not become usable without a human (a refused create, a failed snapshot).
    let stalled = object
        .managed_status()
        .is_some_and(|status| is_condition_true(status.conditions(), STALLED));
    let taken = match &ready {
        Some(ready) if ready.is_true() => Taken::Usable,
        Some(ready)
            if stalled
                || ready.reason == Reason::SnapshotFailed.as_str()
                || ready.reason == Reason::ImageFailed.as_str() =>
        {
            Taken::Failed
        }
        _ => Taken::Making,
    };
    Some(Held {
        owned: Owned {
            name,
            slot,
            taken,
            deleting: object.meta().deletion_timestamp.is_some(),
        },
        id: object.status_id().map(str::to_owned),
        reason: ready.map(|ready| ready.reason),
        uid: object.uid().unwrap_or_default(),
    })
}

/// The volume or VM to snapshot, once it can be: `Err` with why not.
fn target(
    schedule: &LunaSnapshotSchedule,
    ctx: &Context,
) -> Result<Target, Option<(Reason, String)>> {
    let namespace = schedule.namespace().unwrap_or_default();
    if let Some(volume) = &schedule.spec.volume_ref {
        return match managed::resolve::<LunaVolume>(ctx, &namespace, &volume.name) {
            Reference::Ready { object, .. } if managed::is_ready(object.as_ref()) => Ok(
                Target::Volume(volume.name.clone(), object.spec.region.clone()),
            ),
            Reference::Ready { .. } => Err(Some((
                Reason::WaitingForVolume,
                format!("LunaVolume {namespace}/{} is not Ready yet", volume.name),
            ))),
            Reference::Waiting(message) => Err(Some((Reason::WaitingForVolume, message))),
            Reference::Missing(message) => Err(Some((Reason::VolumeNotFound, message))),
        };
    }
    let name = schedule
        .spec
        .vm_ref
        .as_ref()
        .map(|vm| vm.name.clone())
        .unwrap_or_default();
    match managed::resolve::<LunaVM>(ctx, &namespace, &name) {
        Reference::Ready { object, .. } if managed::is_ready(object.as_ref()) => {
            Ok(Target::Vm(name, object.spec.region.clone()))
        }
        Reference::Ready { .. } => Err(Some((
            Reason::WaitingForVM,
            format!("LunaVM {namespace}/{name} is not Ready yet"),
        ))),
        Reference::Waiting(message) => Err(Some((Reason::WaitingForVM, message))),
        Reference::Missing(message) => Err(Some((Reason::VMNotFound, message))),
    }
}

/// The owner reference every snapshot object of `schedule` carries: it controls the object,
/// and Kubernetes' garbage collector deletes the object with the schedule.
fn owner(schedule: &LunaSnapshotSchedule) -> OwnerReference {
    OwnerReference {
        api_version: LunaSnapshotSchedule::api_version(&()).into_owned(),
        kind: KIND.to_owned(),
        name: schedule.name_any(),
        uid: schedule.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

/// The fields every kind has, as the schedule gives them to a snapshot it makes.
fn managed_of(schedule: &LunaSnapshotSchedule) -> ManagedSpec {
    ManagedSpec {
        deletion_policy: schedule.spec.managed.deletion_policy,
        credentials_secret_ref: schedule.spec.managed.credentials_secret_ref.clone(),
        ..ManagedSpec::default()
    }
}

/// Makes the object of `slot`. `Ok(Err(_))` when the name is taken by an object the schedule
/// does not control; one it controls already (a repeated run) is success.
async fn take(
    schedule: &LunaSnapshotSchedule,
    slot: u64,
    target: &Target,
    cx: &CloudCx<'_, LunaSnapshotSchedule>,
) -> Result<Result<String, String>, Error> {
    let name = decide::object_name(&schedule.name_any(), slot);
    let result = match target {
        Target::Volume(volume, region) => {
            let mut spec = LunaVolumeSnapshotSpec::new(&name, volume.clone());
            spec.region = region.clone();
            spec.managed = managed_of(schedule);
            create(LunaVolumeSnapshot::new(&name, spec), schedule, cx).await
        }
        Target::Vm(vm, region) => {
            let mut spec = LunaImageSpec::new(&name, ImageSource::vm(vm.clone()));
            spec.region = region.clone();
            spec.managed = managed_of(schedule);
            create(LunaImage::new(&name, spec), schedule, cx).await
        }
    }?;
    if result == Ok(true) {
        cx.event(
            schedule,
            false,
            "SnapshotScheduled",
            "Schedule",
            format!("made {name} for the slot of {}", rfc3339(slot)),
        )
        .await;
    }
    Ok(result.map(|_| name))
}

/// Creates `object` as one of `schedule`'s (its owner reference and label): `Ok(Ok(true))`. An
/// object of that name that `schedule` controls already is `Ok(Ok(false))` (the slot's run was
/// made before, by this or an earlier reconcile whose copy the cache does not show yet), one it
/// does not is `Ok(Err)`.
async fn create<R>(
    mut object: R,
    schedule: &LunaSnapshotSchedule,
    cx: &CloudCx<'_, LunaSnapshotSchedule>,
) -> Result<Result<bool, String>, Error>
where
    R: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<R> = Api::namespaced(
        cx.ctx.kube.clone(),
        &schedule.namespace().unwrap_or_default(),
    );
    object.meta_mut().owner_references = Some(vec![owner(schedule)]);
    object.meta_mut().labels = Some(
        [(
            "lunanode.com/schedule".to_owned(),
            decide::prefix(&schedule.name_any(), 52),
        )]
        .into_iter()
        .collect(),
    );
    let object = &object;
    let name = object.name_any();
    match api.create(&PostParams::default(), object).await {
        Ok(_) => Ok(Ok(true)),
        Err(kube::Error::Api(response)) if response.code == 409 => {
            let existing = api
                .get(&name)
                .await
                .map_err(Error::kube("read the slot's snapshot", name.clone()))?;
            let uid = schedule.uid().unwrap_or_default();
            let ours = existing
                .meta()
                .owner_references
                .iter()
                .flatten()
                .any(|owner| owner.uid == uid && owner.controller == Some(true));
            // Not new: no Event, the caller records nothing it did not do.
            if ours { Ok(Ok(false)) } else { Ok(Err(name)) }
        }
        Err(error) => Err(Error::kube("make the slot's snapshot", name)(error)),
    }
}

/// Deletes one of the schedule's snapshot objects, only the very object it made (its UID).
async fn prune(
    schedule: &LunaSnapshotSchedule,
    snapshot: &Held,
    cx: &CloudCx<'_, LunaSnapshotSchedule>,
) -> Result<(), Error> {
    let namespace = schedule.namespace().unwrap_or_default();
    let name = &snapshot.owned.name;
    let kube = cx.ctx.kube.clone();
    let result = if schedule.spec.volume_ref.is_some() {
        let api = Api::<LunaVolumeSnapshot>::namespaced(kube, &namespace);
        delete_now(&api, name, &snapshot.uid).await
    } else {
        let api = Api::<LunaImage>::namespaced(kube, &namespace);
        delete_now(&api, name, &snapshot.uid).await
    };
    match result {
        Ok(true) => {
            let why = if snapshot.owned.taken == Taken::Failed {
                "it failed, and a later one is usable or more than spec.keep failed"
            } else {
                "more usable snapshots than spec.keep"
            };
            cx.event(
                schedule,
                false,
                "SnapshotPruned",
                "Prune",
                format!("deleted {name}: {why}"),
            )
            .await;
            Ok(())
        }
        Ok(false) => Ok(()),
        // Gone already, or another object of that name since.
        Err(kube::Error::Api(response)) if response.code == 404 || response.code == 409 => Ok(()),
        Err(error) => Err(Error::kube("delete an old snapshot", name.clone())(error)),
    }
}

/// Deletes object `name` of `api` if it is still the one with `uid` and its deletion has not
/// begun (the cache's copy may be behind: no second delete, and no second Event); `true` when
/// this call began it. The delete is conditional on the UID as well.
async fn delete_now<R>(api: &Api<R>, name: &str, uid: &str) -> Result<bool, kube::Error>
where
    R: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get_opt(name).await? {
        Some(current)
            if current.meta().deletion_timestamp.is_none()
                && current.meta().uid.as_deref() == Some(uid) => {}
        _ => return Ok(false),
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    api.delete(name, &params).await.map(|_| true)
}

fn rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|seconds| Timestamp::from_second(seconds).ok())
        .map(|time| time.to_string())
        .unwrap_or_default()
}

/// Writes the run's bookkeeping into `status`: the snapshots held (with one just made), the
/// last run and its result, and the next run.
fn report(
    status: &mut <LunaSnapshotSchedule as ManagedResource>::Status,
    held: &[Held],
    made: Option<(String, u64)>,
    next_run: u64,
) {
    let mut snapshots: Vec<ScheduledSnapshot> = held
        .iter()
        .filter(|held| !held.owned.deleting)
        .map(|held| ScheduledSnapshot {
            name: held.owned.name.clone(),
            id: held.id.clone(),
            state: held.reason.clone(),
        })
        .collect();
    let mut last = held.iter().rfind(|held| !held.owned.deleting).map(|held| {
        (
            held.owned.name.clone(),
            held.owned.slot,
            held.reason.clone(),
        )
    });
    if let Some((name, slot)) = made {
        if !snapshots.iter().any(|snapshot| snapshot.name == name) {
            snapshots.push(ScheduledSnapshot {
                name: name.clone(),
                id: None,
                state: None,
            });
        }
        if last
            .as_ref()
            .is_none_or(|(_, last_slot, _)| *last_slot < slot)
        {
            last = Some((name, slot, None));
        }
    }
    status.at_provider = Some(ScheduleAtProvider {
        snapshots: Some(snapshots),
    });
    if let Some((name, slot, reason)) = last {
        status.last_run = Some(rfc3339(slot));
        status.last_snapshot = Some(name);
        status.last_result = Some(reason.unwrap_or_else(|| Reason::Creating.as_str().to_owned()));
    }
    status.next_run = Some(rfc3339(next_run));
}

/// The Ready reason and message of a running schedule, from its last snapshot.
fn condition(status: &<LunaSnapshotSchedule as ManagedResource>::Status) -> (Reason, String) {
    let next = status.next_run.clone().unwrap_or_default();
    let Some(last) = &status.last_snapshot else {
        return (
            Reason::Scheduled,
            format!("no snapshot yet; the next run is at {next}"),
        );
    };
    let result = status.last_result.clone().unwrap_or_default();
    let failed =
        result == Reason::SnapshotFailed.as_str() || result == Reason::ImageFailed.as_str();
    if failed {
        (
            Reason::LastSnapshotFailed,
            format!(
                "the last snapshot, {last}, failed ({result}); the next run at {next} takes another"
            ),
        )
    } else {
        (
            Reason::Scheduled,
            format!("the last snapshot, {last}, is {result}; the next run is at {next}"),
        )
    }
}
