//! What the operator owns, end to end (the real control plane, the simulator and the operator as
//! separate processes): identity that survives a lost status, no silent duplicate of an
//! unclaimed object, no import of a claimed one, a cleanup that deletes only its own, and an
//! account switch that touches neither account. The rules are in docs/ownership.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use lunanode_operator::api::{
    common::{Condition, EXTERNAL_ID_ANNOTATION, ImportSpec, PAUSED_ANNOTATION},
    dnszone::LunaDnsZone,
    dynamicrecord::LunaDynamicRecord,
    floating::{LunaFloatingIP, LunaFloatingIPSpec},
    loadbalancer::LunaLoadBalancer,
    network::{LunaNetwork, LunaNetworkSpec},
    securitygroup::LunaSecurityGroup,
    sshkey::LunaSSHKey,
    startupscript::LunaStartupScript,
    vm::{LunaVM, LunaVMSpec},
    volume::{LunaVolume, LunaVolumeSpec},
};
use serde_json::json;
use support::{
    World,
    processes::{cloud_client, test_account},
    wait::{self, Object},
};

const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const WAIT: Duration = wait::WAIT;

/// One test's world, with a second account on the simulator (the tag in upper case).
async fn world(tag: char) -> World {
    World::setup("own", tag)
        .second_account(&test_account(tag.to_ascii_uppercase()))
        .start()
        .await
}

/// The IDs of the VMs of `account` named `hostname`.
async fn vm_ids(world: &World, account: &(String, String), hostname: &str) -> Vec<String> {
    let client = cloud_client(&world.sim.endpoint(), account);
    let mut ids: Vec<String> = client
        .vm_list()
        .await
        .unwrap()
        .into_iter()
        .filter(|vm| vm.hostname.eq_ignore_ascii_case(hostname))
        .map(|vm| vm.vm_id)
        .collect();
    ids.sort();
    ids
}

async fn ready<K: Object>(api: &Api<K>, name: &str) -> K {
    wait::ready(api, name, WAIT).await
}

/// Waits until the Ready condition has `reason`; returns the object and the condition.
async fn reason<K: Object>(api: &Api<K>, name: &str, reason: &str) -> (K, Condition) {
    let object = wait::until(api, name, reason, WAIT, |object| {
        wait::condition(object, "Ready").is_some_and(|c| c.reason == reason)
    })
    .await;
    let condition = wait::condition(&object, "Ready").unwrap();
    (object, condition)
}

async fn gone<K: Object>(api: &Api<K>, name: &str) {
    wait::gone(api, name, WAIT).await;
}

/// Deletes the object but keeps its cloud object, and waits until it is gone.
async fn orphan<K: Object>(api: &Api<K>, name: &str) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"deletionPolicy": "Orphan"}})),
    )
    .await
    .unwrap();
    // The operator reads the new policy before the deletion starts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    api.delete(name, &DeleteParams::default()).await.unwrap();
    gone(api, name).await;
}

/// What `kubectl get -o yaml` of `object` gives with its status and server fields dropped: a
/// backup restored without status, or the object copied into another cluster.
fn exported<K: Resource + Clone>(object: &K, keep_annotations: bool) -> K {
    let mut copy = object.clone();
    let meta = copy.meta_mut();
    *meta = ObjectMeta {
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        labels: meta.labels.clone(),
        annotations: if keep_annotations {
            meta.annotations.clone()
        } else {
            None
        },
        ..ObjectMeta::default()
    };
    copy
}

#[tokio::test]
async fn a_vm_restored_without_status_finds_its_vm() {
    let world = world('a');
    let world = world.await;
    let vms: Api<LunaVM> = world.api();
    let vm = LunaVM::new("web", LunaVMSpec::new("restored", "m.1", IMAGE));
    vms.create(&PostParams::default(), &vm).await.unwrap();
    let made = ready(&vms, "web").await;
    let id = made.status.as_ref().unwrap().managed.id.clone().unwrap();
    assert_eq!(
        made.annotations().get(EXTERNAL_ID_ANNOTATION),
        Some(&id),
        "the cloud ID is in the metadata"
    );
    let reasons = world.event_reasons("web").await;
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.starts_with("Create"))
            .collect::<Vec<_>>(),
        ["Created"],
        "a plain create reports one Created Event: {reasons:?}"
    );
    let mut backup = exported(&made, true);
    orphan(&vms, "web").await;

    // Restored with its metadata, without status: the same VM, no create.
    let creates = world.sim.calls("vm/create").await;
    backup.spec.managed.deletion_policy = Default::default();
    vms.create(&PostParams::default(), &backup).await.unwrap();
    let restored = ready(&vms, "web").await;
    assert_eq!(
        restored.status.unwrap().managed.id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(world.sim.calls("vm/create").await, creates, "no second VM");
    assert_eq!(vm_ids(&world, &world.account, "restored").await, vec![id]);
}

#[tokio::test]
async fn a_reapplied_manifest_stops_and_then_adopts_by_policy() {
    let world = world('b').await;
    let vms: Api<LunaVM> = world.api();
    let vm = LunaVM::new("web", LunaVMSpec::new("reapplied", "m.1", IMAGE));
    vms.create(&PostParams::default(), &vm).await.unwrap();
    let id = ready(&vms, "web").await.status.unwrap().managed.id.unwrap();
    orphan(&vms, "web").await;

    // The manifest alone, as a GitOps repository applies it to a fresh cluster.
    let creates = world.sim.calls("vm/create").await;
    vms.create(&PostParams::default(), &vm).await.unwrap();
    let (_, condition) = reason(&vms, "web", "AlreadyExists").await;
    assert!(
        condition.message.contains(&format!("spec.import.id: {id}")),
        "{}",
        condition.message
    );
    assert_eq!(world.sim.calls("vm/create").await, creates);
    assert_eq!(vm_ids(&world, &world.account, "reapplied").await.len(), 1);

    // The adoption policy takes it over.
    vms.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"adoptionPolicy": "AdoptIfUnique"}})),
    )
    .await
    .unwrap();
    let adopted = ready(&vms, "web").await;
    assert_eq!(
        adopted.status.unwrap().managed.id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(world.sim.calls("vm/create").await, creates);

    // The same for a volume and a network: a taken label or name is not duplicated.
    let volumes: Api<LunaVolume> = world.api();
    let volume = LunaVolume::new("data", LunaVolumeSpec::new("data-label", 10));
    volumes
        .create(&PostParams::default(), &volume)
        .await
        .unwrap();
    ready(&volumes, "data").await;
    orphan(&volumes, "data").await;
    volumes
        .create(&PostParams::default(), &volume)
        .await
        .unwrap();
    reason(&volumes, "data", "AlreadyExists").await;
    assert_eq!(world.sim.calls("volume/create").await, 1);

    let networks: Api<LunaNetwork> = world.api();
    let network = LunaNetwork::new("net", LunaNetworkSpec::new("net-name", "10.40.0.0/24"));
    networks
        .create(&PostParams::default(), &network)
        .await
        .unwrap();
    ready(&networks, "net").await;
    orphan(&networks, "net").await;
    networks
        .create(&PostParams::default(), &network)
        .await
        .unwrap();
    reason(&networks, "net", "AlreadyExists").await;
    assert_eq!(world.sim.calls("network/create").await, 1);
}

/// A Ready LunaVM `owner` of a VM named `hostname`, and a LunaVM `importer` importing that VM,
/// refused as `AlreadyManaged`: the VM's ID and the refusal.
async fn owned_and_refused(
    vms: &Api<LunaVM>,
    hostname: &str,
    importer: &str,
) -> (String, Condition) {
    vms.create(
        &PostParams::default(),
        &LunaVM::new("owner", LunaVMSpec::new(hostname, "m.1", IMAGE)),
    )
    .await
    .unwrap();
    let id = ready(vms, "owner")
        .await
        .status
        .unwrap()
        .managed
        .id
        .unwrap();
    let mut spec = LunaVMSpec::new(hostname, "m.1", IMAGE);
    spec.managed.import = Some(ImportSpec {
        id: Some(id.clone()),
    });
    vms.create(&PostParams::default(), &LunaVM::new(importer, spec))
        .await
        .unwrap();
    let (_, condition) = reason(vms, importer, "AlreadyManaged").await;
    (id, condition)
}

#[tokio::test]
async fn a_vm_managed_by_another_object_is_never_imported() {
    let world = world('c').await;
    let vms: Api<LunaVM> = world.api();
    let (id, condition) = owned_and_refused(&vms, "claimed", "thief").await;
    assert!(condition.message.contains("owner"), "{}", condition.message);

    // Deleting the refused importer deletes nothing.
    vms.delete("thief", &DeleteParams::default()).await.unwrap();
    gone(&vms, "thief").await;
    assert_eq!(world.sim.calls("vm/delete").await, 0);
    assert_eq!(vm_ids(&world, &world.account, "claimed").await, vec![id]);
    ready(&vms, "owner").await;
}

#[tokio::test]
async fn a_refused_import_takes_the_vm_once_its_holder_lets_go() {
    let world = world('g').await;
    let vms: Api<LunaVM> = world.api();
    let (id, _) = owned_and_refused(&vms, "handed", "heir").await;

    // The owner lets go (Orphan), but a finalizer of someone else keeps it, still holding the
    // ID, while it is deleted: the heir is woken by the release and waits, without a change of
    // its own manifest.
    const HOLD: &str = "example.com/hold";
    vms.patch(
        "owner",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"deletionPolicy": "Orphan"}})),
    )
    .await
    .unwrap();
    // The finalizer list is replaced whole: conditional on the copy read, again on a conflict
    // with the operator's own writes.
    loop {
        let owner = vms.get("owner").await.unwrap();
        let mut finalizers = owner.finalizers().to_vec();
        finalizers.push(HOLD.to_owned());
        let held = vms
            .patch(
                "owner",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {
                    "finalizers": finalizers, "resourceVersion": owner.resource_version()
                }})),
            )
            .await;
        match held {
            Ok(_) => break,
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(error) => panic!("hold the owner: {error}"),
        }
    }
    vms.delete("owner", &DeleteParams::default()).await.unwrap();
    let (_, waiting) = reason(&vms, "heir", "WaitingForRelease").await;
    assert!(
        waiting.message.contains("owner") && waiting.message.contains(&id),
        "{}",
        waiting.message
    );
    vms.patch(
        "owner",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    gone(&vms, "owner").await;
    let heir = ready(&vms, "heir").await;
    assert_eq!(
        heir.status.unwrap().managed.id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(world.sim.calls("vm/create").await, 1, "no second VM");
    assert_eq!(world.sim.calls("vm/delete").await, 0, "nothing deleted");
}

#[tokio::test]
async fn two_interrupted_creates_never_take_the_same_address() {
    let world = world('h').await;
    let ips: Api<LunaFloatingIP> = world.api();
    // Two objects whose creates were interrupted an hour ago, before any address existed:
    // paused, then given the pending mark.
    let names = ["first", "second"];
    for name in names {
        let mut ip = LunaFloatingIP::new(name, LunaFloatingIPSpec::new());
        ip.meta_mut().annotations =
            Some([(PAUSED_ANNOTATION.to_owned(), "true".to_owned())].into());
        ips.create(&PostParams::default(), &ip).await.unwrap();
    }
    let started = k8s_openapi::jiff::Timestamp::now()
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_hours(1))
        .unwrap();
    for name in names {
        wait::until(&ips, name, "finalizer", WAIT, |object| {
            !object.finalizers().is_empty()
        })
        .await;
        let pending = json!({"status": {"pendingCreate": {
            "startedAt": started.to_string(), "name": "toronto", "preexisting": []
        }}});
        ips.patch_status(name, &PatchParams::default(), &Patch::Merge(pending))
            .await
            .unwrap();
    }
    // One unattached address appeared since: either create may have made it, not both.
    let client = cloud_client(&world.sim.endpoint(), &world.account);
    client.floating_add("toronto").await.unwrap();
    let resume = Patch::Merge(json!({"metadata": {"annotations": {PAUSED_ANNOTATION: null}}}));
    let params = PatchParams::default();
    let (a, b) = tokio::join!(
        ips.patch("first", &params, &resume),
        ips.patch("second", &params, &resume),
    );
    a.unwrap();
    b.unwrap();
    let mut held = Vec::new();
    for name in names {
        let ip = ready(&ips, name).await;
        held.push(ip.status.unwrap().managed.id.unwrap());
    }
    assert_ne!(held[0], held[1], "two objects hold one address");
    let listed = client.floating_list().await.unwrap();
    assert_eq!(listed.len(), 2, "one recovered, one created: {listed:?}");
}

#[tokio::test]
async fn lost_answers_of_address_creates_made_at_once_leave_each_its_own() {
    let world = world('i').await;
    let ips: Api<LunaFloatingIP> = world.api();
    // Every `floating add` is carried out, then its answer is lost. Addresses have no name: had
    // both creates run at once, each lost answer would leave two new unattached addresses that
    // either could have made, and both objects would stop as ambiguous.
    world
        .sim
        .admin_post(
            "faults",
            json!({"drop_after_commit_rate": 1.0, "actions": ["floating/add"]}),
        )
        .await;
    let names = ["east", "west"];
    let [east, west] = names.map(|name| LunaFloatingIP::new(name, LunaFloatingIPSpec::new()));
    let params = PostParams::default();
    let (a, b) = tokio::join!(ips.create(&params, &east), ips.create(&params, &west));
    a.unwrap();
    b.unwrap();
    // One goes first; the other says whose create it waits for.
    let sim = &world.sim;
    let turn = support::eventually(WAIT, "a create waiting for the other's", || async {
        for name in names {
            let ip = ips.get(name).await.ok()?;
            let message = wait::condition(&ip, "Ready")?.message;
            if message.contains("waiting for the create of") {
                return Some(message);
            }
        }
        None
    })
    .await;
    assert!(turn.contains("toronto"), "{turn}");
    let mut held = Vec::new();
    for name in names {
        let ip = ready(&ips, name).await;
        held.push(ip.status.unwrap().managed.id.unwrap());
    }
    assert_ne!(held[0], held[1], "two objects hold one address");
    assert_eq!(sim.calls("floating/add").await, 2, "one create each");
    let client = cloud_client(&world.sim.endpoint(), &world.account);
    let mut listed: Vec<String> = client
        .floating_list()
        .await
        .unwrap()
        .into_iter()
        .map(|ip| ip.id)
        .collect();
    listed.sort();
    held.sort();
    assert_eq!(listed, held, "exactly the two held addresses exist");
}

#[tokio::test]
async fn cleanup_of_an_interrupted_create_leaves_other_objects_vms() {
    let world = world('d').await;
    let vms: Api<LunaVM> = world.api();
    // An object whose create was interrupted: paused once it carries the finalizer, then given
    // the pending mark of a create started an hour ago that never reached the cloud.
    let mut interrupted = LunaVM::new("interrupted", LunaVMSpec::new("shared", "m.1", IMAGE));
    interrupted.meta_mut().annotations =
        Some([(PAUSED_ANNOTATION.to_owned(), "true".to_owned())].into());
    vms.create(&PostParams::default(), &interrupted)
        .await
        .unwrap();
    wait::until(&vms, "interrupted", "finalizer", WAIT, |object| {
        !object.finalizers().is_empty()
    })
    .await;
    let started = k8s_openapi::jiff::Timestamp::now()
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_hours(1))
        .unwrap();
    // Both spellings of the name, so the mark reads the same to every version of the schema.
    let pending = json!({"status": {"pendingCreate": {
        "startedAt": started.to_string(), "name": "shared", "hostname": "shared", "preexisting": []
    }}});
    vms.patch_status(
        "interrupted",
        &PatchParams::default(),
        &Patch::Merge(pending),
    )
    .await
    .unwrap();

    // Another object makes a VM of the same hostname after that intent.
    let mut spec = LunaVMSpec::new("shared", "m.1", IMAGE);
    spec.managed.adoption_policy = lunanode_operator::api::common::AdoptionPolicy::CreateDuplicate;
    vms.create(&PostParams::default(), &LunaVM::new("other", spec))
        .await
        .unwrap();
    let other = ready(&vms, "other")
        .await
        .status
        .unwrap()
        .managed
        .id
        .unwrap();

    // Deleting the paused object waits and says why.
    vms.delete("interrupted", &DeleteParams::default())
        .await
        .unwrap();
    reason(&vms, "interrupted", "DeletionPaused").await;
    vms.patch(
        "interrupted",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {PAUSED_ANNOTATION: null}}})),
    )
    .await
    .unwrap();
    gone(&vms, "interrupted").await;
    assert_eq!(
        world.sim.calls("vm/delete").await,
        0,
        "nothing of others deleted"
    );
    assert_eq!(vm_ids(&world, &world.account, "shared").await, vec![other]);
}

#[tokio::test]
async fn an_account_switch_touches_neither_account() {
    let world = world('e').await;
    let second = test_account('E');
    let vms: Api<LunaVM> = world.api();
    vms.create(
        &PostParams::default(),
        &LunaVM::new("web", LunaVMSpec::new("switched", "m.1", IMAGE)),
    )
    .await
    .unwrap();
    let id = ready(&vms, "web").await.status.unwrap().managed.id.unwrap();
    support::credentials_secret(&world.client, &world.ns, "second", &second.0, &second.1).await;
    let point_at = |secret: &str| json!({"spec": {"credentialsSecretRef": {"name": secret}}});
    vms.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(point_at("second")),
    )
    .await
    .unwrap();
    let (_, condition) = reason(&vms, "web", "AccountChanged").await;
    assert!(
        condition.message.contains(&world.account.0),
        "{}",
        condition.message
    );
    assert!(vm_ids(&world, &second, "switched").await.is_empty());

    // Deleting it now deletes nothing in either account, and says why.
    vms.delete("web", &DeleteParams::default()).await.unwrap();
    reason(&vms, "web", "AccountChanged").await;
    wait::until(&vms, "web", "deletion waits", WAIT, |object| {
        object.meta().deletion_timestamp.is_some()
            && wait::conditions(object)
                .iter()
                .any(|c| c.type_ == "Ready" && c.message.contains("nothing is deleted"))
    })
    .await;
    assert_eq!(world.sim.calls("vm/delete").await, 0);
    assert_eq!(vm_ids(&world, &world.account, "switched").await, vec![id]);
    assert!(vm_ids(&world, &second, "switched").await.is_empty());

    // Back on the old account, the deletion finishes there.
    vms.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(point_at("lunanode-credentials")),
    )
    .await
    .unwrap();
    gone(&vms, "web").await;
    assert!(vm_ids(&world, &world.account, "switched").await.is_empty());
    assert!(vm_ids(&world, &second, "switched").await.is_empty());
}

#[tokio::test]
async fn vms_missing_from_list_answers_are_confirmed_not_recreated() {
    let world = world('f').await;
    let vms: Api<LunaVM> = world.api();
    let names = ["l1", "l2", "l3", "l4"];
    for name in names {
        vms.create(
            &PostParams::default(),
            &LunaVM::new(
                name,
                LunaVMSpec::new(&format!("listed-{name}"), "m.1", IMAGE),
            ),
        )
        .await
        .unwrap();
    }
    for name in names {
        ready(&vms, name).await;
    }
    let creates = world.sim.calls("vm/create").await;
    let infos = world.sim.calls("vm/info").await;

    // First every entry is left out of the VM list, then the whole list comes back empty:
    // the VMs still exist (vm info answers them).
    for (round, faults) in [
        json!({"list_omit_rate": 1.0, "actions": ["vm/list"]}),
        json!({"list_empty_rate": 1.0, "actions": ["vm/list"]}),
    ]
    .into_iter()
    .enumerate()
    {
        world.sim.admin_post("faults", faults).await;
        let lists = world.sim.calls("vm/list").await;
        let requested = format!("2030-01-01T00:00:0{round}Z");
        for name in names {
            vms.patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {
                    "lunanode.com/reconcile-requested-at": requested
                }}})),
            )
            .await
            .unwrap();
        }
        // Proof the operator looked: every object acted on the request, after lists that
        // lacked the VMs.
        for name in names {
            wait::until(&vms, name, "reconcile request seen", WAIT, |object| {
                serde_json::to_value(object)
                    .ok()
                    .and_then(|v| v.pointer("/status/lastReconcileRequest").cloned())
                    == Some(json!(requested))
            })
            .await;
        }
        support::eventually(WAIT, "several lists without the VMs", || async {
            (world.sim.calls("vm/list").await >= lists + 3).then_some(())
        })
        .await;
    }
    world.sim.admin_post("faults", json!({})).await;
    assert_eq!(
        world.sim.calls("vm/create").await,
        creates,
        "nothing re-created"
    );
    assert!(
        world.sim.calls("vm/info").await > infos,
        "absence checked by vm info"
    );
    for name in names {
        let ids = vm_ids(&world, &world.account, &format!("listed-{name}")).await;
        assert_eq!(ids.len(), 1, "{name}: {ids:?}");
        let reasons = world.event_reasons(name).await;
        assert!(
            !reasons.iter().any(|r| r == "Recreating"),
            "{name}: {reasons:?}"
        );
    }
}

/// Runs the project's binary with the simulator account of `world` in its environment;
/// returns its standard output, failing the test when it fails.
fn run_cli(world: &World, args: &[&str]) -> String {
    run_cli_with(world, args, &[])
}

/// [`run_cli`] with more environment variables.
fn run_cli_with(world: &World, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(support::processes::binary())
        .args(args)
        .envs(env.iter().copied())
        .env("LUNANODE_ENDPOINT", world.sim.endpoint())
        .env("LUNANODE_API_ID", &world.account.0)
        .env("LUNANODE_API_KEY", &world.account.1)
        .env("LUNANODE_ALLOW_INSECURE_ENDPOINT", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `api CATEGORY ACTION key=value...` through the CLI: the answer's JSON.
fn api(world: &World, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["api"];
    all.extend_from_slice(args);
    serde_json::from_str(&run_cli(world, &all)).unwrap()
}

/// Creates the exported manifest `document` as a `K`, waits until it is Ready, and returns
/// the cloud ID it holds.
async fn adopt<K>(world: &World, document: &serde_json::Value) -> Option<String>
where
    K: Object
        + Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + lunanode_operator::api::common::ManagedResource,
{
    let object: K = serde_json::from_value(document.clone()).unwrap();
    world.create(&object).await;
    let ready: K = world.ready(&object.name_any()).await;
    ready.status_id().map(str::to_owned)
}

#[tokio::test]
async fn an_exported_account_is_adopted_with_no_create_and_no_change() {
    let world = world('k').await;
    // An account set up by hand with the CLI: a network, a key, a script, a VM (with the
    // address Luna Node gives it) and a volume attached to the VM.
    let network = api(
        &world,
        &[
            "network",
            "create",
            "region=toronto",
            "name=exp-net",
            "subnet=10.66.0.0/24",
            "dns=8.8.8.8",
        ],
    );
    let net_id = network["net_id"]
        .as_str()
        .unwrap_or_else(|| panic!("net_id in {network}"))
        .to_owned();
    api(
        &world,
        &[
            "sshkey",
            "add",
            "label=exp-key",
            &format!(
                "sshkey={}",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExportTestKey00000000000000 me@example.com"
            ),
        ],
    );
    api(
        &world,
        &[
            "script",
            "create",
            "name=exp-script",
            "content=#!/bin/sh\necho exported\n",
        ],
    );
    let group = api(
        &world,
        &["securitygroup", "create", "region=toronto", "name=exp-fw"],
    );
    let group_id = group["group_id"].as_str().unwrap().to_owned();
    api(
        &world,
        &[
            "securitygroup",
            "rule-insert",
            "region=toronto",
            &format!("group_id={group_id}"),
            "direction=ingress",
            "type=ipv4",
            "protocol=tcp",
            "remote_type=cidr",
            "remote_value=10.0.0.0/8",
            "port_min=22",
            "port_max=22",
            "label=ssh",
        ],
    );
    let images = api(&world, &["image", "list", "region=toronto"]);
    let image = images["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|image| image["name"] == IMAGE)
        .unwrap()["image_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let vm = api(
        &world,
        &[
            "vm",
            "create",
            "hostname=exp-web",
            "plan_id=m.1",
            &format!("image_id={image}"),
            "region=toronto",
        ],
    );
    let vm_id = vm["vm_id"].as_str().unwrap().to_owned();
    let volume = api(
        &world,
        &[
            "volume",
            "create",
            "region=toronto",
            "label=exp-data",
            "size=5",
        ],
    );
    let volume_id = volume["volume_id"].as_str().unwrap().to_owned();
    let vm_ip = support::eventually(WAIT, "the VM built", || async {
        let listed = api(&world, &["vm", "list"]);
        let vms = listed["vms"].as_array()?.clone();
        vms.iter()
            .find(|vm| vm["os_status"] == "active")
            .and_then(|vm| vm["primaryip"].as_str().filter(|ip| !ip.is_empty()))
            .map(str::to_owned)
    })
    .await;
    // A load balancer on the network, with the VM's private address and another as members.
    let private_ip = api(&world, &["vm", "list"])["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|vm| vm["privateip"].as_str().filter(|ip| !ip.is_empty()))
        .unwrap()
        .to_owned();
    let lb = api(
        &world,
        &[
            "lb",
            "create",
            "region=toronto",
            &format!("net_id={net_id}"),
            "name=exp-lb",
            "method=ROUND_ROBIN",
            "protocol=TCP",
            "connection_limit=-1",
            "port=80",
        ],
    );
    let lb_id = lb["lb_id"]
        .as_str()
        .or(lb["id"].as_str())
        .unwrap_or_else(|| panic!("lb id in {lb}"))
        .to_owned();
    for (ip, port) in [(private_ip.as_str(), "80"), ("10.66.0.200", "8080")] {
        api(
            &world,
            &[
                "lb",
                "member_add",
                "region=toronto",
                &format!("lb_id={lb_id}"),
                &format!("ip={ip}"),
                &format!("port={port}"),
            ],
        );
    }
    // A hosted zone: an address record at the VM, an alias, a text and a mail record.
    let zone = api(
        &world,
        &["dns2", "zone-add", "name=exp-zone.example", "ttl=3600"],
    );
    let zone_id = zone["zone_id"]
        .as_str()
        .or(zone["id"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("zone id in {zone}"));
    let zone_arg = format!("zone_id={zone_id}");
    let vm_data = format!("data={vm_ip}");
    for record in [
        ["name=www", "type=A", vm_data.as_str(), "ttl=3600"],
        [
            "name=docs",
            "type=CNAME",
            "data=www.exp-zone.example.",
            "ttl=3600",
        ],
        ["name=@", "type=TXT", "data=v=spf1 -all", "ttl=300"],
        [
            "name=@",
            "type=MX",
            "data=mail.exp-zone.example.",
            "ttl=3600",
        ],
    ] {
        let mut args = vec!["dns2", "record-add", zone_arg.as_str()];
        args.extend(record);
        api(&world, &args);
    }
    // Two dynamic DNS names: one at the VM's address, one at another.
    let at_vm = format!("ip={vm_ip}");
    api(&world, &["dns", "dyn-add", "name=exp-home", &at_vm]);
    api(
        &world,
        &["dns", "dyn-add", "name=exp-other", "ip=192.0.2.7"],
    );

    support::eventually(WAIT, "the volume available", || async {
        let listed = api(&world, &["volume", "list", "region=toronto"]);
        let volumes = listed["volumes"].as_array()?.clone();
        volumes
            .iter()
            .any(|volume| volume["status"] == "available")
            .then_some(())
    })
    .await;
    api(
        &world,
        &[
            "volume",
            "attach",
            "region=toronto",
            &format!("volume_id={volume_id}"),
            &format!("vm_id={vm_id}"),
            "target=auto",
        ],
    );

    // Export, then apply the manifests in the test's namespace.
    let exported = run_cli(&world, &["export", "--namespace", &world.ns]);
    let documents: Vec<serde_json::Value> = exported
        .split("\n---")
        .map(|document| document.trim_start_matches("---").trim())
        .filter(|document| !document.is_empty())
        .map(|document| serde_norway::from_str(document).unwrap())
        .collect();
    let kinds: Vec<&str> = documents
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    for kind in [
        "LunaVM",
        "LunaVolume",
        "LunaFloatingIP",
        "LunaNetwork",
        "LunaSSHKey",
        "LunaStartupScript",
    ] {
        assert_eq!(
            kinds.iter().filter(|k| **k == kind).count(),
            1,
            "{kind} in {exported}"
        );
    }
    let records: Vec<&serde_json::Value> = documents
        .iter()
        .filter(|d| d["kind"] == "LunaDynamicRecord")
        .map(|d| &d["spec"])
        .collect();
    assert_eq!(records.len(), 2, "{exported}");
    let at = |name: &str| records.iter().find(|r| r["name"] == name).copied();
    assert_eq!(
        at("exp-home").map(|r| &r["vmRef"]["name"]),
        Some(&json!("exp-web"))
    );
    assert_eq!(at("exp-other").map(|r| &r["ip"]), Some(&json!("192.0.2.7")));
    let zone_manifest = documents
        .iter()
        .find(|d| d["kind"] == "LunaDnsZone" && d["spec"]["origin"] == "exp-zone.example")
        .unwrap_or_else(|| panic!("exp-zone.example in {exported}"));
    let records = zone_manifest["spec"]["records"].as_array().unwrap();
    let record = |name: &str, kind: &str| {
        records
            .iter()
            .find(|r| r["name"] == name && r["type"] == kind)
            .unwrap_or_else(|| panic!("{name} {kind} in {exported}"))
    };
    assert_eq!(record("www", "A")["vmRef"]["name"], "exp-web", "{exported}");
    assert_eq!(
        record("docs", "CNAME")["data"],
        "www.exp-zone.example.",
        "{exported}"
    );
    assert_eq!(record("@", "TXT")["ttl"], 300, "{exported}");
    assert!(
        records.iter().all(|r| r["type"] != "MX"),
        "a record of another type stays in the zone, out of the manifest: {exported}"
    );
    let balancer = documents
        .iter()
        .find(|d| d["kind"] == "LunaLoadBalancer")
        .unwrap_or_else(|| panic!("a load balancer in {exported}"));
    assert_eq!(
        balancer["spec"]["networkRef"]["name"], "exp-net",
        "{exported}"
    );
    assert_eq!(
        balancer["spec"]["members"],
        json!([{"vmRef": {"name": "exp-web"}}, {"ip": "10.66.0.200", "port": 8080}]),
        "{exported}"
    );
    let firewall = documents
        .iter()
        .find(|d| d["kind"] == "LunaSecurityGroup" && d["spec"]["name"] == "exp-fw")
        .unwrap_or_else(|| panic!("exp-fw in {exported}"));
    assert_eq!(firewall["spec"]["import"]["id"], group_id.as_str());
    assert_eq!(
        firewall["spec"]["rules"],
        json!([{"protocol": "TCP", "portMin": 22, "portMax": 22, "cidr": "10.0.0.0/8", "label": "ssh"}]),
        "{exported}"
    );
    let volume_manifest = documents
        .iter()
        .find(|d| d["kind"] == "LunaVolume")
        .unwrap();
    assert_eq!(
        volume_manifest["spec"]["attachTo"]["vmRef"]["name"], "exp-web",
        "{exported}"
    );
    assert_eq!(volume_manifest["spec"]["deletionPolicy"], "Orphan");
    assert_eq!(volume_manifest["spec"]["import"]["id"], volume_id.as_str());
    let before = world.sim.writes().await;
    // Planned without a cluster, the exported folder adopts every object by its ID and has
    // nothing to change: exit 0 with --detailed-exitcode (2 would mean a create or an update).
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("exported.yaml");
    std::fs::write(&file, &exported).unwrap();
    let file = file.to_str().unwrap();
    let planned = run_cli(
        &world,
        &["plan", "--offline", "--detailed-exitcode", "-f", file],
    );
    let lines: Vec<&str> = planned
        .lines()
        .filter(|line| !line.starts_with("Plan: "))
        .collect();
    assert_eq!(lines.len(), documents.len(), "{planned}");
    for line in &lines {
        assert!(
            line.contains(": in sync (adopts ") && line.contains(" by spec.import.id"),
            "{line}\n{planned}"
        );
    }
    assert!(
        planned.contains("Plan: 0 to create, 0 to update,") && planned.contains("adopted"),
        "{planned}"
    );
    // Applied in the order written (VMs first, so that references find them): every object
    // adopts its own and is Ready.
    for document in &documents {
        let id = match document["kind"].as_str().unwrap() {
            "LunaVM" => adopt::<LunaVM>(&world, document).await,
            "LunaVolume" => adopt::<LunaVolume>(&world, document).await,
            "LunaFloatingIP" => adopt::<LunaFloatingIP>(&world, document).await,
            "LunaNetwork" => adopt::<LunaNetwork>(&world, document).await,
            "LunaSecurityGroup" => adopt::<LunaSecurityGroup>(&world, document).await,
            "LunaDnsZone" => adopt::<LunaDnsZone>(&world, document).await,
            "LunaLoadBalancer" => adopt::<LunaLoadBalancer>(&world, document).await,
            "LunaSSHKey" => adopt::<LunaSSHKey>(&world, document).await,
            "LunaStartupScript" => adopt::<LunaStartupScript>(&world, document).await,
            "LunaDynamicRecord" => adopt::<LunaDynamicRecord>(&world, document).await,
            other => panic!("unexpected kind {other}"),
        };
        assert_eq!(
            id.as_deref(),
            document["spec"]["import"]["id"].as_str(),
            "{document}"
        );
    }
    // ... without a single write to the cloud.
    assert_eq!(
        world.sim.writes().await,
        before,
        "no create, no change: the exported specs are the cloud's"
    );
    // Against the cluster now: the objects hold their IDs, nothing to adopt or change.
    let planned = run_cli_with(
        &world,
        &["plan", "--detailed-exitcode", "-f", file],
        &[(
            "KUBECONFIG",
            support::control_plane().kubeconfig.to_str().unwrap(),
        )],
    );
    assert!(!planned.contains("adopts"), "{planned}");
    assert_eq!(
        planned
            .lines()
            .filter(|line| line.contains(": in sync ("))
            .count(),
        documents.len(),
        "{planned}"
    );
}
