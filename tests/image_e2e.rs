//! LunaImage and LunaVolumeSnapshot end to end, and a LunaVM and a LunaVolume made from them by
//! reference: the real control plane,
//! the simulator and the operator as separate processes, one of each per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kube::api::{Patch, PatchParams};
use lunanode_operator::api::{
    common::{LocalObjectReference, ManagedResource, Region},
    image::{ImageSource, LunaImage, LunaImageSpec},
    vm::{LunaVM, LunaVMSpec, OnError},
    volume::{LunaVolume, LunaVolumeSpec},
    volumesnapshot::{LunaVolumeSnapshot, LunaVolumeSnapshotSpec},
};
use serde_json::{Value, json};
use support::{World, wait::condition};

const TEMPLATE: &str = "Ubuntu 22.04 64-bit (template)";
const URL: &str = "https://images.example.com/base.qcow2";

fn image(name: &str, spec: LunaImageSpec) -> LunaImage {
    LunaImage::new(name, spec)
}

fn in_region(mut spec: LunaImageSpec, region: &str) -> LunaImageSpec {
    spec.region = Region(region.to_owned());
    spec
}

/// The account's own images the simulator holds.
async fn images(world: &World) -> Vec<Value> {
    world.sim.objects("images").await
}

/// The names and regions of the account's own images, sorted.
async fn named(world: &World) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = images(world)
        .await
        .iter()
        .map(|image| {
            (
                image["name"].as_str().unwrap_or_default().to_owned(),
                image["region"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    names.sort();
    names
}

fn reason_is(object: &LunaImage, type_: &str, reason: &str) -> bool {
    condition(object, type_).is_some_and(|found| found.reason == reason)
}

#[tokio::test]
async fn images_are_fetched_snapshotted_replicated_renamed_and_deleted() {
    let world = World::start("image", 'a').await;

    // From a URL: one fetch, Ready once active.
    world
        .create(&image(
            "fetched",
            LunaImageSpec::new("base", ImageSource::url(URL)),
        ))
        .await;
    // A snapshot of a LunaVM: waits for the VM to be Ready, in the VM's region.
    world
        .create(&LunaVM::new("web", LunaVMSpec::new("web", "m.1", TEMPLATE)))
        .await;
    world
        .create(&image(
            "snap",
            LunaImageSpec::new("golden", ImageSource::vm("web")),
        ))
        .await;
    // A replica to Montreal under another name than its source's: refused before any call.
    // Then the replica done right, and a VM in Montreal that boots from it by reference.
    for (name, image_name) in [("misnamed", "other"), ("snap-montreal", "golden")] {
        let replica = LunaImageSpec::new(image_name, ImageSource::image("snap"));
        world
            .create(&image(name, in_region(replica, "montreal")))
            .await;
    }
    let mut far = LunaVMSpec::new("far", "m.1", TEMPLATE);
    far.image = None;
    far.image_ref = Some(LocalObjectReference::new("snap-montreal"));
    far.region = Region("montreal".to_owned());
    world.create(&LunaVM::new("far", far)).await;

    let fetched = world.ready::<LunaImage>("fetched").await;
    let at = fetched
        .status
        .as_ref()
        .unwrap()
        .at_provider
        .clone()
        .unwrap();
    assert_eq!(at.status.as_deref(), Some("active"));
    assert_eq!(at.name.as_deref(), Some("base"));
    assert_eq!(world.sim.calls("image/fetch").await, 1);

    let snap = world.ready::<LunaImage>("snap").await;
    assert_eq!(world.sim.calls("vm/snapshot").await, 1);
    let replica = world.ready::<LunaImage>("snap-montreal").await;
    assert_eq!(world.sim.calls("image/replicate").await, 1, "one replica");
    assert_ne!(replica.status_id(), snap.status_id());
    let at = replica
        .status
        .as_ref()
        .unwrap()
        .at_provider
        .clone()
        .unwrap();
    assert_eq!(at.region.as_deref(), Some("montreal"));

    let misnamed = world
        .until::<LunaImage>("misnamed", "Synced=False InvalidSource", |image| {
            reason_is(image, "Synced", "InvalidSource")
        })
        .await;
    let message = condition(&misnamed, "Synced").unwrap().message;
    assert!(message.contains("\"golden\""), "says which name: {message}");
    assert!(condition(&misnamed, "Stalled").is_some_and(|c| c.is_true()));

    // The VM booted from the replica.
    let far = world.ready::<LunaVM>("far").await;
    let far_id = far.status_id().unwrap().to_owned();
    let vm = world
        .sim
        .vms()
        .await
        .into_iter()
        .find(|vm| vm["id"].as_str() == Some(far_id.as_str()))
        .expect("the VM in the simulator");
    assert_eq!(vm["image_id"].as_str(), replica.status_id());
    assert_eq!(world.sim.calls("vm/create").await, 2);

    // Renamed by difference: one call.
    world
        .patch_spec::<LunaImage>("fetched", json!({"name": "base-v2"}))
        .await;
    world
        .until::<LunaImage>("fetched", "renamed", |image| {
            support::wait::is_ready(image)
                && image
                    .status
                    .as_ref()
                    .and_then(|status| status.at_provider.as_ref())
                    .and_then(|at| at.name.as_deref())
                    == Some("base-v2")
        })
        .await;
    assert_eq!(world.sim.calls("image/rename").await, 1);

    // Where an image comes from cannot change.
    support::assert_rejected(
        world
            .api::<LunaImage>()
            .patch(
                "snap",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"source": {"vmRef": {"name": "far"}}}})),
            )
            .await,
        "immutable",
    );
    assert_eq!(
        named(&world).await,
        [
            ("base-v2".to_owned(), "toronto".to_owned()),
            ("golden".to_owned(), "montreal".to_owned()),
            ("golden".to_owned(), "toronto".to_owned()),
        ]
    );
    // The misnamed replica was never sent.
    assert_eq!(world.sim.calls("image/replicate").await, 1);

    // Deleting deletes the three images, and nothing else.
    world.delete::<LunaVM>("far").await;
    for name in ["fetched", "snap", "misnamed", "snap-montreal"] {
        world.delete::<LunaImage>(name).await;
    }
    for name in ["fetched", "snap", "misnamed", "snap-montreal"] {
        world.gone::<LunaImage>(name).await;
    }
    assert_eq!(world.sim.calls("image/delete").await, 3);
    assert!(named(&world).await.is_empty(), "nothing left");
}

#[tokio::test]
async fn a_failed_image_is_reported_then_made_again_and_a_lost_answer_makes_one() {
    let mut world = World::start("image", 'b').await;
    // The first image made ends in `error`: reported (Stalled), not retried.
    world
        .sim
        .admin_post("faults", json!({"image_error_next": 1}))
        .await;
    world
        .create(&image(
            "broken",
            LunaImageSpec::new("broken", ImageSource::url(URL)),
        ))
        .await;
    let failed = world
        .until::<LunaImage>("broken", "Ready=False ImageFailed", |image| {
            reason_is(image, "Ready", "ImageFailed")
        })
        .await;
    let message = condition(&failed, "Ready").unwrap().message;
    assert!(message.contains("error"), "{message}");
    assert!(condition(&failed, "Stalled").is_some_and(|c| c.is_true()));
    world.looked_again::<LunaImage>("broken", "1").await;
    world.looked_again::<LunaImage>("broken", "2").await;
    assert_eq!(world.sim.calls("image/fetch").await, 1, "not made again");
    assert_eq!(world.sim.calls("image/delete").await, 0, "not deleted");

    // onError: Recreate deletes it and makes it again, once it is gone.
    world
        .patch_spec::<LunaImage>("broken", json!({"onError": "Recreate"}))
        .await;
    let replaced = world.ready::<LunaImage>("broken").await;
    assert_ne!(replaced.status_id(), failed.status_id());
    assert_eq!(world.sim.calls("image/delete").await, 1);
    assert_eq!(world.sim.calls("image/fetch").await, 2);
    assert_eq!(
        replaced
            .status
            .as_ref()
            .unwrap()
            .recreations
            .as_ref()
            .map(|r| r.count),
        Some(1)
    );
    let reasons = world.event_reasons("broken").await;
    assert!(
        reasons
            .iter()
            .any(|reason| reason == "ReplacingFailedImage"),
        "{reasons:?}"
    );
    assert_eq!(
        named(&world).await,
        [("broken".to_owned(), "toronto".to_owned())]
    );

    // A lost fetch answer and a crash: one image, the one the lost answer made.
    let mut once = LunaImageSpec::new("once", ImageSource::url(URL));
    once.on_error = OnError::Report;
    world
        .create_losing_answers(&image("once", once), "image/fetch", 3)
        .await;
    let ready = world.ready::<LunaImage>("once").await;
    let named_once: Vec<_> = named(&world)
        .await
        .into_iter()
        .filter(|(name, _)| name == "once")
        .collect();
    assert_eq!(named_once.len(), 1, "exactly one image");
    let reasons = world.event_reasons("once").await;
    assert!(
        reasons.iter().any(|reason| reason == "CreateRecovered"),
        "the image made by the lost fetch is the one recorded: {reasons:?}"
    );
    assert!(ready.status_id().is_some());
    for name in ["broken", "once"] {
        world.delete::<LunaImage>(name).await;
    }
    for name in ["broken", "once"] {
        world.gone::<LunaImage>(name).await;
    }
    assert!(named(&world).await.is_empty(), "nothing left");
}

/// The labels of the volume snapshots the simulator holds, sorted.
async fn snapshot_names(world: &World) -> Vec<String> {
    world.sim.names("volume_snapshots").await
}

#[tokio::test]
async fn a_volume_snapshot_makes_a_volume_and_an_image_and_a_lost_answer_makes_one() {
    let mut world = World::start("image", 'c').await;
    world
        .create(&LunaVolume::new("data", LunaVolumeSpec::new("data", 20)))
        .await;
    world
        .create(&LunaVolumeSnapshot::new(
            "data-snap",
            LunaVolumeSnapshotSpec::new("data-snap", "data"),
        ))
        .await;
    // A volume of 10 GB from a snapshot of 20: Luna Node makes it 20, which shows the snapshot
    // was used.
    let mut restored = LunaVolumeSpec::new("restored", 10);
    restored.snapshot_ref = Some(LocalObjectReference::new("data-snap"));
    world.create(&LunaVolume::new("restored", restored)).await;
    let mut from_snapshot = LunaImageSpec::new("from-snapshot", ImageSource::default());
    from_snapshot.source.volume_snapshot_ref = Some(LocalObjectReference::new("data-snap"));
    world.create(&image("from-snapshot", from_snapshot)).await;

    let data = world.ready::<LunaVolume>("data").await;
    let snapshot = world.ready::<LunaVolumeSnapshot>("data-snap").await;
    let at = snapshot
        .status
        .as_ref()
        .unwrap()
        .at_provider
        .clone()
        .unwrap();
    assert_eq!(at.volume_id.as_deref(), data.status_id());
    assert_eq!(at.listed.status.as_deref(), Some("available"));
    assert_eq!(world.sim.calls("volume/snapshot-create").await, 1);

    let restored = world.ready::<LunaVolume>("restored").await;
    let size = restored
        .status
        .as_ref()
        .and_then(|status| status.at_provider.as_ref())
        .and_then(|at| at.size);
    assert_eq!(size, Some(20), "made from the 20 GB snapshot");
    assert_eq!(world.sim.calls("volume/create").await, 2);

    let from_snapshot = world.ready::<LunaImage>("from-snapshot").await;
    assert!(from_snapshot.status_id().is_some());
    assert_eq!(world.sim.calls("volume/snapshot-replicate").await, 1);

    // A snapshot cannot change.
    support::assert_rejected(
        world
            .api::<LunaVolumeSnapshot>()
            .patch(
                "data-snap",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"volumeRef": {"name": "restored"}}})),
            )
            .await,
        "immutable",
    );

    // A lost create answer and a crash: one snapshot.
    world
        .create_losing_answers(
            &LunaVolumeSnapshot::new("once", LunaVolumeSnapshotSpec::new("once", "data")),
            "volume/snapshot-create",
            2,
        )
        .await;
    world.ready::<LunaVolumeSnapshot>("once").await;
    assert_eq!(snapshot_names(&world).await, ["data-snap", "once"]);
    let reasons = world.event_reasons("once").await;
    assert!(
        reasons.iter().any(|reason| reason == "CreateRecovered"),
        "the snapshot made by the lost create is the one recorded: {reasons:?}"
    );

    for name in ["data-snap", "once"] {
        world.delete::<LunaVolumeSnapshot>(name).await;
    }
    world.delete::<LunaImage>("from-snapshot").await;
    for name in ["data-snap", "once"] {
        world.gone::<LunaVolumeSnapshot>(name).await;
    }
    world.gone::<LunaImage>("from-snapshot").await;
    assert_eq!(world.sim.calls("volume/snapshot-delete").await, 2);
    assert!(snapshot_names(&world).await.is_empty(), "nothing left");
    assert!(named(&world).await.is_empty(), "no image left");
}

#[tokio::test]
async fn a_rename_luna_node_answers_but_never_makes_is_sent_three_times_then_reported() {
    let world = World::start("image", 'n').await;
    world
        .create(&image(
            "base",
            LunaImageSpec::new("base", ImageSource::url(URL)),
        ))
        .await;
    world.ready::<LunaImage>("base").await;

    // Luna Node answers success to every rename and makes none.
    world
        .sim
        .admin_post(
            "faults",
            json!({"noop_rate": 1.0, "actions": ["image/rename"]}),
        )
        .await;
    world
        .patch_spec::<LunaImage>("base", json!({"name": "renamed"}))
        .await;
    let stalled = world
        .until::<LunaImage>("base", "Ready=False UpdateNotApplied", |image| {
            reason_is(image, "Ready", "UpdateNotApplied")
        })
        .await;
    assert!(
        reason_is(&stalled, "Stalled", "UpdateNotApplied"),
        "{stalled:?}"
    );
    assert_eq!(world.sim.calls("image/rename").await, 3);
    // More looks send nothing more, and tell it once.
    world.looked_again::<LunaImage>("base", "1").await;
    world.looked_again::<LunaImage>("base", "2").await;
    assert_eq!(world.sim.calls("image/rename").await, 3);
    let reasons = world.event_reasons("base").await;
    assert_eq!(
        reasons
            .iter()
            .filter(|reason| *reason == "UpdateNotApplied")
            .count(),
        1,
        "{reasons:?}"
    );

    // A new spec is a new try: the cloud behaves again and the rename is made once.
    world.sim.admin_post("faults", json!({})).await;
    world
        .patch_spec::<LunaImage>("base", json!({"name": "renamed-again"}))
        .await;
    world.ready::<LunaImage>("base").await;
    assert_eq!(world.sim.calls("image/rename").await, 4);
    assert_eq!(
        named(&world).await,
        [("renamed-again".to_owned(), "toronto".to_owned())]
    );
}
