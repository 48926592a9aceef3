//! LunaSnapshotSchedule end to end: a snapshot every interval of a LunaVolume and of a LunaVM,
//! the last `keep` kept, and only the schedule's own snapshots ever deleted. The real control
//! plane, the simulator and the operator as separate processes, one of each per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use kube::{
    Resource, ResourceExt,
    api::{ListParams, Patch, PatchParams},
};
use lunanode_operator::api::{
    image::LunaImage,
    schedule::{LunaSnapshotSchedule, LunaSnapshotScheduleSpec},
    vm::{LunaVM, LunaVMSpec},
    volume::{LunaVolume, LunaVolumeSpec},
    volumesnapshot::{LunaVolumeSnapshot, LunaVolumeSnapshotSpec},
};
use serde_json::json;
use support::World;

const TEMPLATE: &str = "Ubuntu 22.04 64-bit (template)";

/// The objects of kind `K` controlled by the schedule with `uid`, not being deleted, sorted.
async fn owned<K>(world: &World, uid: &str) -> Vec<String>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let mut names: Vec<String> = world
        .api::<K>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|object| object.meta().deletion_timestamp.is_none())
        .filter(|object| {
            object
                .owner_references()
                .iter()
                .any(|owner| owner.uid == uid && owner.controller == Some(true))
        })
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_volume_is_snapshotted_every_interval_and_only_its_own_oldest_are_deleted() {
    let mut world = World::setup("schedule", 'a')
        .wait(Duration::from_secs(120))
        .start()
        .await;
    world
        .create(&LunaVolume::new("data", LunaVolumeSpec::new("data", 20)))
        .await;
    // Someone's own snapshot whose name looks like one of the schedule's oldest: not the
    // schedule's (no owner reference), so never pruned.
    let lookalike = "nightly-10";
    world
        .create(&LunaVolumeSnapshot::new(
            lookalike,
            LunaVolumeSnapshotSpec::new(lookalike, "data"),
        ))
        .await;
    world.ready::<LunaVolumeSnapshot>(lookalike).await;
    let schedule = world
        .create(&LunaSnapshotSchedule::new(
            "nightly",
            LunaSnapshotScheduleSpec::volume("data", 10, 2),
        ))
        .await;
    let uid = schedule.uid().unwrap();

    // The first run takes a snapshot at once, as an object the schedule controls.
    let first = world
        .until::<LunaSnapshotSchedule>("nightly", "a first snapshot", |schedule| {
            schedule
                .status
                .as_ref()
                .is_some_and(|status| status.last_snapshot.is_some())
        })
        .await;
    let first_name = first.status.unwrap().last_snapshot.unwrap();
    let child = world.ready::<LunaVolumeSnapshot>(&first_name).await;
    assert_eq!(
        child.spec.name, first_name,
        "the cloud name is the object's"
    );
    assert_eq!(
        child
            .labels()
            .get("lunanode.com/schedule")
            .map(String::as_str),
        Some("nightly")
    );
    let owner = &child.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("LunaSnapshotSchedule", uid.as_str(), Some(true)),
        "deleted with the schedule by the garbage collector"
    );

    // A crash of the operator in between changes nothing: a slot's object is found by name.
    world.operator_mut().restart();

    // Runs go on until one has been pruned: the schedule then holds exactly `keep`.
    let pruned = support::eventually(Duration::from_secs(90), "a snapshot pruned", || async {
        let deleted = world.sim.calls("volume/snapshot-delete").await;
        (deleted >= 1).then_some(deleted)
    })
    .await;
    assert!(pruned >= 1);

    // Stop the runs (ObserveOnly takes and deletes nothing) and wait until the operator has
    // seen it, then for the deletions under way to finish.
    let stopped = world
        .patch_spec::<LunaSnapshotSchedule>("nightly", json!({"managementPolicy": "ObserveOnly"}))
        .await;
    let generation = stopped.metadata.generation;
    world
        .until::<LunaSnapshotSchedule>("nightly", "ObserveOnly seen", |schedule| {
            schedule
                .status
                .as_ref()
                .and_then(|status| status.managed.observed_generation)
                == generation
        })
        .await;
    let kept = support::eventually(Duration::from_secs(60), "the prunes done", || async {
        let kept = owned::<LunaVolumeSnapshot>(&world, &uid).await;
        let all = world
            .api::<LunaVolumeSnapshot>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let deleting = all
            .iter()
            .any(|object| object.meta().deletion_timestamp.is_some());
        let all_ready = all.iter().all(support::wait::is_ready);
        (!deleting && all_ready).then_some(kept)
    })
    .await;
    // `keep` usable ones, and the one being made when the runs stopped, if any (a snapshot
    // being made is never pruned, and an observing schedule prunes nothing).
    assert!(kept.len() == 2 || kept.len() == 3, "keep: 2 → {kept:?}");

    // Every snapshot made is either kept or was deleted by a prune: none twice, none leaked.
    let made = world.sim.calls("volume/snapshot-create").await;
    let deleted = world.sim.calls("volume/snapshot-delete").await;
    assert_eq!(
        made - 1,
        deleted + kept.len() as u64,
        "the lookalike's create, then the schedule's: {made} made, {deleted} deleted"
    );
    let mut expected: Vec<String> = kept.clone();
    expected.push(lookalike.to_owned());
    expected.sort();
    assert_eq!(world.sim.names("volume_snapshots").await, expected);
    let reasons = world.event_reasons("nightly").await;
    assert!(
        reasons.iter().any(|reason| reason == "SnapshotPruned"),
        "{reasons:?}"
    );

    // The status names the kept snapshots and the next run.
    let schedule = world
        .api::<LunaSnapshotSchedule>()
        .get("nightly")
        .await
        .unwrap();
    let status = schedule.status.unwrap();
    assert!(status.next_run.is_some());
    let listed: Vec<String> = status
        .at_provider
        .and_then(|at| at.snapshots)
        .unwrap_or_default()
        .into_iter()
        .map(|snapshot| snapshot.name)
        .collect();
    assert_eq!(listed, kept);

    // What it snapshots cannot change.
    support::assert_rejected(
        world
            .api::<LunaSnapshotSchedule>()
            .patch(
                "nightly",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"volumeRef": {"name": "other"}}})),
            )
            .await,
        "immutable",
    );

    // Deleting the schedule deletes its snapshots (the garbage collector, by the owner
    // reference; each snapshot's finalizer deletes it at Luna Node), and never the lookalike.
    world.delete::<LunaSnapshotSchedule>("nightly").await;
    for name in &kept {
        world.gone::<LunaVolumeSnapshot>(name).await;
    }
    assert_eq!(world.sim.names("volume_snapshots").await, [lookalike]);
    assert_eq!(
        world.sim.calls("volume/snapshot-delete").await,
        deleted + kept.len() as u64
    );
    world.ready::<LunaVolumeSnapshot>(lookalike).await;
}

#[tokio::test]
async fn a_vm_is_snapshotted_into_images_and_the_oldest_image_goes() {
    let world = World::setup("schedule", 'b')
        .wait(Duration::from_secs(120))
        .start()
        .await;
    world
        .create(&LunaVM::new("web", LunaVMSpec::new("web", "m.1", TEMPLATE)))
        .await;
    world.ready::<LunaVM>("web").await;
    let schedule = world
        .create(&LunaSnapshotSchedule::new(
            "web-hourly",
            LunaSnapshotScheduleSpec::vm("web", 10, 1),
        ))
        .await;
    let uid = schedule.uid().unwrap();
    support::eventually(Duration::from_secs(90), "an image pruned", || async {
        (world.sim.calls("image/delete").await >= 1).then_some(())
    })
    .await;
    let kept = owned::<LunaImage>(&world, &uid).await;
    assert!(!kept.is_empty() && kept.len() <= 2, "{kept:?}");
    let made = world.sim.calls("vm/snapshot").await;
    assert!(made >= 2, "a snapshot per run: {made}");
    let schedule = world.ready::<LunaSnapshotSchedule>("web-hourly").await;
    let last = schedule.status.unwrap().last_snapshot.unwrap();
    let image = world.api::<LunaImage>().get(&last).await.unwrap();
    assert_eq!(
        image.spec.source.vm_ref.as_ref().map(|vm| vm.name.as_str()),
        Some("web")
    );
}
