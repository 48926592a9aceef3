//! LunaLoadBalancer end to end: the real control plane, the simulator and the operator as
//! separate processes, one namespace, simulator and operator per test. The assertions count the
//! simulator's `lb/*` calls, so a pool that is rewritten instead of diffed, or read too often,
//! fails them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{collections::BTreeSet, time::Duration};

use k8s_openapi::api::events::v1::Event;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use lunanode_operator::{
    api::{
        common::{
            DeletionPolicy, ImportSpec, LocalObjectReference, ManagedResource, find_condition,
            is_condition_true,
        },
        floating::{LunaFloatingIP, LunaFloatingIPSpec},
        loadbalancer::{LbMemberSpec, LbProtocol, LunaLoadBalancer, LunaLoadBalancerSpec},
        network::{LunaNetwork, LunaNetworkSpec},
        vm::{LunaVM, LunaVMSpec},
    },
    lunanode::{self, ClientConfig, Credentials, types::LbCreate},
};
use serde_json::{Value, json};
use support::processes::{Operator, Simulator, test_account};

const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const WAIT: Duration = Duration::from_secs(120);
const REGION: &str = "toronto";

/// One test's world: namespace, simulator, operator.
struct World {
    client: kube::Client,
    ns: String,
    sim: Simulator,
    operator: Operator,
    account: (String, String),
    lbs: Api<LunaLoadBalancer>,
    vms: Api<LunaVM>,
    networks: Api<LunaNetwork>,
}

async fn world(tag: char) -> World {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, &format!("lb-{tag}")).await;
    let account = test_account(tag);
    let sim = Simulator::start(&account, &["--build-seconds", "2"]);
    support::credentials_secret(&client, &ns, "lunanode-credentials", &account.0, &account.1).await;
    let operator = Operator::start(
        &support::control_plane().kubeconfig,
        &sim.endpoint(),
        &["--namespace", &ns],
    );
    World {
        lbs: Api::namespaced(client.clone(), &ns),
        vms: Api::namespaced(client.clone(), &ns),
        networks: Api::namespaced(client.clone(), &ns),
        client,
        ns,
        sim,
        operator,
        account,
    }
}

impl World {
    /// A client on the same account, for changes made outside the operator.
    fn cloud(&self) -> lunanode::Client {
        let credentials =
            Credentials::new(self.account.0.clone(), self.account.1.clone().into()).unwrap();
        let config = ClientConfig {
            endpoint: self.sim.endpoint(),
            requests_per_second: 0.0,
            ..ClientConfig::default()
        };
        lunanode::Client::new(credentials, config).unwrap()
    }

    /// The simulator's objects of this account, by kind (`vms`, `load_balancers`, ...).
    async fn cloud_objects(&self, kind: &str) -> Vec<Value> {
        let state = self.sim.state().await;
        state["accounts"][&self.account.0][kind]
            .as_object()
            .map(|objects| objects.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The only load balancer in the simulator.
    async fn cloud_lb(&self) -> Value {
        let lbs = self.cloud_objects("load_balancers").await;
        assert_eq!(lbs.len(), 1, "one load balancer: {lbs:?}");
        lbs.into_iter().next().unwrap()
    }

    async fn calls(&self, action: &str) -> u64 {
        self.sim.calls(action).await
    }
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
        .and_then(|at| at.private_ip.clone())
        .expect("a private IP")
}

fn pool(entries: &[(&str, u64)]) -> BTreeSet<(String, u64)> {
    entries
        .iter()
        .map(|(ip, port)| ((*ip).to_owned(), *port))
        .collect()
}

/// Waits until `name` is Ready for its current generation and `extra` holds.
async fn wait_ready<K: ManagedResource>(api: &Api<K>, name: &str, extra: impl Fn(&K) -> bool) -> K {
    support::eventually(WAIT, &format!("{name} Ready"), || {
        let api = api.clone();
        let extra = &extra;
        async move {
            let object = api.get(name).await.ok()?;
            (is_condition_true(object.conditions(), "Ready")
                && object.observed_generation() == object.meta().generation
                && extra(&object))
            .then_some(object)
        }
    })
    .await
}

async fn wait_gone<K: ManagedResource>(api: &Api<K>, name: &str) {
    support::eventually(WAIT, &format!("{name} gone"), || {
        let api = api.clone();
        async move { api.get_opt(name).await.ok()?.is_none().then_some(()) }
    })
    .await;
}

fn member_count(lb: &LunaLoadBalancer) -> Option<u32> {
    lb.status.as_ref()?.at_provider.as_ref()?.member_count
}

async fn set_members(world: &World, name: &str, members: &[LbMemberSpec]) {
    world
        .lbs
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
        .vms
        .create(
            &PostParams::default(),
            &LunaVM::new(name, LunaVMSpec::new(name, "m.1", IMAGE)),
        )
        .await
        .expect("create LunaVM");
}

#[track_caller]
fn assert_refused(result: Result<LunaLoadBalancer, kube::Error>, needle: &str) {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains(needle),
                "expected {needle:?} in: {}",
                status.message
            );
        }
        Err(other) => panic!("expected a validation error ({needle}), got {other}"),
        Ok(_) => panic!("expected a validation error ({needle}), but it was accepted"),
    }
}

#[tokio::test]
async fn members_follow_the_manifest_and_deleting_everything_leaves_nothing() {
    let world = world('a').await;
    world
        .networks
        .create(
            &PostParams::default(),
            &LunaNetwork::new("lb-net", LunaNetworkSpec::new("lb-net", "10.20.30.0/24")),
        )
        .await
        .unwrap();
    create_vm(&world, "app-1").await;
    create_vm(&world, "app-2").await;
    let mut spec = LunaLoadBalancerSpec::new("lb-net", 80);
    spec.protocol = LbProtocol::Http;
    spec.members = vec![
        LbMemberSpec::vm("app-1", 8080),
        LbMemberSpec::vm("app-2", 8080),
    ];
    world
        .lbs
        .create(
            &PostParams::default(),
            &LunaLoadBalancer::new("front", spec),
        )
        .await
        .unwrap();

    // Both VMs become members, by their private IPs.
    let ready = wait_ready(&world.lbs, "front", |lb| member_count(lb) == Some(2)).await;
    let app1 = private_ip(&world.vms.get("app-1").await.unwrap());
    let app2 = private_ip(&world.vms.get("app-2").await.unwrap());
    let lb = world.cloud_lb().await;
    assert_eq!(members(&lb), pool(&[(&app1, 8080), (&app2, 8080)]));
    assert_eq!(lb["protocol"], "HTTP");
    let network = world.networks.get("lb-net").await.unwrap();
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
    assert_eq!(world.calls("lb/create").await, 1);
    assert_eq!(world.calls("lb/member_add").await, 2);
    assert_eq!(world.calls("lb/member_remove").await, 0);
    eprintln!(
        "converged: lb/list {} lb/info {} lb/member_add {}",
        world.calls("lb/list").await,
        world.calls("lb/info").await,
        world.calls("lb/member_add").await
    );

    // Steady state: no pool reads, no writes; the list is shared and slow.
    let info_before = world.calls("lb/info").await;
    let list_before = world.calls("lb/list").await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let info_calls = world.calls("lb/info").await - info_before;
    let list_calls = world.calls("lb/list").await - list_before;
    eprintln!("steady state, 12 s: lb/info {info_calls}, lb/list {list_calls}");
    assert_eq!(info_calls, 0, "no lb/info while nothing changes");
    assert!(list_calls <= 4, "a slow list poll, got {list_calls}");
    assert_eq!(world.calls("lb/member_add").await, 2);

    // Create-only fields: the apiserver refuses the edit, with the rule's message.
    for change in [json!({"port": 81}), json!({"method": "SOURCE_IP"})] {
        let refused = world
            .lbs
            .patch(
                "front",
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": change })),
            )
            .await;
        assert_refused(
            refused,
            "region, method, protocol, port and connectionLimit are immutable",
        );
    }
    let refused = world
        .lbs
        .patch(
            "front",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"networkRef": {"name": "other"}}})),
        )
        .await;
    assert_refused(refused, "networkRef is immutable");
    let mut both = LunaLoadBalancerSpec::new("lb-net", 80);
    both.net_id = Some("9".into());
    assert_refused(
        world
            .lbs
            .create(&PostParams::default(), &LunaLoadBalancer::new("both", both))
            .await,
        "set at most one of networkRef and netId",
    );
    let mut ambiguous = LunaLoadBalancerSpec::new("lb-net", 80);
    ambiguous.members = vec![LbMemberSpec {
        ip: Some("10.0.0.9".into()),
        ..LbMemberSpec::vm("app-1", 80)
    }];
    assert_refused(
        world
            .lbs
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
    wait_ready(&world.lbs, "front", |lb| member_count(lb) == Some(3)).await;
    let app3 = private_ip(&world.vms.get("app-3").await.unwrap());
    assert_eq!(
        members(&world.cloud_lb().await),
        pool(&[(&app1, 8080), (&app2, 8080), (&app3, 8080)])
    );
    assert_eq!(world.calls("lb/member_add").await, 3);
    assert_eq!(world.calls("lb/member_remove").await, 0);

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
    world
        .vms
        .delete("app-2", &DeleteParams::default())
        .await
        .unwrap();
    wait_ready(&world.lbs, "front", |lb| member_count(lb) == Some(2)).await;
    assert_eq!(
        members(&world.cloud_lb().await),
        pool(&[(&app1, 8080), (&app3, 8080)])
    );
    assert_eq!(world.calls("lb/member_add").await, 3);
    assert_eq!(world.calls("lb/member_remove").await, 1);
    eprintln!(
        "after the manifest changes: lb/info {} lb/member_add {} lb/member_remove {}",
        world.calls("lb/info").await,
        world.calls("lb/member_add").await,
        world.calls("lb/member_remove").await
    );

    // Delete everything at once: the network waits for the load balancer and the VMs.
    world
        .lbs
        .delete("front", &DeleteParams::default())
        .await
        .unwrap();
    for vm in ["app-1", "app-2", "app-3"] {
        let _ = world.vms.delete(vm, &DeleteParams::default()).await;
    }
    world
        .networks
        .delete("lb-net", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&world.lbs, "front").await;
    for vm in ["app-1", "app-2", "app-3"] {
        wait_gone(&world.vms, vm).await;
    }
    wait_gone(&world.networks, "lb-net").await;
    for kind in ["load_balancers", "vms", "networks", "floating_ips"] {
        let left = world.cloud_objects(kind).await;
        assert!(left.is_empty(), "no {kind} left: {left:?}");
    }
    assert_eq!(world.calls("lb/delete").await, 1);
    assert_eq!(world.calls("lb/create").await, 1, "never created twice");
    assert!(
        !world.operator.logs().contains(&world.account.1),
        "the key never appears in logs"
    );
}

#[tokio::test]
async fn a_member_follows_its_vm_and_leaves_with_it() {
    let world = world('b').await;
    let cloud = world.cloud();
    // A network made outside the operator, named by ID.
    let net_id = cloud
        .network_create(REGION, "outside", "10.40.50", "8.8.8.8")
        .await
        .unwrap()
        .expect("a net_id");
    create_vm(&world, "app-1").await;
    let mut spec = LunaLoadBalancerSpec {
        network_ref: None,
        net_id: Some(net_id.clone()),
        ..LunaLoadBalancerSpec::new("unused", 80)
    };
    // No port: the member takes the load balancer's.
    spec.members = vec![LbMemberSpec {
        port: None,
        ..LbMemberSpec::vm("app-1", 1)
    }];
    world
        .lbs
        .create(
            &PostParams::default(),
            &LunaLoadBalancer::new("front", spec),
        )
        .await
        .unwrap();
    wait_ready(&world.lbs, "front", |lb| member_count(lb) == Some(1)).await;
    let vm = world.vms.get("app-1").await.unwrap();
    let first_ip = private_ip(&vm);
    assert_eq!(members(&world.cloud_lb().await), pool(&[(&first_ip, 80)]));

    // The VM is deleted behind the operator's back; the LunaVM makes a new one, with a new
    // private IP, and the member follows it.
    cloud.vm_delete(vm.status_id().unwrap()).await.unwrap();
    let moved = wait_ready(&world.vms, "app-1", |vm| {
        vm.status
            .as_ref()
            .and_then(|status| status.at_provider.as_ref())
            .and_then(|at| at.private_ip.as_deref())
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
    wait_ready(&world.lbs, "front", |lb| member_count(lb) == Some(1)).await;
    assert_eq!(world.calls("lb/member_add").await, 2);
    assert_eq!(world.calls("lb/member_remove").await, 1);

    // The VM goes while the spec still names it: its member goes too, and the load balancer
    // says what it waits for.
    world
        .vms
        .delete("app-1", &DeleteParams::default())
        .await
        .unwrap();
    let lbs = world.lbs.clone();
    let waiting = support::eventually(WAIT, "MembersPending", || {
        let lbs = lbs.clone();
        async move {
            let lb = lbs.get("front").await.ok()?;
            let ready = find_condition(lb.conditions(), "Ready")?;
            (ready.reason == "MembersPending" && member_count(&lb) == Some(0)).then_some(lb)
        }
    })
    .await;
    let message = &find_condition(waiting.conditions(), "Ready")
        .unwrap()
        .message;
    assert!(message.contains("app-1"), "{message}");
    assert!(members(&world.cloud_lb().await).is_empty());
    assert_eq!(world.calls("lb/member_remove").await, 2);
    assert_eq!(world.calls("lb/member_add").await, 2);

    // Clean up: the load balancer, then the network made outside.
    world
        .lbs
        .delete("front", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&world.lbs, "front").await;
    wait_gone(&world.vms, "app-1").await;
    cloud.network_delete(REGION, &net_id).await.unwrap();
    for kind in ["load_balancers", "vms", "networks"] {
        let left = world.cloud_objects(kind).await;
        assert!(left.is_empty(), "no {kind} left: {left:?}");
    }
}

#[tokio::test]
async fn import_takes_over_the_pool_and_associates_the_floating_ip() {
    let world = world('c').await;
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
    let floating_ips: Api<LunaFloatingIP> = Api::namespaced(world.client.clone(), &world.ns);
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
        network_ref: None,
        net_id: Some(net_id.clone()),
        ..LunaLoadBalancerSpec::new("unused", 80)
    };
    spec.managed.import = Some(ImportSpec {
        id: Some(lb_id.clone()),
    });
    spec.members = vec![LbMemberSpec::ip("10.60.70.10", 8080)];
    spec.floating_ip_ref = Some(LocalObjectReference::new("front-ip"));
    world
        .lbs
        .create(
            &PostParams::default(),
            &LunaLoadBalancer::new("adopted", spec),
        )
        .await
        .unwrap();

    // The pool becomes the spec's at once; the association waits for the LunaFloatingIP's
    // address, unless its controller has published it already.
    let lbs = world.lbs.clone();
    support::eventually(WAIT, "the pool taken over", || {
        let lbs = lbs.clone();
        async move {
            let lb = lbs.get("adopted").await.ok()?;
            let ready = find_condition(lb.conditions(), "Ready")?;
            (member_count(&lb) == Some(1)
                && (ready.reason == "FloatingIPPending" || ready.reason == "Available"))
                .then_some(())
        }
    })
    .await;
    let lb = world.cloud_lb().await;
    assert_eq!(lb["id"].as_str(), Some(lb_id.as_str()));
    assert_eq!(members(&lb), pool(&[("10.60.70.10", 8080)]));
    assert_eq!(world.calls("lb/create").await, 1, "adopted, not created");
    assert_eq!(
        world.calls("lb/member_remove").await,
        1,
        "the foreign member"
    );
    assert_eq!(
        world.calls("lb/member_add").await,
        2,
        "the test's and the spec's"
    );

    // The LunaFloatingIP controller publishes the address; then the association follows.
    let ready = wait_ready(&world.lbs, "adopted", |_| true).await;
    let status = ready.status.unwrap();
    assert_eq!(status.managed.id.as_deref(), Some(lb_id.as_str()));
    assert_eq!(
        status.at_provider.unwrap().floating_ip.as_deref(),
        Some(floating.ip.as_str())
    );
    assert_eq!(world.calls("lb/associate").await, 1);
    let ips = world.cloud_objects("floating_ips").await;
    assert_eq!(
        ips[0]["attachment"],
        json!({"type": "lb", "id": lb_id}),
        "{ips:?}"
    );

    // Events tell what happened.
    let events: Api<Event> = Api::namespaced(world.client.clone(), &world.ns);
    let reasons: BTreeSet<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|event| event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("adopted"))
        .filter_map(|event| event.reason)
        .collect();
    for reason in ["Adopted", "MembersUpdated", "FloatingIPAssociated"] {
        assert!(reasons.contains(reason), "{reason} in {reasons:?}");
    }

    // Deleting it deletes the adopted load balancer; the address stays on the account.
    world
        .lbs
        .delete("adopted", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&world.lbs, "adopted").await;
    assert!(world.cloud_objects("load_balancers").await.is_empty());
    let ips = world.cloud_objects("floating_ips").await;
    assert_eq!(ips.len(), 1);
    assert_eq!(ips[0]["attachment"]["type"], "unattached");
    cloud.floating_delete(REGION, &floating.ip).await.unwrap();
    cloud.network_delete(REGION, &net_id).await.unwrap();
}

#[tokio::test]
async fn a_lost_create_answer_and_a_crash_still_make_one_load_balancer() {
    let mut world = world('d').await;
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
        network_ref: None,
        net_id: Some(net_id.clone()),
        members: vec![LbMemberSpec::ip("10.80.90.5", 80)],
        ..LunaLoadBalancerSpec::new("unused", 80)
    };
    world
        .lbs
        .create(&PostParams::default(), &LunaLoadBalancer::new("once", spec))
        .await
        .unwrap();
    let sim = &world.sim;
    support::eventually(WAIT, "a create attempt", || async move {
        (sim.calls("lb/create").await >= 1).then_some(())
    })
    .await;
    // Crash, and let the answers through again.
    world.operator.restart();
    world.sim.admin_post("faults", json!({})).await;
    let ready = wait_ready(&world.lbs, "once", |lb| member_count(lb) == Some(1)).await;
    let lb = world.cloud_lb().await;
    assert_eq!(
        ready.status.unwrap().managed.id.as_deref(),
        lb["id"].as_str()
    );
    assert_eq!(world.calls("lb/create").await, 1, "found again by name");
    assert_eq!(world.calls("lb/member_add").await, 1);
    world
        .lbs
        .delete("once", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&world.lbs, "once").await;
    assert!(world.cloud_objects("load_balancers").await.is_empty());
}
