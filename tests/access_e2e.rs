//! LunaSSHKey end to end: the real control plane, the simulator and the operator as separate
//! processes, one of each per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kube::api::{Patch, PatchParams};
use lunanode_operator::api::{
    common::{DeletionPolicy, ImportSpec, ManagedResource},
    sshkey::{LunaSSHKey, LunaSSHKeySpec},
};
use serde_json::json;
use support::{World, wait::condition};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorTestKeyOne0000000000 deploy@example.com";
const OTHER_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorTestKeyTwo0000000000 admin@example.com";
const THIRD_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQOperatorTestKeyThree == ops";

fn key(name: &str, spec: LunaSSHKeySpec) -> LunaSSHKey {
    LunaSSHKey::new(name, spec)
}

/// The keys the simulator holds: (label, public key).
async fn keys(world: &World) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = world
        .sim
        .objects("ssh_keys")
        .await
        .iter()
        .map(|key| {
            (
                key["name"].as_str().unwrap_or_default().to_owned(),
                key["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_key_is_added_once_imported_without_a_write_and_removed() {
    let world = World::start("access", 'a').await;
    world
        .create(&key("deploy", LunaSSHKeySpec::new("deploy", KEY)))
        .await;
    let ready = world.ready::<LunaSSHKey>("deploy").await;
    let at_provider = ready.status.as_ref().unwrap().at_provider.clone().unwrap();
    assert_eq!(at_provider.label.as_deref(), Some("deploy"));
    assert_eq!(at_provider.key_type.as_deref(), Some("ssh-ed25519"));
    assert_eq!(world.sim.calls("sshkey/add").await, 1);
    assert_eq!(keys(&world).await, [("deploy".to_owned(), KEY.to_owned())]);

    // Label and key cannot change: the apiserver says so.
    support::assert_rejected(
        world
            .api::<LunaSSHKey>()
            .patch(
                "deploy",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"label": "renamed"}})),
            )
            .await,
        "immutable",
    );

    // A key added by hand is imported by its ID: no add, and Ready.
    let by_hand = world
        .cloud()
        .sshkey_add("by-hand", OTHER_KEY)
        .await
        .expect("a key added outside the operator");
    let mut spec = LunaSSHKeySpec::new("by-hand", OTHER_KEY);
    spec.managed.import = Some(ImportSpec {
        id: Some(by_hand.clone()),
    });
    spec.managed.deletion_policy = DeletionPolicy::Orphan;
    world.create(&key("imported", spec)).await;
    let imported = world.ready::<LunaSSHKey>("imported").await;
    assert_eq!(imported.status_id(), Some(by_hand.as_str()));
    assert_eq!(
        world.sim.calls("sshkey/add").await,
        2,
        "the operator's one add and the one by hand"
    );

    // Imported with another public key than the manifest's: reported, never replaced.
    let third = world
        .cloud()
        .sshkey_add("third", THIRD_KEY)
        .await
        .expect("a third key");
    let mut spec = LunaSSHKeySpec::new("third", KEY);
    spec.managed.import = Some(ImportSpec {
        id: Some(third.clone()),
    });
    spec.managed.deletion_policy = DeletionPolicy::Orphan;
    world.create(&key("mismatched", spec)).await;
    let mismatched = world
        .until::<LunaSSHKey>("mismatched", "Ready=False SpecMismatch", |key| {
            condition(key, "Ready").is_some_and(|ready| ready.reason == "SpecMismatch")
        })
        .await;
    let message = condition(&mismatched, "Ready").unwrap().message;
    assert!(
        message.contains(&third) && message.contains("spec.publicKey"),
        "{message}"
    );

    // Deleting removes the operator's key; Orphan leaves the imported ones.
    for name in ["deploy", "imported", "mismatched"] {
        world.delete::<LunaSSHKey>(name).await;
    }
    for name in ["deploy", "imported", "mismatched"] {
        world.gone::<LunaSSHKey>(name).await;
    }
    assert_eq!(world.sim.calls("sshkey/remove").await, 1);
    assert_eq!(
        keys(&world).await,
        [
            ("by-hand".to_owned(), OTHER_KEY.to_owned()),
            ("third".to_owned(), THIRD_KEY.to_owned())
        ]
    );
}

#[tokio::test]
async fn a_lost_add_answer_and_a_crash_make_one_key() {
    let mut world = World::start("access", 'b').await;
    world
        .sim
        .admin_post(
            "faults",
            json!({"drop_after_commit_rate": 1.0, "actions": ["sshkey/add"]}),
        )
        .await;
    world
        .create(&key("once", LunaSSHKeySpec::new("once", KEY)))
        .await;
    let sim = &world.sim;
    support::eventually(support::wait::WAIT, "an add attempt", || async move {
        (sim.calls("sshkey/add").await >= 1).then_some(())
    })
    .await;
    // Crash the operator while the answer is lost, then let the API behave again.
    world.operator_mut().restart();
    world.sim.admin_post("faults", json!({})).await;
    let ready = world.ready::<LunaSSHKey>("once").await;
    assert_eq!(keys(&world).await.len(), 1, "exactly one key");
    let reasons = world.event_reasons("once").await;
    assert!(
        reasons.iter().any(|reason| reason == "CreateRecovered"),
        "the key made by the lost add is the one recorded: {reasons:?}"
    );
    assert!(ready.status_id().is_some());
    world.delete::<LunaSSHKey>("once").await;
    world.gone::<LunaSSHKey>("once").await;
    assert!(keys(&world).await.is_empty(), "nothing left");
}
