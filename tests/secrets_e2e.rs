//! The operator and the Secrets it did not create, end to end (the real control plane, the
//! simulator and the operator as separate processes, one of each per test):
//! - a connection Secret is never written over a Secret the operator did not create;
//! - the credentials Secret carries the finalizer `lunanode.com/credentials-in-use` while
//!   objects use it, so that deleting it first (even across an operator restart) still lets the
//!   objects delete their cloud objects, and it loses the finalizer once no object uses it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    ResourceExt,
    api::{ObjectMeta, Patch, PatchParams, PostParams},
};
use lunanode_operator::api::{
    common::{CREDENTIALS_FINALIZER, Condition, ConnectionSecretRef, ManagedResource, SecretRef},
    vm::{LunaVM, LunaVMSpec},
    volume::{LunaVolume, LunaVolumeSpec},
};
use serde_json::json;
use support::{World, processes::pause, wait};

const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const CREDENTIALS: &str = "lunanode-credentials";

async fn get_secret(world: &World, name: &str) -> Option<Secret> {
    world
        .api::<Secret>()
        .get_opt(name)
        .await
        .expect("get secret")
}

/// Waits until the Secret `name` carries the finalizer (`true`) or not (`false`).
async fn finalizer(world: &World, name: &str, present: bool) -> Secret {
    let what = format!(
        "the finalizer {}",
        if present { "present" } else { "absent" }
    );
    world
        .until::<Secret>(name, &what, |secret| carries(secret) == present)
        .await
}

fn carries(secret: &Secret) -> bool {
    wait::has_finalizer(secret, CREDENTIALS_FINALIZER)
}

/// What must not change in a Secret the operator did not create: its data and its metadata
/// (the `resourceVersion` changes with any write at all).
fn fingerprint(secret: &Secret) -> serde_json::Value {
    json!({
        "data": secret.data,
        "labels": secret.metadata.labels,
        "annotations": secret.metadata.annotations,
        "ownerReferences": secret.metadata.owner_references,
        "finalizers": secret.metadata.finalizers,
        "resourceVersion": secret.metadata.resource_version,
    })
}

fn connection_to(name: &str, hostname: &str, secret: &str) -> LunaVM {
    let mut spec = LunaVMSpec::new(hostname, "m.1", IMAGE);
    spec.write_connection_secret_to_ref = Some(ConnectionSecretRef {
        name: secret.to_owned(),
    });
    LunaVM::new(name, spec)
}

fn conflict(condition: &Condition) -> bool {
    condition.type_ == "Synced"
        && !condition.is_true()
        && condition.reason == "ConnectionSecretConflict"
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    let value = secret.data.as_ref()?.get(key)?;
    Some(String::from_utf8(value.0.clone()).unwrap())
}

#[tokio::test]
async fn connection_secrets_never_overwrite_a_secret_the_operator_did_not_create() {
    let world = World::setup("secrets", 'c')
        .credentials(CREDENTIALS)
        .start()
        .await;
    let secrets = world.api::<Secret>();

    // A free name: the Secret is created, and owned by the LunaVM.
    world
        .create(&connection_to("free", "conn-free", "free-connection"))
        .await;
    let free: LunaVM = world.ready("free").await;
    let created = world
        .until::<Secret>("free-connection", "the connection Secret", |_| true)
        .await;
    let owners = created
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(owners[0].kind, "LunaVM");
    assert_eq!(Some(owners[0].uid.clone()), free.uid());
    assert_eq!(owners[0].controller, Some(true));
    let ip = support::public_ip(&free);
    assert_eq!(text(&created, "ip").as_deref(), Some(ip.as_str()));
    assert!(text(&created, "password").is_some_and(|p| p.len() >= 8));

    // Foreign Secrets: the credentials Secret itself (once the operator has put its finalizer
    // on it: that is its own change, made before), and a plain Secret of someone else.
    finalizer(&world, CREDENTIALS, true).await;
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("foreign".into()),
                    labels: Some([("team".to_owned(), "a".to_owned())].into()),
                    annotations: Some([("note".to_owned(), "hands off".to_owned())].into()),
                    ..ObjectMeta::default()
                },
                data: Some(
                    [(
                        "token".to_owned(),
                        ByteString(b"someone else's token".to_vec()),
                    )]
                    .into(),
                ),
                ..Secret::default()
            },
        )
        .await
        .unwrap();
    let credentials_before = fingerprint(&get_secret(&world, CREDENTIALS).await.unwrap());
    let foreign_before = fingerprint(&get_secret(&world, "foreign").await.unwrap());

    world
        .create(&connection_to("onto-credentials", "conn-cred", CREDENTIALS))
        .await;
    world
        .create(&connection_to("onto-foreign", "conn-foreign", "foreign"))
        .await;
    for (name, secret) in [
        ("onto-credentials", CREDENTIALS),
        ("onto-foreign", "foreign"),
    ] {
        let _: LunaVM = world.ready(name).await;
        let reported = world
            .condition::<LunaVM>(name, "Synced=False ConnectionSecretConflict", conflict)
            .await;
        assert!(
            reported
                .message
                .contains(&format!("Secret {}/{secret} exists", world.ns))
                && reported.message.contains("not owned by this LunaVM"),
            "{}",
            reported.message
        );
    }
    // A Warning Event says so too.
    world
        .event(
            "onto-foreign",
            "a ConnectionSecretConflict Warning",
            |event| {
                event.reason.as_deref() == Some("ConnectionSecretConflict")
                    && event.type_.as_deref() == Some("Warning")
            },
        )
        .await;

    // No hot loop: the conflict is reported once and nothing is written after that.
    let settled = world
        .api::<LunaVM>()
        .get("onto-foreign")
        .await
        .unwrap()
        .resource_version();
    pause(5).await;
    assert_eq!(
        world
            .api::<LunaVM>()
            .get("onto-foreign")
            .await
            .unwrap()
            .resource_version(),
        settled,
        "the LunaVM is not rewritten while the conflict stays"
    );

    // Byte for byte untouched, metadata included.
    assert_eq!(
        fingerprint(&get_secret(&world, CREDENTIALS).await.unwrap()),
        credentials_before,
        "the credentials Secret is untouched"
    );
    assert_eq!(
        fingerprint(&get_secret(&world, "foreign").await.unwrap()),
        foreign_before,
        "the foreign Secret is untouched"
    );
    let unwritten = world.api::<LunaVM>().get("onto-foreign").await.unwrap();
    assert_eq!(
        unwritten.status.unwrap().connection_secret_ip,
        None,
        "nothing written, nothing recorded"
    );
    let passwords =
        support::processes::reported_passwords(&world.sim.endpoint(), &world.account).await;
    for secret in [CREDENTIALS, "foreign"] {
        let stored = get_secret(&world, secret).await.unwrap();
        for value in stored.data.unwrap_or_default().values() {
            let value = String::from_utf8_lossy(&value.0);
            assert!(
                !passwords
                    .iter()
                    .any(|password| value.contains(password.as_str())),
                "no VM password in {secret}"
            );
        }
    }

    // The Secret this LunaVM created is its own: it is updated. Tamper with it and make the
    // operator write it again (as an IP change does: `connectionSecretIP` no longer matches).
    let mut tampered = get_secret(&world, "free-connection").await.unwrap();
    tampered
        .data
        .as_mut()
        .unwrap()
        .insert("ip".into(), ByteString(b"0.0.0.0".to_vec()));
    let tampered = secrets
        .replace("free-connection", &PostParams::default(), &tampered)
        .await
        .unwrap();
    world
        .api::<LunaVM>()
        .patch_status(
            "free",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"connectionSecretIP": "192.0.2.1"}})),
        )
        .await
        .unwrap();
    let rewritten = world
        .until::<Secret>("free-connection", "the owned Secret rewritten", |secret| {
            text(secret, "ip").as_deref() == Some(ip.as_str())
        })
        .await;
    assert_ne!(rewritten.resource_version(), tampered.resource_version());
    assert_eq!(
        rewritten.metadata.owner_references, created.metadata.owner_references,
        "still owned by the LunaVM"
    );
    let free = world.api::<LunaVM>().get("free").await.unwrap();
    assert!(
        !free.conditions().iter().any(conflict),
        "no conflict for its own Secret"
    );
    assert_eq!(
        free.status.unwrap().connection_secret_ip.as_deref(),
        Some(ip.as_str())
    );

    // Deleting the LunaVMs never deletes a Secret the operator did not create (this control
    // plane runs no garbage collector, so this checks the owner references, not a deletion).
    for name in ["free", "onto-credentials", "onto-foreign"] {
        world.delete::<LunaVM>(name).await;
    }
    for name in ["free", "onto-credentials", "onto-foreign"] {
        world.gone::<LunaVM>(name).await;
    }
    let foreign = get_secret(&world, "foreign").await.unwrap();
    assert_eq!(fingerprint(&foreign), foreign_before);
    assert!(world.sim.vms().await.is_empty(), "nothing left");
}

#[tokio::test]
async fn credentials_deleted_first_still_clean_up_after_a_restart() {
    let mut world = World::setup("secrets", 'r')
        .credentials(CREDENTIALS)
        .start()
        .await;
    world
        .create(&LunaVM::new(
            "web",
            LunaVMSpec::new("restart-web", "m.1", IMAGE),
        ))
        .await;
    world
        .create(&LunaVolume::new(
            "data",
            LunaVolumeSpec::new("restart-data", 5),
        ))
        .await;
    let _: LunaVM = world.ready("web").await;
    let _: LunaVolume = world.ready("data").await;
    assert_eq!(world.sim.vms().await.len(), 1);
    assert_eq!(world.sim.objects("volumes").await.len(), 1);
    finalizer(&world, CREDENTIALS, true).await;

    // `kubectl delete -f` of the folder: the Secret goes first. It stays, marked for deletion.
    world.delete::<Secret>(CREDENTIALS).await;
    let marked = get_secret(&world, CREDENTIALS)
        .await
        .expect("held by the finalizer");
    assert!(marked.metadata.deletion_timestamp.is_some());

    // The operator dies; the objects are deleted while it is down; a new process (which never
    // saw the Secret before its deletion) takes over.
    world.operator_mut().kill();
    world.delete::<LunaVM>("web").await;
    world.delete::<LunaVolume>("data").await;
    pause(1).await;
    world.operator_mut().restart();

    world.gone::<LunaVM>("web").await;
    world.gone::<LunaVolume>("data").await;
    assert!(world.sim.vms().await.is_empty(), "the VM was deleted");
    assert!(
        world.sim.objects("volumes").await.is_empty(),
        "the volume was deleted"
    );
    // The last user let go: the finalizer is removed, and the Secret finishes its deletion.
    world.gone::<Secret>(CREDENTIALS).await;
}

#[tokio::test]
async fn the_finalizer_follows_the_users_of_the_secret() {
    let world = World::setup("secrets", 'u')
        .credentials(CREDENTIALS)
        .start()
        .await;
    world.credentials_secret("second").await;
    world
        .create(&LunaVolume::new("a", LunaVolumeSpec::new("users-a", 5)))
        .await;
    let _: LunaVolume = world.ready("a").await;
    finalizer(&world, CREDENTIALS, true).await;
    assert!(
        !carries(&get_secret(&world, "second").await.unwrap()),
        "a Secret no object uses is left alone"
    );

    // The object switches to another Secret (of the same account): the finalizer follows.
    world
        .api::<LunaVolume>()
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"credentialsSecretRef": {"name": "second"}}})),
        )
        .await
        .unwrap();
    let _: LunaVolume = world.ready("a").await;
    finalizer(&world, "second", true).await;
    finalizer(&world, CREDENTIALS, false).await;

    // Two users: the finalizer stays until the last one is gone.
    let mut spec = LunaVolumeSpec::new("users-b", 5);
    spec.managed.credentials_secret_ref = Some(SecretRef {
        name: "second".into(),
    });
    world.create(&LunaVolume::new("b", spec)).await;
    let _: LunaVolume = world.ready("b").await;
    world.delete::<LunaVolume>("a").await;
    world.gone::<LunaVolume>("a").await;
    pause(3).await;
    assert!(
        carries(&get_secret(&world, "second").await.unwrap()),
        "still in use by b"
    );
    world.delete::<LunaVolume>("b").await;
    world.gone::<LunaVolume>("b").await;
    let released = finalizer(&world, "second", false).await;
    assert!(
        released.metadata.deletion_timestamp.is_none(),
        "only the finalizer went"
    );
    assert!(
        world.sim.objects("volumes").await.is_empty(),
        "nothing left"
    );
    assert!(get_secret(&world, CREDENTIALS).await.is_some());
}
