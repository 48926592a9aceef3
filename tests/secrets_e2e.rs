//! The operator and the Secrets it did not create, end to end (the real control plane, the
//! simulator and the operator as separate processes, one of each per test):
//! - a connection Secret is never written over a Secret the operator did not create;
//! - the credentials Secret carries the finalizer `lunanode.com/credentials-in-use` while
//!   objects use it, so that deleting it first (even across an operator restart) still lets the
//!   objects delete their cloud objects, and it loses the finalizer once no object uses it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use k8s_openapi::{
    ByteString,
    api::{core::v1::Secret, events::v1::Event},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use lunanode_operator::api::{
    common::{
        CREDENTIALS_FINALIZER, Condition, ConnectionSecretRef, ManagedResource, SecretRef,
        is_condition_true,
    },
    vm::{LunaVM, LunaVMSpec},
    volume::{LunaVolume, LunaVolumeSpec},
};
use serde::de::DeserializeOwned;
use serde_json::json;
use support::processes::{Operator, Simulator, pause, test_account};

const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const WAIT: Duration = Duration::from_secs(120);
const CREDENTIALS: &str = "lunanode-credentials";

struct World {
    client: kube::Client,
    ns: String,
    sim: Simulator,
    account: (String, String),
    operator: Operator,
}

async fn world(tag: char) -> World {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, &format!("secrets-{tag}")).await;
    let account = test_account(tag);
    let sim = Simulator::start(&account, &["--build-seconds", "2"]);
    support::credentials_secret(&client, &ns, CREDENTIALS, &account.0, &account.1).await;
    let operator = Operator::start(
        &support::control_plane().kubeconfig,
        &sim.endpoint(),
        &["--namespace", &ns],
    );
    World {
        client,
        ns,
        sim,
        account,
        operator,
    }
}

impl World {
    fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn create<K>(&self, object: &K)
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::Serialize
            + DeserializeOwned
            + std::fmt::Debug,
    {
        self.api::<K>()
            .create(&PostParams::default(), object)
            .await
            .expect("create");
    }

    async fn delete<K>(&self, name: &str)
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        self.api::<K>()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }

    async fn ready<K: ManagedResource>(&self, name: &str) -> K {
        let api = self.api::<K>();
        support::eventually(WAIT, &format!("{name} Ready"), || {
            let api = api.clone();
            async move {
                let object = api.get(name).await.ok()?;
                (is_condition_true(object.conditions(), "Ready")
                    && object.observed_generation() == object.meta().generation)
                    .then_some(object)
            }
        })
        .await
    }

    async fn condition<K: ManagedResource>(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Condition) -> bool,
    ) -> Condition {
        let api = self.api::<K>();
        let check = &check;
        support::eventually(WAIT, what, || {
            let api = api.clone();
            async move {
                let object = api.get(name).await.ok()?;
                object.conditions().iter().find(|c| check(c)).cloned()
            }
        })
        .await
    }

    async fn gone<K>(&self, name: &str)
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api = self.api::<K>();
        support::eventually(WAIT, &format!("{name} deleted"), || {
            let api = api.clone();
            async move { api.get_opt(name).await.ok()?.is_none().then_some(()) }
        })
        .await;
    }

    async fn secret(&self, name: &str) -> Option<Secret> {
        self.api::<Secret>()
            .get_opt(name)
            .await
            .expect("get secret")
    }

    /// Waits until the Secret `name` carries the finalizer (`true`) or not (`false`).
    async fn finalizer(&self, name: &str, present: bool) -> Secret {
        let secrets = self.api::<Secret>();
        let what = format!(
            "the finalizer {} on Secret {name}",
            if present { "present" } else { "absent" }
        );
        support::eventually(WAIT, &what, || {
            let secrets = secrets.clone();
            async move {
                let secret = secrets.get_opt(name).await.ok()??;
                (carries(&secret) == present).then_some(secret)
            }
        })
        .await
    }

    /// A second credentials Secret for the same account.
    async fn credentials(&self, name: &str) {
        support::credentials_secret(
            &self.client,
            &self.ns,
            name,
            &self.account.0,
            &self.account.1,
        )
        .await;
    }
}

fn carries(secret: &Secret) -> bool {
    secret
        .finalizers()
        .iter()
        .any(|finalizer| finalizer == CREDENTIALS_FINALIZER)
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
    let world = world('c').await;
    let secrets = world.api::<Secret>();

    // A free name: the Secret is created, and owned by the LunaVM.
    world
        .create(&connection_to("free", "conn-free", "free-connection"))
        .await;
    let free: LunaVM = world.ready("free").await;
    let created = support::eventually(WAIT, "the free connection Secret", || {
        let secrets = secrets.clone();
        async move { secrets.get_opt("free-connection").await.ok().flatten() }
    })
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
    let ip = free
        .status
        .clone()
        .unwrap()
        .at_provider
        .unwrap()
        .ip
        .unwrap();
    assert_eq!(text(&created, "ip").as_deref(), Some(ip.as_str()));
    assert!(text(&created, "password").is_some_and(|p| p.len() >= 8));

    // Foreign Secrets: the credentials Secret itself (once the operator has put its finalizer
    // on it: that is its own change, made before), and a plain Secret of someone else.
    world.finalizer(CREDENTIALS, true).await;
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
    let credentials_before = fingerprint(&world.secret(CREDENTIALS).await.unwrap());
    let foreign_before = fingerprint(&world.secret("foreign").await.unwrap());

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
    let events: Api<Event> = world.api();
    support::eventually(WAIT, "a ConnectionSecretConflict Warning Event", || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .iter()
                .any(|event| {
                    event.reason.as_deref() == Some("ConnectionSecretConflict")
                        && event.type_.as_deref() == Some("Warning")
                        && event
                            .regarding
                            .as_ref()
                            .is_some_and(|r| r.name.as_deref() == Some("onto-foreign"))
                })
                .then_some(())
        }
    })
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
        fingerprint(&world.secret(CREDENTIALS).await.unwrap()),
        credentials_before,
        "the credentials Secret is untouched"
    );
    assert_eq!(
        fingerprint(&world.secret("foreign").await.unwrap()),
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
        let stored = world.secret(secret).await.unwrap();
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
    let mut tampered = world.secret("free-connection").await.unwrap();
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
    let rewritten = support::eventually(WAIT, "the owned Secret rewritten", || {
        let secrets = secrets.clone();
        let ip = ip.clone();
        async move {
            let secret = secrets.get_opt("free-connection").await.ok()??;
            (text(&secret, "ip").as_deref() == Some(ip.as_str())).then_some(secret)
        }
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
    let foreign = world.secret("foreign").await.unwrap();
    assert_eq!(fingerprint(&foreign), foreign_before);
    assert!(world.sim.vms().await.is_empty(), "nothing left");
}

#[tokio::test]
async fn credentials_deleted_first_still_clean_up_after_a_restart() {
    let mut world = world('r').await;
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
    world.finalizer(CREDENTIALS, true).await;

    // `kubectl delete -f` of the folder: the Secret goes first. It stays, marked for deletion.
    world.delete::<Secret>(CREDENTIALS).await;
    let marked = world
        .secret(CREDENTIALS)
        .await
        .expect("held by the finalizer");
    assert!(marked.metadata.deletion_timestamp.is_some());

    // The operator dies; the objects are deleted while it is down; a new process (which never
    // saw the Secret before its deletion) takes over.
    world.operator.kill();
    world.delete::<LunaVM>("web").await;
    world.delete::<LunaVolume>("data").await;
    pause(1).await;
    world.operator.restart();

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
    let world = world('u').await;
    world.credentials("second").await;
    world
        .create(&LunaVolume::new("a", LunaVolumeSpec::new("users-a", 5)))
        .await;
    let _: LunaVolume = world.ready("a").await;
    world.finalizer(CREDENTIALS, true).await;
    assert!(
        !carries(&world.secret("second").await.unwrap()),
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
    world.finalizer("second", true).await;
    world.finalizer(CREDENTIALS, false).await;

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
        carries(&world.secret("second").await.unwrap()),
        "still in use by b"
    );
    world.delete::<LunaVolume>("b").await;
    world.gone::<LunaVolume>("b").await;
    let released = world.finalizer("second", false).await;
    assert!(
        released.metadata.deletion_timestamp.is_none(),
        "only the finalizer went"
    );
    assert!(
        world.sim.objects("volumes").await.is_empty(),
        "nothing left"
    );
    assert!(world.secret(CREDENTIALS).await.is_some());
}
