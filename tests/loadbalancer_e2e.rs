//! LunaLoadBalancer end to end: the real control plane, the simulator and the operator as
//! separate processes, one namespace, simulator and operator per test. The assertions count the
//! simulator's `lb/*` calls, so a pool that is rewritten instead of diffed, or read too often,
//! fails them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{collections::BTreeSet, time::Duration};

use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use lunanode_operator::{
    api::{
        common::{
            DeletionPolicy, ImportSpec, LocalObjectReference, ManagedResource, Placement,
            find_condition,
        },
        floating::{LunaFloatingIP, LunaFloatingIPSpec},
        loadbalancer::{LbMemberSpec, LbProtocol, LunaLoadBalancer, LunaLoadBalancerSpec},
        network::{LunaNetwork, LunaNetworkSpec},
        vm::{LunaVM, LunaVMSpec},
    },
    lunanode::types::LbCreate,
};
use serde_json::{Value, json};
use support::{World, wait};

const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const WAIT: Duration = Duration::from_secs(120);
const REGION: &str = "toronto";

/// The simulator's objects of the world's account, by kind (`vms`, `load_balancers`, ...).
async fn cloud_objects(world: &World, kind: &str) -> Vec<Value> {
    let state = world.sim.state().await;
    state["accounts"][&world.account.0][kind]
        .as_object()
        .map(|objects| objects.values().cloned().collect())
        .unwrap_or_default()
}

/// The only load balancer in the simulator.
async fn cloud_lb(world: &World) -> Value {
    let lbs = cloud_objects(world, "load_balancers").await;
    assert_eq!(lbs.len(), 1, "one load balancer: {lbs:?}");
    lbs.into_iter().next().unwrap()
}

/// `(ip, port)` of every member of a simulator load balancer.
fn members(lb: &Value) -> BTreeSet<(String, u64)> {
    lb["members"]
        .as_object()
        .unwrap()
        .values()
        .map(|member| {
            (
                member["ip"].as_str().unwrap().to_owned(),
                member["port"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn private_ip(vm: &LunaVM) -> String {
    vm.status
        .as_ref()
        .and_then(|status| status.at_provider.as_ref())
        .and_then(|at| at.networking.private_ip.clone())
        .expect("a private IP")
}

fn pool(entries: &[(&str, u64)]) -> BTreeSet<(String, u64)> {
    entries
        .iter()
        .map(|(ip, port)| ((*ip).to_owned(), *port))
        .collect()
}

fn member_count(lb: &LunaLoadBalancer) -> Option<u32> {
    lb.status.as_ref()?.at_provider.as_ref()?.member_count
}

async fn set_members(world: &World, name: &str, members: &[LbMemberSpec]) {
    world
        .api::<LunaLoadBalancer>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"members": members}})),
        )
        .await
        .expect("patch members");
}

async fn create_vm(world: &World, name: &str) {
    world
        .create(&LunaVM::new(name, LunaVMSpec::new(name, "m.1", IMAGE)))
        .await;
}

#[tokio::test]
async fn members_follow_the_manifest_and_deleting_everything_leaves_nothing() {
    let world = World::start("lb", 'a').await;
    world
        .create(&LunaNetwork::new(
            "lb-net",
            LunaNetworkSpec::new("lb-net", "10.20.30.0/24"),
        ))
        .await;
    create_vm(&world, "app-1").await;
    create_vm(&world, "app-2").await;
    let mut spec = LunaLoadBalancerSpec::new("lb-net", 80);
    spec.protocol = LbProtocol::Http;
    spec.members = vec![
        LbMemberSpec::vm("app-1", 8080),
        LbMemberSpec::vm("app-2", 8080),
    ];
    world.create(&LunaLoadBalancer::new("front", spec)).await;

    // Both VMs become members, by their private IPs.
    let ready = world
        .until::<LunaLoadBalancer>("front", "Ready with 2 members", |lb| {
            wait::is_ready(lb) && member_count(lb) == Some(2)
        })
        .await;
    let app1 = private_ip(&world.api::<LunaVM>().get("app-1").await.unwrap());
    let app2 = private_ip(&world.api::<LunaVM>().get("app-2").await.unwrap());
    let lb = cloud_lb(&world).await;
    assert_eq!(members(&lb), pool(&[(&app1, 8080), (&app2, 8080)]));
    assert_eq!(lb["protocol"], "HTTP");
    let network = world.api::<LunaNetwork>().get("lb-net").await.unwrap();
    assert_eq!(Some(lb["net_id"].as_str().unwrap()), network.status_id());
    let status = ready.status.clone().unwrap();
    assert_eq!(status.managed.id.as_deref(), lb["id"].as_str());
    assert_eq!(
        status.at_provider.unwrap().status.as_deref(),
        Some("active")
    );
    assert!(
        ready
            .finalizers()
            .iter()
            .any(|f| f == "lunaloadbalancers.lunanode.com/cleanup")
    );
    assert_eq!(world.sim.calls("lb/create").await, 1);
    assert_eq!(world.sim.calls("lb/member_add").await, 2);
    assert_eq!(world.sim.calls("lb/member_remove").await, 0);
    eprintln!(
        "converged: lb/list {} lb/info {} lb/member_add {}",
        world.sim.calls("lb/list").await,
        world.sim.calls("lb/info").await,
        world.sim.calls("lb/member_add").await
    );

    // Steady state: no pool reads, no writes; the list is shared and slow.
    let info_before = world.sim.calls("lb/info").await;
    let list_before = world.sim.calls("lb/list").await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let info_calls = world.sim.calls("lb/info").await - info_before;
    let list_calls = world.sim.calls("lb/list").await - list_before;
    eprintln!("steady state, 12 s: lb/info {info_calls}, lb/list {list_calls}");
    assert_eq!(info_calls, 0, "no lb/info while nothing changes");
    assert!(list_calls <= 4, "a slow list poll, got {list_calls}");
    assert_eq!(world.sim.calls("lb/member_add").await, 2);

    // Create-only fields: the apiserver refuses the edit, with the rule's message.
    for change in [json!({"port": 81}), json!({"method": "SOURCE_IP"})] {
        let refused = world
            .api::<LunaLoadBalancer>()
            .patch(
                "front",
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": change })),
            )
            .await;
        support::assert_rejected(
            refused,
            "region, method, protocol, port and connectionLimit are immutable",
        );
    }
    let refused = world
        .api::<LunaLoadBalancer>()
        .patch(
            "front",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"networkRef": {"name": "other"}}})),
        )
        .await;
    support::assert_rejected(refused, "networkRef is immutable");
    let mut both = LunaLoadBalancerSpec::new("lb-net", 80);
    both.placement.net_id = Some("9".into());
    support::assert_rejected(
        world
            .api::<LunaLoadBalancer>()
            .create(&PostParams::default(), &LunaLoadBalancer::new("both", both))
            .await,
        "set at most one of networkRef and netId",
    );
    let mut ambiguous = LunaLoadBalancerSpec::new("lb-net", 80);
    ambiguous.members = vec![LbMemberSpec {
        ip: Some("10.0.0.9".into()),
        ..LbMemberSpec::vm("app-1", 80)
    }];
    support::assert_rejected(
        world
            .api::<LunaLoadBalancer>()
            .create(
                &PostParams::default(),
                &LunaLoadBalancer::new("ambiguous", ambiguous),
            )
            .await,
        "set exactly one of vmRef and ip",
    );

    // A third VM joins the manifest: one member_add, nothing removed.
    create_vm(&world, "app-3").await;
    set_members(
        &world,
        "front",
        &[
            LbMemberSpec::vm("app-1", 8080),
            LbMemberSpec::vm("app-2", 8080),
            LbMemberSpec::vm("app-3", 8080),
        ],
    )
    .await;
    world
        .until::<LunaLoadBalancer>("front", "Ready with 3 members", |lb| {
            wait::is_ready(lb) && member_count(lb) == Some(3)
        })
        .await;
    let app3 = private_ip(&world.api::<LunaVM>().get("app-3").await.unwrap());
    assert_eq!(
        members(&cloud_lb(&world).await),
        pool(&[(&app1, 8080), (&app2, 8080), (&app3, 8080)])
    );
    assert_eq!(world.sim.calls("lb/member_add").await, 3);
    assert_eq!(world.sim.calls("lb/member_remove").await, 0);

    // The second leaves the manifest: one member_remove, nothing added.
    set_members(
        &world,
        "front",
        &[
            LbMemberSpec::vm("app-1", 8080),
            LbMemberSpec::vm("app-3", 8080),
        ],
    )
    .await;
    world.delete::<LunaVM>("app-2").await;
    world
        .until::<LunaLoadBalancer>("front", "Ready with 2 members", |lb| {
            wait::is_ready(lb) && member_count(lb) == Some(2)
        })
        .await;
    assert_eq!(
        members(&cloud_lb(&world).await),
        pool(&[(&app1, 8080), (&app3, 8080)])
    );
    assert_eq!(world.sim.calls("lb/member_add").await, 3);
    assert_eq!(world.sim.calls("lb/member_remove").await, 1);
    eprintln!(
        "after the manifest changes: lb/info {} lb/member_add {} lb/member_remove {}",
        world.sim.calls("lb/info").await,
        world.sim.calls("lb/member_add").await,
        world.sim.calls("lb/member_remove").await
    );

    // Delete everything at once: the network waits for the load balancer and the VMs.
    world.delete::<LunaLoadBalancer>("front").await;
    for vm in ["app-1", "app-2", "app-3"] {
        let _ = world
            .api::<LunaVM>()
            .delete(vm, &DeleteParams::default())
            .await;
    }
    world.delete::<LunaNetwork>("lb-net").await;
    wait::gone(&world.api::<LunaLoadBalancer>(), "front", WAIT).await;
    for vm in ["app-1", "app-2", "app-3"] {
        wait::gone(&world.api::<LunaVM>(), vm, WAIT).await;
    }
    wait::gone(&world.api::<LunaNetwork>(), "lb-net", WAIT).await;
    for kind in ["load_balancers", "vms", "networks", "floating_ips"] {
        let left = cloud_objects(&world, kind).await;
        assert!(left.is_empty(), "no {kind} left: {left:?}");
    }
    assert_eq!(world.sim.calls("lb/delete").await, 1);
    assert_eq!(world.sim.calls("lb/create").await, 1, "never created twice");
    assert!(
        !world.operator().logs().contains(&world.account.1),
        "the key never appears in logs"
    );
}

#[tokio::test]
async fn a_member_follows_its_vm_and_leaves_with_it() {
    let world = World::start("lb", 'b').await;
    let cloud = world.cloud();
    // A network made outside the operator, named by ID.
    let net_id = cloud
        .network_create(REGION, "outside", "10.40.50", "8.8.8.8")
        .await
        .unwrap()
        .expect("a net_id");
    create_vm(&world, "app-1").await;
    let mut spec = LunaLoadBalancerSpec {
        placement: Placement {
            net_id: Some(net_id.clone()),
            ..Placement::default()
        },
        ..LunaLoadBalancerSpec::new("unused", 80)
    };
    // No port: the member takes the load balancer's.
    spec.members = vec![LbMemberSpec {
        port: None,
        ..LbMemberSpec::vm("app-1", 1)
    }];
    world.create(&LunaLoadBalancer::new("front", spec)).await;
    world
        .until::<LunaLoadBalancer>("front", "Ready with 1 member", |lb| {
            wait::is_ready(lb) && member_count(lb) == Some(1)
        })
        .await;
    let vm = world.api::<LunaVM>().get("app-1").await.unwrap();
    let first_ip = private_ip(&vm);
    assert_eq!(members(&cloud_lb(&world).await), pool(&[(&first_ip, 80)]));

    // The VM is deleted behind the operator's back; the LunaVM makes a new one, with a new
    // private IP, and the member follows it.
    cloud.vm_delete(vm.status_id().unwrap()).await.unwrap();
    let moved = world
        .until::<LunaVM>("app-1", "Ready with a new private IP", |vm| {
            wait::is_ready(vm)
                && vm
                    .status
                    .as_ref()
                    .and_then(|status| status.at_provider.as_ref())
                    .and_then(|at| at.networking.private_ip.as_deref())
                    .is_some_and(|ip| ip != first_ip)
        })
        .await;
    let second_ip = private_ip(&moved);
    let sim = &world.sim;
    let account = &world.account.0;
    let wanted = pool(&[(&second_ip, 80)]);
    support::eventually(WAIT, "the member to follow the VM", || {
        let wanted = wanted.clone();
        async move {
            let state = sim.state().await;
            let lb = state["accounts"][account]["load_balancers"]
                .as_object()?
                .values()
                .next()?
                .clone();
            (members(&lb) == wanted).then_some(())
        }
    })
    .await;
    world
        .until::<LunaLoadBalancer>("front", "Ready with 1 member", |lb| {
            wait::is_ready(lb) && member_count(lb) == Some(1)
        })
        .await;
    assert_eq!(world.sim.calls("lb/member_add").await, 2);
    assert_eq!(world.sim.calls("lb/member_remove").await, 1);

    // The VM goes while the spec still names it: its member goes too, and the load balancer
    // says what it waits for.
    world.delete::<LunaVM>("app-1").await;
    let waiting = world
        .until::<LunaLoadBalancer>("front", "MembersPending with no member", |lb| {
            find_condition(lb.conditions(), "Ready").is_some_and(|r| r.reason == "MembersPending")
                && member_count(lb) == Some(0)
        })
        .await;
    let message = &find_condition(waiting.conditions(), "Ready")
        .unwrap()
        .message;
    assert!(message.contains("app-1"), "{message}");
    assert!(members(&cloud_lb(&world).await).is_empty());
    assert_eq!(world.sim.calls("lb/member_remove").await, 2);
    assert_eq!(world.sim.calls("lb/member_add").await, 2);

    // Clean up: the load balancer, then the network made outside.
    world.delete::<LunaLoadBalancer>("front").await;
    wait::gone(&world.api::<LunaLoadBalancer>(), "front", WAIT).await;
    wait::gone(&world.api::<LunaVM>(), "app-1", WAIT).await;
    cloud.network_delete(REGION, &net_id).await.unwrap();
    for kind in ["load_balancers", "vms", "networks"] {
        let left = cloud_objects(&world, kind).await;
        assert!(left.is_empty(), "no {kind} left: {left:?}");
    }
}

#[tokio::test]
async fn import_takes_over_the_pool_and_associates_the_floating_ip() {
    let world = World::start("lb", 'c').await;
    let cloud = world.cloud();
    // A load balancer made by hand, with a member of its own.
    let net_id = cloud
        .network_create(REGION, "legacy-net", "10.60.70", "8.8.8.8")
        .await
        .unwrap()
        .unwrap();
    let lb_id = cloud
        .lb_create(&LbCreate {
            region: REGION.into(),
            net_id: net_id.clone(),
            name: "legacy".into(),
            method: "ROUND_ROBIN".into(),
            protocol: "TCP".into(),
            connection_limit: -1,
            port: 80,
        })
        .await
        .unwrap()
        .unwrap();
    cloud
        .lb_member_add(REGION, &lb_id, "10.60.70.99", 80)
        .await
        .unwrap();
    let floating = cloud.floating_add(REGION).await.unwrap();
    let floating_id = floating.id.clone().expect("a floating IP ID");

    // The address comes through a LunaFloatingIP that adopts it.
    let floating_ips: Api<LunaFloatingIP> = world.api();
    let mut floating_spec = LunaFloatingIPSpec::new();
    floating_spec.managed.import = Some(ImportSpec {
        id: Some(floating_id.clone()),
    });
    floating_spec.managed.deletion_policy = DeletionPolicy::Orphan;
    floating_ips
        .create(
            &PostParams::default(),
            &LunaFloatingIP::new("front-ip", floating_spec),
        )
        .await
        .unwrap();

    let mut spec = LunaLoadBalancerSpec {
        placement: Placement {
            net_id: Some(net_id.clone()),
            ..Placement::default()
        },
        ..LunaLoadBalancerSpec::new("unused", 80)
    };
    spec.managed.import = Some(ImportSpec {
        id: Some(lb_id.clone()),
    });
    spec.members = vec![LbMemberSpec::ip("10.60.70.10", 8080)];
    spec.placement.floating_ip_ref = Some(LocalObjectReference::new("front-ip"));
    world.create(&LunaLoadBalancer::new("adopted", spec)).await;

    // The pool becomes the spec's at once; the association waits for the LunaFloatingIP's
    // address, unless its controller has published it already.
    world
        .until::<LunaLoadBalancer>("adopted", "the pool taken over", |lb| {
            find_condition(lb.conditions(), "Ready").is_some_and(|ready| {
                ready.reason == "FloatingIPPending" || ready.reason == "Available"
            }) && member_count(lb) == Some(1)
        })
        .await;
    let lb = cloud_lb(&world).await;
    assert_eq!(lb["id"].as_str(), Some(lb_id.as_str()));
    assert_eq!(members(&lb), pool(&[("10.60.70.10", 8080)]));
    assert_eq!(
        world.sim.calls("lb/create").await,
        1,
        "adopted, not created"
    );
    assert_eq!(
        world.sim.calls("lb/member_remove").await,
        1,
        "the foreign member"
    );
    assert_eq!(
        world.sim.calls("lb/member_add").await,
        2,
        "the test's and the spec's"
    );

    // The LunaFloatingIP controller publishes the address; then the association follows.
    let ready = world.ready::<LunaLoadBalancer>("adopted").await;
    let status = ready.status.unwrap();
    assert_eq!(status.managed.id.as_deref(), Some(lb_id.as_str()));
    assert_eq!(
        status.at_provider.unwrap().floating_ip.as_deref(),
        Some(floating.ip.as_str())
    );
    assert_eq!(world.sim.calls("lb/associate").await, 1);
    let ips = cloud_objects(&world, "floating_ips").await;
    assert_eq!(
        ips[0]["attachment"],
        json!({"type": "lb", "id": lb_id}),
        "{ips:?}"
    );

    // Events tell what happened.
    let reasons: BTreeSet<String> = world.event_reasons("adopted").await.into_iter().collect();
    for reason in ["Adopted", "MembersUpdated", "FloatingIPAssociated"] {
        assert!(reasons.contains(reason), "{reason} in {reasons:?}");
    }

    // Deleting it deletes the adopted load balancer; the address stays on the account.
    world.delete::<LunaLoadBalancer>("adopted").await;
    wait::gone(&world.api::<LunaLoadBalancer>(), "adopted", WAIT).await;
    assert!(cloud_objects(&world, "load_balancers").await.is_empty());
    let ips = cloud_objects(&world, "floating_ips").await;
    assert_eq!(ips.len(), 1);
    assert_eq!(ips[0]["attachment"]["type"], "unattached");
    cloud.floating_delete(REGION, &floating.ip).await.unwrap();
    cloud.network_delete(REGION, &net_id).await.unwrap();
}

#[tokio::test]
async fn a_lost_create_answer_and_a_crash_still_make_one_load_balancer() {
    let mut world = World::start("lb", 'd').await;
    let cloud = world.cloud();
    let net_id = cloud
        .network_create(REGION, "net", "10.80.90", "8.8.8.8")
        .await
        .unwrap()
        .unwrap();
    // Every lb/create is carried out, then its answer is dropped.
    world
        .sim
        .admin_post(
            "faults",
            json!({"drop_after_commit_rate": 1.0, "actions": ["lb/create"], "timeout_ms": 2000}),
        )
        .await;
    let spec = LunaLoadBalancerSpec {
        placement: Placement {
            net_id: Some(net_id.clone()),
            ..Placement::default()
        },
        members: vec![LbMemberSpec::ip("10.80.90.5", 80)],
        ..LunaLoadBalancerSpec::new("unused", 80)
    };
    world.create(&LunaLoadBalancer::new("once", spec)).await;
    let sim = &world.sim;
    support::eventually(WAIT, "a create attempt", || async move {
        (sim.calls("lb/create").await >= 1).then_some(())
    })
    .await;
    // Crash, and let the answers through again.
    world.operator_mut().restart();
    world.sim.admin_post("faults", json!({})).await;
    let ready = world
        .until::<LunaLoadBalancer>("once", "Ready with 1 member", |lb| {
            wait::is_ready(lb) && member_count(lb) == Some(1)
        })
        .await;
    let lb = cloud_lb(&world).await;
    assert_eq!(
        ready.status.unwrap().managed.id.as_deref(),
        lb["id"].as_str()
    );
    assert_eq!(world.sim.calls("lb/create").await, 1, "found again by name");
    assert_eq!(world.sim.calls("lb/member_add").await, 1);
    world.delete::<LunaLoadBalancer>("once").await;
    wait::gone(&world.api::<LunaLoadBalancer>(), "once", WAIT).await;
    assert!(cloud_objects(&world, "load_balancers").await.is_empty());
}
