//! LunaNetwork, LunaFloatingIP and LunaVolume end to end: the real control plane, the simulator
//! and the operator as separate processes, one of each per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams},
};
use lunanode_operator::api::{
    common::{
        AttachedVm, DeletionPolicy, ImportSpec, LocalObjectReference, ManagedResource,
        is_condition_true,
    },
    dnszone::{DnsRecordSpec, DnsRecordType, LunaDnsZone, LunaDnsZoneSpec},
    floating::{FloatingIPAttachment, LunaFloatingIP, LunaFloatingIPSpec},
    network::{LunaNetwork, LunaNetworkSpec},
    vm::{LunaVM, LunaVMSpec},
    volume::{LunaVolume, LunaVolumeSpec, VolumeAttachment},
};
use serde_json::{Value, json};
use support::World;

const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const WAIT: Duration = support::wait::WAIT;

fn status_id<K: ManagedResource>(object: &K) -> String {
    object.status_id().expect("a cloud id").to_owned()
}

#[tokio::test]
async fn network_is_used_by_reference_and_protected_while_in_use() {
    let world = World::start("infra", 'n').await;
    world
        .create(&LunaNetwork::new(
            "backend",
            LunaNetworkSpec::new("e2e-backend", "10.77.1.0/24"),
        ))
        .await;
    let network: LunaNetwork = world.ready("backend").await;
    let net_id = status_id(&network);
    let listed = world.sim.objects("networks").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], json!(net_id));
    assert_eq!(listed[0]["prefix"], json!("10.77.1"));

    // A LunaVM on the network by reference.
    let mut spec = LunaVMSpec::new("net-app", "m.1", IMAGE);
    spec.placement.network_ref = Some(LocalObjectReference::new("backend"));
    world.create(&LunaVM::new("app", spec)).await;
    let vm: LunaVM = world.ready("app").await;
    let vms = world.sim.vms().await;
    assert_eq!(vms.len(), 1);
    assert_eq!(vms[0]["net_id"], json!(net_id), "the VM joined the network");
    assert!(
        vm.status
            .unwrap()
            .at_provider
            .unwrap()
            .networking
            .private_ip
            .unwrap()
            .starts_with("10.77.1."),
        "private address from the network's subnet"
    );

    // Deleting the network waits for the VM, and says so.
    world.delete::<LunaNetwork>("backend").await;
    let in_use = world
        .condition::<LunaNetwork>("backend", "network InUse", |c| {
            c.type_ == "Ready" && c.reason == "InUse"
        })
        .await;
    assert!(in_use.message.contains("LunaVM"), "{}", in_use.message);
    assert_eq!(
        world.sim.objects("networks").await.len(),
        1,
        "not deleted while in use"
    );
    assert_eq!(world.sim.calls("network/delete").await, 0);

    // Once the VM is gone, the network goes too.
    world.delete::<LunaVM>("app").await;
    world.gone::<LunaVM>("app").await;
    world.gone::<LunaNetwork>("backend").await;
    assert_eq!(world.sim.objects("networks").await.len(), 0);
    assert_eq!(world.sim.objects("vms").await.len(), 0);
    assert_eq!(world.sim.calls("network/create").await, 1);

    // Import: a network made outside the operator is adopted, and deleted with the object.
    let cloud = world.cloud();
    let outside = cloud
        .network_create("toronto", "outside", "10.77.2", "8.8.8.8")
        .await
        .unwrap()
        .expect("network id");
    let mut spec = LunaNetworkSpec::new("outside", "10.77.2.0/24");
    spec.managed.import = Some(ImportSpec {
        id: Some(outside.clone()),
    });
    world.create(&LunaNetwork::new("adopted", spec)).await;
    let adopted: LunaNetwork = world.ready("adopted").await;
    assert_eq!(status_id(&adopted), outside);
    assert_eq!(
        world.sim.calls("network/create").await,
        2,
        "adopted, not created"
    );
    world.delete::<LunaNetwork>("adopted").await;
    world.gone::<LunaNetwork>("adopted").await;
    assert_eq!(world.sim.objects("networks").await.len(), 0, "nothing left");
}

#[tokio::test]
async fn floating_ip_attaches_by_reference_and_is_released() {
    let world = World::start("infra", 'f').await;
    world
        .create(&LunaVM::new(
            "web",
            LunaVMSpec::new("fip-web", "m.1", IMAGE),
        ))
        .await;
    let vm: LunaVM = world.ready("web").await;
    let vm_id = status_id(&vm);

    let mut spec = LunaFloatingIPSpec::new();
    spec.attach_to = Some(FloatingIPAttachment {
        vm: AttachedVm::vm_ref("web"),
        private_ip: None,
    });
    spec.reverse_dns = Some("www.example.com".into());
    world.create(&LunaFloatingIP::new("public", spec)).await;
    let ip: LunaFloatingIP = world.ready("public").await;
    let status = ip.status.clone().unwrap();
    let address = status.address.clone().expect("an address");
    let at = status.at_provider.clone().unwrap();
    assert_eq!(at.attached_id.as_deref(), Some(vm_id.as_str()));
    assert_eq!(at.reverse_dns.as_deref(), Some("www.example.com"));
    let listed: Vec<Value> = world
        .sim
        .objects("floating_ips")
        .await
        .into_iter()
        .filter(|f| f["ip"] == json!(address))
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["attachment"],
        json!({ "type": "vm", "id": vm_id })
    );
    assert_eq!(world.sim.calls("floating/add").await, 1);
    assert_eq!(world.sim.calls("vm/floatingip-add").await, 1);

    // Update: a new reverse DNS name is one dns/set.
    let sets = world.sim.calls("dns/set").await;
    world
        .patch_spec::<LunaFloatingIP>("public", json!({"reverseDns": "api.example.com"}))
        .await;
    let ip: LunaFloatingIP = world.ready("public").await;
    assert_eq!(
        ip.status
            .unwrap()
            .at_provider
            .unwrap()
            .reverse_dns
            .as_deref(),
        Some("api.example.com")
    );
    assert_eq!(world.sim.calls("dns/set").await, sets + 1);

    // Deleting the VM waits for the address that holds it; deleting both converges.
    world.delete::<LunaVM>("web").await;
    world
        .condition::<LunaVM>("web", "VM InUse", |c| c.reason == "InUse")
        .await;
    assert_eq!(world.sim.calls("vm/delete").await, 0);
    world.delete::<LunaFloatingIP>("public").await;
    world.gone::<LunaFloatingIP>("public").await;
    world.gone::<LunaVM>("web").await;
    assert_eq!(
        world.sim.objects("floating_ips").await.len(),
        0,
        "nothing left"
    );
    assert_eq!(world.sim.objects("vms").await.len(), 0);

    // Import and Orphan: an address allocated outside is adopted, then kept on delete.
    let cloud = world.cloud();
    let added = cloud.floating_add("toronto").await.unwrap();
    let id = added.id.clone().expect("floating id");
    let mut spec = LunaFloatingIPSpec::new();
    spec.managed.import = Some(ImportSpec {
        id: Some(id.clone()),
    });
    spec.managed.deletion_policy = DeletionPolicy::Orphan;
    world.create(&LunaFloatingIP::new("kept", spec)).await;
    let kept: LunaFloatingIP = world.ready("kept").await;
    assert_eq!(status_id(&kept), id);
    assert_eq!(
        kept.status.unwrap().address.as_deref(),
        Some(added.ip.as_str())
    );
    world.delete::<LunaFloatingIP>("kept").await;
    world.gone::<LunaFloatingIP>("kept").await;
    assert_eq!(
        world.sim.objects("floating_ips").await.len(),
        1,
        "Orphan keeps the address"
    );
    assert_eq!(
        world.sim.calls("floating/add").await,
        2,
        "adopted, not allocated"
    );
}

#[tokio::test]
async fn vm_takes_its_address_from_a_floating_ip_reference() {
    let world = World::start("infra", 'r').await;
    world
        .create(&LunaFloatingIP::new("addr", LunaFloatingIPSpec::new()))
        .await;
    let ip: LunaFloatingIP = world.ready("addr").await;
    let address = ip.status.unwrap().address.unwrap();
    let mut spec = LunaVMSpec::new("ref-web", "m.1", IMAGE);
    spec.placement.floating_ip_ref = Some(LocalObjectReference::new("addr"));
    world.create(&LunaVM::new("web", spec)).await;
    let vm: LunaVM = world.ready("web").await;
    assert_eq!(
        vm.status
            .clone()
            .unwrap()
            .at_provider
            .unwrap()
            .networking
            .ip
            .as_deref(),
        Some(address.as_str()),
        "the VM's public IP is the LunaFloatingIP's address"
    );
    let vm_id = status_id(&vm);
    world
        .until::<LunaFloatingIP>("addr", "the LunaFloatingIP reports the attachment", |ip| {
            let attached = ip.status.as_ref().and_then(|s| s.at_provider.as_ref());
            attached.and_then(|at| at.attached_id.as_deref()) == Some(vm_id.as_str())
        })
        .await;

    // The address is held by the VM: its deletion waits until the VM lets go; deleting the VM
    // keeps the address (detached first), and then the address goes.
    world.delete::<LunaFloatingIP>("addr").await;
    world
        .condition::<LunaFloatingIP>("addr", "address InUse", |c| c.reason == "InUse")
        .await;
    assert_eq!(world.sim.calls("floating/delete").await, 0);
    world.delete::<LunaVM>("web").await;
    world.gone::<LunaVM>("web").await;
    world.gone::<LunaFloatingIP>("addr").await;
    assert_eq!(
        world.sim.objects("floating_ips").await.len(),
        0,
        "nothing left"
    );
    assert_eq!(
        world.sim.calls("floating/delete").await,
        1,
        "released by its owner"
    );
}

#[tokio::test]
async fn volume_attaches_grows_moves_and_is_deleted_with_its_vm() {
    let world = World::start("infra", 'v').await;
    world
        .create(&LunaVM::new("db", LunaVMSpec::new("vol-db", "m.1", IMAGE)))
        .await;
    let mut spec = LunaVolumeSpec::new("e2e-data", 10);
    spec.attach_to = Some(VolumeAttachment::vm_ref("db"));
    world.create(&LunaVolume::new("data", spec)).await;
    let volume: LunaVolume = world.ready("data").await;
    let vm: LunaVM = world.ready("db").await;
    let vm_id = status_id(&vm);
    let volume_id = status_id(&volume);

    // Attached, on both sides.
    let at = volume.status.clone().unwrap().at_provider.unwrap();
    assert_eq!(at.attached_to.as_deref(), Some(vm_id.as_str()));
    assert_eq!(at.size, Some(10));
    let vm: LunaVM = world
        .until("db", "the VM lists the volume", |vm: &LunaVM| {
            vm.status
                .as_ref()
                .is_some_and(|status| status.attached_volumes == vec!["data".to_owned()])
        })
        .await;
    assert_eq!(vm.status.unwrap().attached_volumes, vec!["data"]);
    let listed = world.sim.objects("volumes").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["attachment"]["vm_id"], json!(vm_id));
    assert_eq!(world.sim.calls("volume/attach").await, 1);

    // Grow: one extend. Shrink: refused by the API server.
    world
        .patch_spec::<LunaVolume>("data", json!({"size": 20}))
        .await;
    let grown: LunaVolume = world.ready("data").await;
    assert_eq!(grown.status.unwrap().at_provider.unwrap().size, Some(20));
    assert_eq!(world.sim.calls("volume/extend").await, 1);
    let shrink = world
        .api::<LunaVolume>()
        .patch(
            "data",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}})),
        )
        .await
        .expect_err("shrinking is rejected");
    assert!(shrink.to_string().contains("cannot shrink"), "{shrink}");

    // A new label: one rename, attached all along.
    world
        .patch_spec::<LunaVolume>("data", json!({"label": "e2e-data-renamed"}))
        .await;
    let sim = &world.sim;
    support::eventually(support::wait::WAIT, "the volume renamed", || async move {
        let listed = sim.objects("volumes").await;
        (listed.len() == 1 && listed[0]["name"] == json!("e2e-data-renamed")).then_some(())
    })
    .await;
    world.ready::<LunaVolume>("data").await;
    assert_eq!(world.sim.calls("volume/rename").await, 1);
    assert_eq!(world.sim.calls("volume/detach").await, 0);

    // Move: to a second VM (detach, then attach).
    world
        .create(&LunaVM::new(
            "db2",
            LunaVMSpec::new("vol-db2", "m.1", IMAGE),
        ))
        .await;
    let second: LunaVM = world.ready("db2").await;
    let second_id = status_id(&second);
    world
        .patch_spec::<LunaVolume>("data", json!({"attachTo": {"vmRef": {"name": "db2"}}}))
        .await;
    let moved: LunaVolume = world
        .until("data", "volume moved", |volume: &LunaVolume| {
            let attached = volume
                .status
                .as_ref()
                .and_then(|status| status.at_provider.as_ref())
                .and_then(|at| at.attached_to.as_deref());
            attached == Some(second_id.as_str()) && is_condition_true(volume.conditions(), "Ready")
        })
        .await;
    assert_eq!(status_id(&moved), volume_id, "the same volume");
    assert_eq!(world.sim.calls("volume/detach").await, 1);
    assert_eq!(world.sim.calls("volume/attach").await, 2);

    // Delete the VM and the volume together: they converge without an error loop.
    world.delete::<LunaVM>("db2").await;
    world.delete::<LunaVolume>("data").await;
    world.delete::<LunaVM>("db").await;
    world.gone::<LunaVolume>("data").await;
    world.gone::<LunaVM>("db2").await;
    world.gone::<LunaVM>("db").await;
    assert_eq!(world.sim.objects("volumes").await.len(), 0, "nothing left");
    assert_eq!(world.sim.objects("vms").await.len(), 0, "nothing left");
    let deletes = world.sim.calls("volume/delete").await;
    assert_eq!(deletes, 1, "one delete call, no retry loop");
    assert!(world.sim.calls("volume/detach").await <= 2);

    // Import: a volume made outside is adopted.
    let cloud = world.cloud();
    let outside = cloud
        .volume_create(&lunanode_operator::lunanode::types::VolumeCreate {
            region: "toronto".into(),
            label: "outside".into(),
            size_gb: 5,
            image: None,
            snapshot_id: None,
        })
        .await
        .unwrap();
    let mut spec = LunaVolumeSpec::new("outside", 5);
    spec.managed.import = Some(ImportSpec {
        id: Some(outside.clone()),
    });
    world.create(&LunaVolume::new("adopted", spec)).await;
    let adopted: LunaVolume = world.ready("adopted").await;
    assert_eq!(status_id(&adopted), outside);
    assert_eq!(
        world.sim.calls("volume/create").await,
        2,
        "adopted, not created"
    );
    world.delete::<LunaVolume>("adopted").await;
    world.gone::<LunaVolume>("adopted").await;
    assert_eq!(world.sim.objects("volumes").await.len(), 0, "nothing left");
}

#[tokio::test]
async fn a_volume_waits_for_a_vm_that_can_take_it_and_for_slow_attaches() {
    let world = World::start("infra", 'w').await;
    // Luna Node refuses an attach while the VM builds, is shelved or is in ERROR, and attach
    // and detach take a while.
    world
        .sim
        .admin_post(
            "faults",
            json!({"vm_attach_rules": true, "volume_attach_seconds": 5}),
        )
        .await;
    let mut cold = LunaVMSpec::new("vol-cold", "m.1", IMAGE);
    cold.power_state = lunanode_operator::api::vm::PowerState::Shelved;
    world.create(&LunaVM::new("cold", cold)).await;
    let vm: LunaVM = world.ready("cold").await;
    let vm_id = status_id(&vm);
    let mut spec = LunaVolumeSpec::new("e2e-cold", 5);
    spec.attach_to = Some(VolumeAttachment::vm_ref("cold"));
    world.create(&LunaVolume::new("cold-data", spec)).await;
    let waiting: LunaVolume = world
        .until(
            "cold-data",
            "Ready=False WaitingForVM",
            |volume: &LunaVolume| {
                support::wait::condition(volume, "Ready").is_some_and(|ready| {
                    ready.reason == "WaitingForVM" && ready.message.contains("shelved")
                })
            },
        )
        .await;
    // Proof that it looked again, and still no attach was sent to the shelved VM.
    world.looked_again::<LunaVolume>("cold-data", "1").await;
    assert_eq!(world.sim.calls("volume/attach").await, 0);

    // Unshelved: one attach, waited for while it is `attaching`.
    world
        .patch_spec::<LunaVM>("cold", json!({"powerState": "Running"}))
        .await;
    let attached: LunaVolume = world
        .until("cold-data", "attached and Ready", |volume: &LunaVolume| {
            let at = volume
                .status
                .as_ref()
                .and_then(|status| status.at_provider.as_ref())
                .and_then(|at| at.attached_to.as_deref());
            at == Some(vm_id.as_str()) && is_condition_true(volume.conditions(), "Ready")
        })
        .await;
    assert_eq!(status_id(&attached), status_id(&waiting));
    assert_eq!(
        world.sim.calls("volume/attach").await,
        1,
        "attach sent once"
    );

    // Deleted: one detach, waited for while it is `detaching`, then one delete.
    world.delete::<LunaVolume>("cold-data").await;
    world.gone::<LunaVolume>("cold-data").await;
    assert_eq!(
        world.sim.calls("volume/detach").await,
        1,
        "detach sent once"
    );
    assert_eq!(world.sim.calls("volume/delete").await, 1);
    assert_eq!(world.sim.objects("volumes").await.len(), 0);
}

#[tokio::test]
async fn a_missing_reference_is_a_clear_condition_without_cloud_writes() {
    let world = World::start("infra", 'm').await;
    let mut spec = LunaVolumeSpec::new("orphan-data", 10);
    spec.attach_to = Some(VolumeAttachment::vm_ref("nowhere"));
    world.create(&LunaVolume::new("lost", spec)).await;
    let condition = world
        .condition::<LunaVolume>("lost", "VMNotFound", |c| c.reason == "VMNotFound")
        .await;
    assert!(
        condition.message.contains("nowhere"),
        "{}",
        condition.message
    );
    // The volume itself is created; only the attach waits.
    assert_eq!(world.sim.calls("volume/attach").await, 0);

    let mut spec = LunaVMSpec::new("netless", "m.1", IMAGE);
    spec.placement.network_ref = Some(LocalObjectReference::new("absent"));
    world.create(&LunaVM::new("netless", spec)).await;
    let condition = world
        .condition::<LunaVM>("netless", "NetworkNotFound", |c| {
            c.reason == "NetworkNotFound"
        })
        .await;
    assert!(
        condition.message.contains("absent"),
        "{}",
        condition.message
    );
    assert_eq!(
        world.sim.calls("vm/create").await,
        0,
        "no VM without its network"
    );

    // The reference appears: the VM follows without any nudge.
    world
        .create(&LunaNetwork::new(
            "absent",
            LunaNetworkSpec::new("e2e-late", "10.77.9.0/24"),
        ))
        .await;
    let _: LunaVM = world.ready("netless").await;
    assert_eq!(world.sim.calls("vm/create").await, 1);
}

#[tokio::test]
async fn lost_create_answers_and_a_crash_still_make_one_of_each() {
    let mut world = World::start("infra", 'c').await;
    // Every create is carried out, then its answer is dropped.
    world
        .sim
        .admin_post(
            "faults",
            json!({
                "drop_after_commit_rate": 1.0,
                "actions": ["volume/create", "floating/add", "network/create"],
                "timeout_ms": 2000
            }),
        )
        .await;
    world
        .create(&LunaVolume::new("once", LunaVolumeSpec::new("e2e-once", 5)))
        .await;
    world
        .create(&LunaFloatingIP::new("once", LunaFloatingIPSpec::new()))
        .await;
    world
        .create(&LunaNetwork::new(
            "once",
            LunaNetworkSpec::new("e2e-once", "10.77.5.0/24"),
        ))
        .await;
    let sim = &world.sim;
    support::eventually(WAIT, "a create attempt of each", || async move {
        (sim.calls("volume/create").await >= 1
            && sim.calls("floating/add").await >= 1
            && sim.calls("network/create").await >= 1)
            .then_some(())
    })
    .await;
    // Crash the operator while the answers are lost, then let the API behave again.
    world.operator_mut().restart();
    world.sim.admin_post("faults", json!({})).await;
    let _: LunaVolume = world.ready("once").await;
    let _: LunaFloatingIP = world.ready("once").await;
    let _: LunaNetwork = world.ready("once").await;
    assert_eq!(
        world.sim.objects("volumes").await.len(),
        1,
        "exactly one volume"
    );
    assert_eq!(
        world.sim.objects("floating_ips").await.len(),
        1,
        "exactly one address"
    );
    assert_eq!(
        world.sim.objects("networks").await.len(),
        1,
        "exactly one network"
    );
    world.delete::<LunaVolume>("once").await;
    world.delete::<LunaFloatingIP>("once").await;
    world.delete::<LunaNetwork>("once").await;
    world.gone::<LunaVolume>("once").await;
    world.gone::<LunaFloatingIP>("once").await;
    world.gone::<LunaNetwork>("once").await;
    assert_eq!(world.sim.objects("volumes").await.len(), 0);
    assert_eq!(world.sim.objects("floating_ips").await.len(), 0);
    assert_eq!(world.sim.objects("networks").await.len(), 0);
}

#[tokio::test]
async fn objects_deleted_with_their_credentials_secret_still_clean_up() {
    // `kubectl delete -f` of a folder that holds the Secret and the objects deletes the Secret
    // first: the cloud objects must still go, not stay with their finalizers stuck.
    let world = World::start("infra", 's').await;
    world
        .create(&LunaVolume::new(
            "data",
            LunaVolumeSpec::new("e2e-secret", 5),
        ))
        .await;
    let _: LunaVolume = world.ready("data").await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = world.api();
    secrets
        .delete("lunanode-credentials", &DeleteParams::default())
        .await
        .unwrap();
    world.delete::<LunaVolume>("data").await;
    world.gone::<LunaVolume>("data").await;
    assert_eq!(
        world.sim.objects("volumes").await.len(),
        0,
        "the volume was deleted"
    );
}

/// How many objects the simulator's lists have left out for being new.
async fn list_lag(world: &World) -> u64 {
    let stats = world.sim.admin_get("stats").await;
    stats["faults"]["list_lag"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_list_behind_its_creates_makes_nothing_twice_and_leaks_nothing() {
    let mut world = World::start("infra", 'g').await;
    // Every new object stays out of the lists for 14 s; info calls see it at once.
    world
        .sim
        .admin_post("faults", json!({"list_lag_seconds": 14}))
        .await;
    world
        .create(&LunaNetwork::new(
            "late",
            LunaNetworkSpec::new("e2e-late-list", "10.77.11.0/24"),
        ))
        .await;
    world
        .create(&LunaVM::new(
            "late-vm",
            LunaVMSpec::new("late-vm", "m.1", IMAGE),
        ))
        .await;
    // A zone whose records no list shows for 14 s after their adds: each added once.
    let mut zone = LunaDnsZoneSpec::new("late.example.com");
    zone.records = vec![
        DnsRecordSpec::vm("www", "late-vm"),
        DnsRecordSpec::data("txt", DnsRecordType::TXT, "late list"),
        DnsRecordSpec::data("mail", DnsRecordType::A, "192.0.2.25"),
    ];
    world.create(&LunaDnsZone::new("late-zone", zone)).await;
    let network = world.ready::<LunaNetwork>("late").await;
    world.ready::<LunaVM>("late-vm").await;
    world.ready::<LunaDnsZone>("late-zone").await;
    assert_eq!(
        world.sim.calls("dns2/record-add").await,
        3,
        "each record added once"
    );
    let records = world.sim.objects("records").await;
    assert_eq!(records.len(), 3, "{records:?}");
    // A restart while no list shows a record just added: the new process has no memory of
    // the add, and an absence in lists alone is trusted only once it has lasted 15 s.
    world
        .patch_spec::<LunaDnsZone>(
            "late-zone",
            json!({"records": [
                {"name": "www", "type": "A", "vmRef": {"name": "late-vm"}},
                {"name": "txt", "type": "TXT", "data": "late list"},
                {"name": "mail", "type": "A", "data": "192.0.2.25"},
                {"name": "new", "type": "TXT", "data": "added just before a restart"},
            ]}),
        )
        .await;
    let w = &world;
    support::eventually(
        support::wait::WAIT,
        "the fourth record added",
        || async move { (w.sim.calls("dns2/record-add").await == 4).then_some(()) },
    )
    .await;
    let added_at = std::time::Instant::now();
    let lists = world.sim.calls("dns2/record-list").await;
    let lagged = list_lag(&world).await;
    world.operator_mut().kill();
    world.operator_mut().restart();
    let w = &world;
    support::eventually(
        support::wait::WAIT,
        "the restarted operator to list the records twice, while the list still lacks them",
        || async move {
            let looked = w.sim.calls("dns2/record-list").await >= lists + 2;
            (looked && list_lag(w).await > lagged).then_some(())
        },
    )
    .await;
    // Until the lists show the new record again (14 s after its add), with the lists above as
    // proof that the restarted operator looked at the zone meanwhile.
    tokio::time::sleep(Duration::from_secs(16).saturating_sub(added_at.elapsed())).await;
    world.ready::<LunaDnsZone>("late-zone").await;
    let adds = world.sim.calls("dns2/record-add").await;
    assert_eq!(adds, 4, "no record added again after the restart");
    let records = world.sim.objects("records").await;
    assert_eq!(records.len(), 4, "{records:?}");
    let stats = world.sim.admin_get("stats").await;
    assert!(
        stats["faults"]["list_lag"].as_u64().unwrap_or(0) > 0,
        "the lists did leave the new objects out: {stats}"
    );
    assert_eq!(world.sim.calls("network/create").await, 1);
    assert_eq!(world.sim.calls("vm/create").await, 1);
    assert!(
        world.sim.calls("vm/info").await > 0,
        "the VM is followed by info while the list lacks it"
    );
    for name in ["late", "late-vm"] {
        let reasons = world.event_reasons(name).await;
        assert!(
            !reasons.iter().any(|reason| reason == "Recreating"),
            "{name}: {reasons:?}"
        );
    }

    // Deleted as soon as its create is answered, before any list shows it, and its deletion
    // is the first thing a restarted operator does for it: still deleted, not leaked.
    world
        .create(&LunaNetwork::new(
            "brief",
            LunaNetworkSpec::new("e2e-brief", "10.77.12.0/24"),
        ))
        .await;
    world
        .until::<LunaNetwork>("brief", "a cloud ID", |network| {
            network.status_id().is_some()
        })
        .await;
    world.operator_mut().kill();
    world.delete::<LunaNetwork>("brief").await;
    world.operator_mut().restart();
    world.gone::<LunaNetwork>("brief").await;
    assert_eq!(world.sim.calls("network/delete").await, 1, "not leaked");
    let networks = world.sim.objects("networks").await;
    assert_eq!(networks.len(), 1, "only the first network: {networks:?}");
    assert_eq!(
        networks[0]["id"].as_str(),
        Some(status_id(&network).as_str())
    );
}

#[tokio::test]
async fn a_volume_in_error_is_reported_and_still_deleted() {
    let world = World::setup("infra", 'h')
        .operator_args(&["--slow-poll-seconds", "60"])
        .start()
        .await;
    world
        .sim
        .admin_post("faults", json!({"volume_error_next": 1}))
        .await;
    world
        .create(&LunaVolume::new("bad", LunaVolumeSpec::new("e2e-bad", 5)))
        .await;
    let failed = world
        .until::<LunaVolume>("bad", "Ready=False VolumeError", |volume| {
            support::wait::condition(volume, "Ready")
                .is_some_and(|ready| ready.reason == "VolumeError")
        })
        .await;
    let message = support::wait::condition(&failed, "Ready").unwrap().message;
    assert!(
        message.contains("error") && message.contains("delete this LunaVolume"),
        "says what happened and what to do: {message}"
    );
    assert_eq!(
        support::wait::condition(&failed, "Stalled")
            .map(|c| c.reason)
            .as_deref(),
        Some("VolumeError")
    );
    // No hot loop: proved to look twice more, then a quiet minute.
    let actions = [
        "volume/list",
        "volume/info",
        "volume/create",
        "volume/extend",
        "volume/attach",
        "volume/detach",
        "volume/delete",
    ];
    let calls = |stats: &Value| -> u64 {
        actions
            .iter()
            .map(|action| support::processes::count_calls(stats, action))
            .sum()
    };
    let before = world.sim.admin_get("stats").await;
    for poke in ["1", "2"] {
        world.looked_again::<LunaVolume>("bad", poke).await;
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    let after = world.sim.admin_get("stats").await;
    let spent = calls(&after) - calls(&before);
    assert!(spent <= 3, "at most three calls in the minute, got {spent}");
    assert_eq!(world.sim.calls("volume/create").await, 1);

    world.delete::<LunaVolume>("bad").await;
    world.gone::<LunaVolume>("bad").await;
    assert_eq!(world.sim.calls("volume/delete").await, 1);
    assert!(world.sim.objects("volumes").await.is_empty());
}
