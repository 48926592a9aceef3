//! LunaVM end to end: the real control plane, the simulator and the operator as separate
//! processes. Each test has its own namespace, simulator and operator (scoped to that namespace
//! with `--namespace`), so the tests run side by side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{
    ResourceExt,
    api::{Patch, PatchParams},
};
use lunanode_operator::api::{
    common::{DeletionPolicy, ImportSpec, ManagementPolicy},
    vm::{LunaVM, LunaVMSpec},
};
use serde_json::{Value, json};
use support::{World, processes::test_account, wait::condition};

const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const WAIT: Duration = support::wait::WAIT;

fn vm(name: &str, spec: LunaVMSpec) -> LunaVM {
    LunaVM::new(name, spec)
}

#[tokio::test]
async fn lifecycle_create_resize_stop_delete() {
    let world = World::start("vm", 'a').await;
    let mut spec = LunaVMSpec::new("web-1", "m.2", IMAGE);
    spec.write_connection_secret_to_ref =
        Some(lunanode_operator::api::common::ConnectionSecretRef {
            name: "web-1-connection".into(),
        });
    world.create(&vm("web-1", spec)).await;
    let ready = world.ready::<LunaVM>("web-1").await;
    // kstatus reads a Ready object as Current: no Reconciling, no Stalled.
    assert!(condition(&ready, "Reconciling").is_none() && condition(&ready, "Stalled").is_none());

    // Login details go to the connection Secret, and nowhere else.
    let connection = world
        .until::<Secret>("web-1-connection", "the connection Secret", |_| true)
        .await;
    let data = connection.data.unwrap_or_default();
    let password = String::from_utf8(data.get("password").expect("a password").0.clone()).unwrap();
    assert!(password.len() >= 8, "a real password");
    assert!(
        data.contains_key("ip") && data.contains_key("username"),
        "{:?}",
        data.keys()
    );
    let shown = serde_json::to_string(&world.api::<LunaVM>().get("web-1").await.unwrap()).unwrap();
    assert!(
        !shown.contains(&password),
        "the password is not in the LunaVM"
    );
    assert!(
        !world.operator().logs().contains(&password),
        "the password is not logged"
    );
    let status = ready.status.clone().unwrap();
    let id = status.managed.id.clone().expect("status.id");
    assert!(
        status
            .at_provider
            .as_ref()
            .and_then(|at| at.networking.ip.clone())
            .is_some(),
        "an IP: {status:?}"
    );
    assert!(
        ready
            .finalizers()
            .iter()
            .any(|f| f == "lunavms.lunanode.com/cleanup")
    );
    let vms = world.sim.vms().await;
    assert_eq!(vms.len(), 1, "exactly one VM: {vms:?}");
    assert_eq!(world.sim.calls("vm/create").await, 1);

    // Plan change: one resize.
    world
        .patch_spec::<LunaVM>("web-1", json!({"plan": "m.4"}))
        .await;
    world.ready::<LunaVM>("web-1").await;
    assert_eq!(world.sim.calls("vm/resize").await, 1, "one resize");

    // Power off.
    world
        .patch_spec::<LunaVM>("web-1", json!({"powerState": "Stopped"}))
        .await;
    let stopped = world.ready::<LunaVM>("web-1").await;
    let state = stopped
        .status
        .unwrap()
        .at_provider
        .unwrap()
        .status
        .unwrap_or_default();
    assert!(
        matches!(
            state.to_ascii_lowercase().as_str(),
            "offline" | "stopped" | "shutoff"
        ),
        "stopped: {state}"
    );
    assert_eq!(world.sim.calls("vm/stop").await, 1);

    // The region is create-only: the API server refuses the edit.
    let error = world
        .api::<LunaVM>()
        .patch(
            "web-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"region": "montreal"}})),
        )
        .await
        .expect_err("region change rejected");
    assert!(error.to_string().contains("immutable"), "{error}");

    // Delete: the VM goes, then the finalizer.
    world.delete::<LunaVM>("web-1").await;
    world.gone::<LunaVM>("web-1").await;
    assert!(world.sim.vms().await.is_empty(), "no VM left");
    assert!(
        !world.operator().logs().contains(&test_account('a').1),
        "the key never appears in logs"
    );
    let _ = id;
}

#[tokio::test]
async fn orphan_policy_keeps_the_vm() {
    let world = World::start("vm", 'b').await;
    let mut spec = LunaVMSpec::new("keep-me", "m.1", IMAGE);
    spec.managed.deletion_policy = DeletionPolicy::Orphan;
    world.create(&vm("keep", spec)).await;
    world.ready::<LunaVM>("keep").await;
    world.delete::<LunaVM>("keep").await;
    world.gone::<LunaVM>("keep").await;
    assert_eq!(world.sim.vms().await.len(), 1, "the VM stays");
    assert_eq!(world.sim.calls("vm/delete").await, 0);
}

#[tokio::test]
async fn invalid_plan_is_terminal_without_a_hot_loop() {
    let world = World::start("vm", 'c').await;
    world
        .create(&vm("bad", LunaVMSpec::new("bad-plan", "zz.99", IMAGE)))
        .await;
    let failed = world
        .until::<LunaVM>("bad", "Synced=False CreateFailed", |vm| {
            condition(vm, "Synced")
                .is_some_and(|synced| synced.status == "False" && synced.reason == "CreateFailed")
        })
        .await;
    let message = condition(&failed, "Synced").unwrap().message.clone();
    assert!(
        message.contains("invalid plan"),
        "the API's message: {message}"
    );
    // kstatus (Flux, Argo CD) reads it as Failed at once, not InProgress until a timeout.
    let stalled = condition(&failed, "Stalled").expect("a Stalled condition");
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "CreateFailed")
    );
    assert_eq!(stalled.message, message);
    assert!(condition(&failed, "Reconciling").is_none());
    let quiet = Quiet::minute(&world, "bad").await;
    assert_eq!(
        quiet.of("vm/create"),
        0,
        "the refused create is not sent again"
    );
    quiet.at_most_three();
    assert!(world.sim.vms().await.is_empty());
}

/// A world whose operator polls lists as in production once nothing is in transition (every
/// 60 s): the one-minute call budgets below count the list polls too.
async fn slow_polled(tag: char) -> World {
    World::setup("vm", tag)
        .operator_args(&["--slow-poll-seconds", "60"])
        .start()
        .await
}

/// The API calls made while the operator is proved to look at an object twice more (two
/// reconciles without a spec change) and then a minute passes: what a failed object costs
/// while nothing changes.
struct Quiet {
    before: Value,
    after: Value,
}

impl Quiet {
    /// Every action a LunaVM reconcile may call.
    const ACTIONS: [&str; 9] = [
        "vm/create",
        "vm/list",
        "vm/info",
        "vm/delete",
        "vm/resize",
        "vm/start",
        "image/list",
        "plan/list",
        "billing/credit",
    ];

    async fn minute(world: &World, name: &str) -> Self {
        let before = world.sim.admin_get("stats").await;
        for poke in ["1", "2"] {
            world.looked_again::<LunaVM>(name, poke).await;
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        let after = world.sim.admin_get("stats").await;
        Self { before, after }
    }

    /// The calls of `action` in the window.
    fn of(&self, action: &str) -> u64 {
        support::processes::count_calls(&self.after, action)
            - support::processes::count_calls(&self.before, action)
    }

    /// No hot loop: at most three calls in all.
    fn at_most_three(&self) {
        let calls: u64 = Self::ACTIONS.iter().map(|action| self.of(action)).sum();
        assert!(
            calls <= 3,
            "at most a handful of API calls in a minute, got {calls}"
        );
    }
}

#[tokio::test]
async fn a_vm_in_error_is_reported_then_replaced_on_request() {
    let world = slow_polled('i').await;
    world
        .sim
        .admin_post("faults", json!({"vm_build_error_next": 1}))
        .await;
    world
        .create(&vm("broken", LunaVMSpec::new("broken", "m.1", IMAGE)))
        .await;
    let failed = world
        .until::<LunaVM>("broken", "Ready=False VMError", |vm| {
            condition(vm, "Ready").is_some_and(|ready| ready.reason == "VMError")
        })
        .await;
    let old_id = failed.status.as_ref().unwrap().managed.id.clone().unwrap();
    let message = condition(&failed, "Ready").unwrap().message.clone();
    assert!(
        message.contains("ERROR") && message.contains("onError: Recreate"),
        "says what happened and what to do: {message}"
    );
    let stalled = condition(&failed, "Stalled").expect("a Stalled condition");
    assert_eq!(stalled.reason, "VMError");
    assert!(condition(&failed, "Reconciling").is_none());
    // Reported and left (onError: Report): no delete, no second VM, no busy poll.
    let quiet = Quiet::minute(&world, "broken").await;
    quiet.at_most_three();
    assert_eq!(world.sim.calls("vm/delete").await, 0);
    assert_eq!(world.sim.calls("vm/create").await, 1);

    // Asked to replace it: the failed VM is deleted first, then a new one is made.
    world
        .patch_spec::<LunaVM>("broken", json!({"onError": "Recreate"}))
        .await;
    let ready = world.ready::<LunaVM>("broken").await;
    let new_id = ready.status.unwrap().managed.id.unwrap();
    assert_ne!(new_id, old_id);
    assert_eq!(world.sim.calls("vm/delete").await, 1);
    assert_eq!(world.sim.calls("vm/create").await, 2);
    let vms = world.sim.vms().await;
    assert_eq!(vms.len(), 1, "only the new VM: {vms:?}");
    let reasons = world.event_reasons("broken").await;
    assert!(
        reasons.iter().any(|reason| reason == "ReplacingFailedVM"),
        "{reasons:?}"
    );
}

/// An own image made by `image fetch`; its ID.
async fn fetched_image(world: &World, name: &str) -> String {
    let answer = world
        .cloud()
        .request(
            "image",
            "fetch",
            &[
                ("region", "toronto"),
                ("name", name),
                ("location", "https://images.example.com/disk.qcow2"),
                ("format", "qcow2"),
            ],
        )
        .await
        .expect("image fetch");
    answer["image_id"].as_str().expect("an image ID").to_owned()
}

#[tokio::test]
async fn a_vm_waits_for_its_image_and_stops_at_a_failed_one() {
    let world = slow_polled('m').await;
    // The first image fetched ends in `error`; the second is saving for a while, then active.
    world
        .sim
        .admin_post("faults", json!({"image_error_next": 1}))
        .await;
    let broken = fetched_image(&world, "broken-image").await;
    let saving = fetched_image(&world, "fine-image").await;

    world
        .create(&vm("patient", LunaVMSpec::new("patient", "m.1", &saving)))
        .await;
    let waiting = world
        .until::<LunaVM>("patient", "Ready=False ImageNotReady", |vm| {
            condition(vm, "Ready").is_some_and(|ready| ready.reason == "ImageNotReady")
        })
        .await;
    let message = condition(&waiting, "Ready").unwrap().message;
    assert!(message.contains(&saving), "names the image: {message}");
    assert_eq!(
        condition(&waiting, "Reconciling")
            .map(|c| c.reason)
            .as_deref(),
        Some("ImageNotReady"),
        "kstatus reads it as in progress"
    );
    assert_eq!(world.sim.calls("vm/create").await, 0, "nothing sent yet");
    let ready = world.ready::<LunaVM>("patient").await;
    assert!(ready.status.unwrap().managed.id.is_some());
    assert_eq!(world.sim.calls("vm/create").await, 1, "one create, once");

    world
        .create(&vm("doomed", LunaVMSpec::new("doomed", "m.1", &broken)))
        .await;
    let failed = world
        .until::<LunaVM>("doomed", "Ready=False ImageFailed", |vm| {
            condition(vm, "Ready").is_some_and(|ready| ready.reason == "ImageFailed")
        })
        .await;
    let message = condition(&failed, "Ready").unwrap().message;
    assert!(
        message.contains(&broken) && message.contains("error") && message.contains("spec.image"),
        "says what happened and what to do: {message}"
    );
    assert_eq!(
        condition(&failed, "Stalled").map(|c| c.reason).as_deref(),
        Some("ImageFailed")
    );
    let quiet = Quiet::minute(&world, "doomed").await;
    quiet.at_most_three();
    assert_eq!(
        world.sim.calls("vm/create").await,
        1,
        "no create is sent for a failed image"
    );
}

#[tokio::test]
async fn a_deletion_that_takes_time_is_waited_for_not_sent_again() {
    let world = World::start("vm", 'k').await;
    world
        .create(&vm("leaving", LunaVMSpec::new("leaving", "m.1", IMAGE)))
        .await;
    world.ready::<LunaVM>("leaving").await;
    // Luna Node keeps a deleted VM listed (as active) for a while.
    world
        .sim
        .admin_post("faults", json!({"vm_delete_seconds": 20}))
        .await;
    world.delete::<LunaVM>("leaving").await;
    let waiting = world
        .until::<LunaVM>("leaving", "Ready=False Deleting", |vm| {
            condition(vm, "Ready").is_some_and(|ready| ready.reason == "Deleting")
        })
        .await;
    assert!(waiting.metadata.deletion_timestamp.is_some());
    world.gone::<LunaVM>("leaving").await;
    assert_eq!(
        world.sim.calls("vm/delete").await,
        1,
        "the delete is sent once and waited for"
    );
    assert!(world.sim.vms().await.is_empty());
}

#[tokio::test]
async fn a_refused_resize_is_not_ready_and_not_sent_again() {
    let world = slow_polled('l').await;
    world
        .create(&vm("fixed", LunaVMSpec::new("fixed", "m.1", IMAGE)))
        .await;
    world.ready::<LunaVM>("fixed").await;
    world
        .patch_spec::<LunaVM>("fixed", json!({"plan": "zz.99"}))
        .await;
    // The VM stays on m.1, not what the spec asks: not Ready, and Stalled with the API's word.
    let refused = world
        .until::<LunaVM>("fixed", "Ready=False ResizeFailed", |vm| {
            condition(vm, "Ready").is_some_and(|ready| ready.reason == "ResizeFailed")
        })
        .await;
    let message = condition(&refused, "Ready").unwrap().message.clone();
    assert!(message.contains("invalid plan"), "{message}");
    assert_eq!(
        condition(&refused, "Synced").unwrap().reason,
        "ResizeFailed"
    );
    assert_eq!(
        condition(&refused, "Stalled").unwrap().reason,
        "ResizeFailed"
    );
    let quiet = Quiet::minute(&world, "fixed").await;
    quiet.at_most_three();
    assert_eq!(world.sim.calls("vm/resize").await, 1, "not sent again");
    // The old plan back: Ready with nothing sent.
    world
        .patch_spec::<LunaVM>("fixed", json!({"plan": "m.1"}))
        .await;
    let ready = world.ready::<LunaVM>("fixed").await;
    assert!(condition(&ready, "Stalled").is_none());
    assert_eq!(world.sim.calls("vm/resize").await, 1);
}

#[tokio::test]
async fn a_build_that_never_ends_times_out() {
    let world = slow_polled('j').await;
    world
        .sim
        .admin_post("faults", json!({"vm_build_stuck_next": 1}))
        .await;
    let mut spec = LunaVMSpec::new("slow", "m.1", IMAGE);
    spec.build_timeout_seconds = Some(30);
    world.create(&vm("slow", spec)).await;
    let building = world
        .until::<LunaVM>("slow", "Reconciling while it builds", |vm| {
            condition(vm, "Reconciling").is_some()
        })
        .await;
    assert!(condition(&building, "Stalled").is_none());
    let timed_out = world
        .until::<LunaVM>("slow", "Ready=False BuildTimedOut", |vm| {
            condition(vm, "Ready").is_some_and(|ready| ready.reason == "BuildTimedOut")
        })
        .await;
    let message = condition(&timed_out, "Ready").unwrap().message.clone();
    assert!(
        message.contains("more than 30 s") && message.contains("onError"),
        "{message}"
    );
    assert_eq!(
        condition(&timed_out, "Stalled").unwrap().reason,
        "BuildTimedOut"
    );
    let quiet = Quiet::minute(&world, "slow").await;
    quiet.at_most_three();
    assert_eq!(world.sim.calls("vm/delete").await, 0);
}

#[tokio::test]
async fn a_resize_the_api_does_not_do_is_reported_and_not_sent_again() {
    let world = World::start("vm", 'h').await;
    world
        .create(&vm("shrink", LunaVMSpec::new("shrink", "m.2", IMAGE)))
        .await;
    world.ready::<LunaVM>("shrink").await;
    // m.1 has less local storage than m.2: Luna Node answers success and keeps the plan.
    world
        .patch_spec::<LunaVM>("shrink", json!({"plan": "m.1"}))
        .await;
    let stuck = world
        .until::<LunaVM>("shrink", "Synced=False ResizeNotApplied", |vm| {
            condition(vm, "Synced").is_some_and(|synced| {
                synced.status == "False" && synced.reason == "ResizeNotApplied"
            })
        })
        .await;
    let ready = condition(&stuck, "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "ResizeNotApplied")
    );
    assert!(
        ready.message.contains("stays on plan ID 87"),
        "{}",
        ready.message
    );
    let stalled = condition(&stuck, "Stalled").expect("kstatus: Failed");
    assert_eq!(stalled.reason, "ResizeNotApplied");
    let request = stuck
        .status
        .as_ref()
        .and_then(|s| s.resize.clone())
        .unwrap();
    assert_eq!(
        (request.plan_id.as_str(), request.from_plan_id.as_str()),
        ("86", "87")
    );
    assert_eq!(world.sim.calls("vm/resize").await, 1);

    // Not sent again while the spec stays the same: two more looks, no call.
    for poke in ["1", "2"] {
        world.looked_again::<LunaVM>("shrink", poke).await;
    }
    assert_eq!(world.sim.calls("vm/resize").await, 1, "no retry loop");
    let still = world.api::<LunaVM>().get("shrink").await.unwrap();
    assert_eq!(
        condition(&still, "Synced").unwrap().reason,
        "ResizeNotApplied"
    );

    // The plan set back: the VM is on it already, so it is Ready with nothing sent.
    world
        .patch_spec::<LunaVM>("shrink", json!({"plan": "m.2"}))
        .await;
    let back = world.ready::<LunaVM>("shrink").await;
    assert!(condition(&back, "Stalled").is_none());
    assert_eq!(condition(&back, "Synced").unwrap().status, "True");
    assert_eq!(world.sim.calls("vm/resize").await, 1, "nothing to send");
    assert_eq!(back.status.unwrap().applied_plan_id.as_deref(), Some("87"));
}

#[tokio::test]
async fn wrong_credentials_give_a_clear_condition() {
    let world = World::start("vm", 'd').await;
    let (id, _) = test_account('d');
    support::credentials_secret(&world.client, &world.ns, "wrong", &id, &"x".repeat(128)).await;
    let mut spec = LunaVMSpec::new("nope", "m.1", IMAGE);
    spec.managed.credentials_secret_ref = Some(lunanode_operator::api::common::SecretRef {
        name: "wrong".into(),
    });
    world.create(&vm("nope", spec)).await;
    let failed = world
        .until::<LunaVM>("nope", "an authentication condition (Synced=False)", |vm| {
            condition(vm, "Synced").is_some_and(|synced| synced.status == "False")
        })
        .await;
    let message = condition(&failed, "Synced").unwrap().message.to_lowercase();
    assert!(message.contains("authentication"), "{message}");
    assert!(!message.contains(&"x".repeat(20)), "the key never appears");
    assert!(world.sim.vms().await.is_empty());
    // A refusal of the credentials is not retried with the same Secret.
    let calls = world.sim.admin_get("stats").await["totals"]["calls"]
        .as_u64()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let later = world.sim.admin_get("stats").await["totals"]["calls"]
        .as_u64()
        .unwrap();
    assert!(
        later - calls <= 1,
        "{} calls in 20 s with refused credentials",
        later - calls
    );
}

#[tokio::test]
async fn import_adopts_and_observe_only_never_writes() {
    let world = World::start("vm", 'e').await;
    // A VM made outside the operator.
    let mut spec = LunaVMSpec::new("outside", "m.1", IMAGE);
    world.create(&vm("maker", spec.clone())).await;
    let made = world.ready::<LunaVM>("maker").await;
    let id = made.status.unwrap().managed.id.unwrap();
    // Hand it over: orphan the first object, then import it from a second.
    world
        .patch_spec::<LunaVM>("maker", json!({"deletionPolicy": "Orphan"}))
        .await;
    world.delete::<LunaVM>("maker").await;
    spec.managed.import = Some(ImportSpec {
        id: Some(id.clone()),
    });
    spec.managed.management_policy = ManagementPolicy::ObserveOnly;
    world.create(&vm("watcher", spec)).await;
    let observed = world.ready::<LunaVM>("watcher").await;
    assert_eq!(
        observed.status.unwrap().managed.id.as_deref(),
        Some(id.as_str())
    );
    let creates = world.sim.calls("vm/create").await;
    world
        .patch_spec::<LunaVM>("watcher", json!({"powerState": "Stopped"}))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        world.sim.calls("vm/stop").await,
        0,
        "ObserveOnly never writes"
    );
    world.delete::<LunaVM>("watcher").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.sim.calls("vm/delete").await, 0);
    assert_eq!(world.sim.calls("vm/create").await, creates);
    assert_eq!(world.sim.vms().await.len(), 1);
}

#[tokio::test]
async fn dropped_create_response_and_a_crash_still_make_one_vm() {
    let world = World::start("vm", 'f').await;
    // Every create is committed, then its response is dropped.
    world
        .sim
        .admin_post(
            "faults",
            json!({"drop_after_commit_rate": 1.0, "actions": ["vm/create"], "timeout_ms": 2000}),
        )
        .await;
    world
        .create(&vm("once", LunaVMSpec::new("once", "m.1", IMAGE)))
        .await;
    // Let the operator attempt the create and lose the answer, then crash it.
    let sim = &world.sim;
    support::eventually(WAIT, "a create attempt", || async move {
        (sim.calls("vm/create").await >= 1).then_some(())
    })
    .await;
    let mut world = world;
    world.operator_mut().restart();
    world.sim.admin_post("faults", json!({})).await;
    let ready = world.ready::<LunaVM>("once").await;
    let vms = world.sim.vms().await;
    assert_eq!(
        vms.len(),
        1,
        "exactly one VM despite the lost response: {vms:?}"
    );
    assert!(ready.status.unwrap().managed.id.is_some());
}

#[tokio::test]
async fn health_and_metrics_endpoints() {
    let world = World::start("vm", 'g').await;
    let address = world.operator().metrics_address().await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let http = http.clone();
        let url = format!("http://{address}{path}");
        async move { http.get(url).send().await.unwrap() }
    };
    assert_eq!(get("/healthz").await.status(), 200);
    // Ready once the controller's cache has synced.
    let get_ref = &get;
    support::eventually(Duration::from_secs(30), "/readyz 200", || async move {
        (get_ref("/readyz").await.status() == 200).then_some(())
    })
    .await;
    world
        .create(&vm("m", LunaVMSpec::new("metrics-vm", "m.1", IMAGE)))
        .await;
    let ready = world.ready::<LunaVM>("m").await;

    // The status shape GitOps tools read: kstatus (Flux) and Argo CD health checks want a Ready
    // condition with reason, message and lastTransitionTime, and observedGeneration.
    let raw = serde_json::to_value(&ready).unwrap();
    assert_eq!(
        raw["status"]["observedGeneration"],
        raw["metadata"]["generation"]
    );
    for condition in raw["status"]["conditions"].as_array().unwrap() {
        for field in [
            "type",
            "status",
            "reason",
            "message",
            "lastTransitionTime",
            "observedGeneration",
        ] {
            assert!(!condition[field].is_null(), "{field} in {condition}");
        }
    }
    let waited = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&support::control_plane().kubeconfig)
        .args([
            "-n",
            &world.ns,
            "wait",
            "--for=condition=Ready",
            "lunavm/m",
            "--timeout=30s",
        ])
        .output()
        .expect("kubectl");
    assert!(
        waited.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&waited.stderr)
    );
    let text = get("/metrics").await.text().await.unwrap();
    for needle in [
        r#"lunanode_api_requests_total{category="vm",action="create",outcome="ok"} 1"#,
        r#"lunanode_reconciles_total{kind="LunaVM",outcome="ok"}"#,
        r#"lunanode_list_cache_refreshes_total{cache="vm list"}"#,
        "lunanode_api_request_duration_seconds_bucket",
        "lunanode_managed_objects",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }
    assert!(
        !text.contains(&test_account('g').1[..32]),
        "no key material in metrics"
    );
}

/// The addresses `vm/iplist` gives the VM `id`, sorted.
async fn addresses(world: &World, id: &str) -> Vec<String> {
    let mut listed: Vec<String> = world
        .cloud()
        .vm_iplist(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|address| !address.is_floating())
        .map(|address| address.ip)
        .collect();
    listed.sort();
    listed
}

#[tokio::test]
async fn additional_private_addresses_are_added_and_removed_by_difference() {
    let world = World::start("vm", 'p').await;
    world
        .create(&vm("web", LunaVMSpec::new("web", "m.1", IMAGE)))
        .await;
    let web = world.ready::<LunaVM>("web").await;
    let id = web.status.as_ref().unwrap().managed.id.clone().unwrap();
    let primary = web
        .status
        .as_ref()
        .and_then(|status| status.at_provider.as_ref())
        .and_then(|at| at.networking.private_ip.clone())
        .unwrap();
    let (network, _) = primary.rsplit_once('.').unwrap();
    let [a, b, c] = [50, 51, 52].map(|last| format!("{network}.{last}"));

    // Two more addresses: one `vm ip-add` each.
    let spec = world
        .patch_spec::<LunaVM>("web", json!({"additionalPrivateIPs": [a, b]}))
        .await;
    world
        .until::<LunaVM>("web", "both addresses added", |vm| {
            vm.status
                .as_ref()
                .and_then(|status| status.applied_additional_private_ips.clone())
                .is_some_and(|added| added.len() == 2)
                && support::wait::is_ready(vm)
                && vm.metadata.generation == spec.metadata.generation
        })
        .await;
    assert_eq!(world.sim.calls("vm/ip-add").await, 2);
    let mut expected = vec![primary.clone(), a.clone(), b.clone()];
    expected.sort();
    assert_eq!(addresses(&world, &id).await, expected);

    // One added in the panel is not the operator's: taking `b` out of the spec removes `b` only.
    world.cloud().vm_ip_add(&id, Some(&c)).await.unwrap();
    world
        .patch_spec::<LunaVM>("web", json!({"additionalPrivateIPs": [a]}))
        .await;
    world
        .until::<LunaVM>("web", "b removed", |vm| {
            vm.status
                .as_ref()
                .and_then(|status| status.applied_additional_private_ips.clone())
                == Some(vec![a.clone()])
        })
        .await;
    assert_eq!(world.sim.calls("vm/ip-delete").await, 1);
    let mut expected = vec![primary.clone(), a.clone(), c.clone()];
    expected.sort();
    assert_eq!(addresses(&world, &id).await, expected);

    // The panel's address put in the spec is found there, not taken over: taken out of the
    // spec again, it stays on the VM.
    let unowned = |vm: &LunaVM| {
        vm.status
            .as_ref()
            .and_then(|status| status.unowned_additional_private_ips.clone())
            .unwrap_or_default()
    };
    world
        .patch_spec::<LunaVM>("web", json!({"additionalPrivateIPs": [a, c]}))
        .await;
    world
        .until::<LunaVM>("web", "c found", |vm| unowned(vm) == vec![c.clone()])
        .await;
    world
        .patch_spec::<LunaVM>("web", json!({"additionalPrivateIPs": [a]}))
        .await;
    world
        .until::<LunaVM>("web", "c forgotten", |vm| unowned(vm).is_empty())
        .await;
    assert_eq!(world.sim.calls("vm/ip-delete").await, 1, "c is not removed");
    assert_eq!(addresses(&world, &id).await, expected);

    // A lost answer: the add took effect, its repeat is refused (the address is the VM's), and
    // the VM's addresses show it done. One address, never two.
    let adds = world.sim.calls("vm/ip-add").await;
    let lookups = world.sim.calls("vm/iplist").await;
    world
        .sim
        .admin_post(
            "faults",
            json!({"drop_after_commit_rate": 1.0, "actions": ["vm/ip-add"]}),
        )
        .await;
    world
        .patch_spec::<LunaVM>("web", json!({"additionalPrivateIPs": [a, b]}))
        .await;
    support::eventually(WAIT, "an add attempt", || async {
        (world.sim.calls("vm/ip-add").await > adds).then_some(())
    })
    .await;
    world.sim.admin_post("faults", json!({})).await;
    world
        .until::<LunaVM>("web", "b added again", |vm| {
            vm.status
                .as_ref()
                .and_then(|status| status.applied_additional_private_ips.clone())
                .is_some_and(|added| added.len() == 2)
        })
        .await;
    let mut expected = vec![primary, a, b, c];
    expected.sort();
    assert_eq!(addresses(&world, &id).await, expected);
    assert!(
        world.sim.calls("vm/iplist").await > lookups + 1,
        "the lost answer was looked up (the test reads the list once itself)"
    );
    let reasons = world.event_reasons("web").await;
    assert!(
        !reasons.iter().any(|reason| reason == "UpdateFailed"),
        "the refused repeat is recognised as done: {reasons:?}"
    );
}

#[tokio::test]
async fn vms_show_their_price_and_a_budget_holds_creates_and_upsizes() {
    // A budget of $10 a month; m.1 costs $3.50, m.2 $7.00, m.4 $14.00.
    let world = World::setup("vm", 'q')
        .operator_args(&["--max-monthly-cost", "10", "--min-credit-days", "1000"])
        .start()
        .await;
    world
        .create(&vm("small", LunaVMSpec::new("small", "m.1", IMAGE)))
        .await;
    let small = world
        .until::<LunaVM>("small", "Ready with its price", |vm| {
            condition(vm, "Ready").is_some_and(|c| c.status == "True")
                && vm
                    .status
                    .as_ref()
                    .and_then(|s| s.at_provider.as_ref())
                    .and_then(|a| a.monthly_cost)
                    == Some(3.5)
        })
        .await;
    let at = small.status.unwrap().at_provider.unwrap();
    assert_eq!(at.plan_name.as_deref(), Some("m.1"));
    // The simulator's $100 covers about 870 days of $3.50 a month: under the 1000 asked for.
    let note = support::eventually(WAIT, "a LowCredit Event", || async {
        support::wait::events_about(&world.api(), "small")
            .await
            .into_iter()
            .find(|event| event.reason.as_deref() == Some("LowCredit"))
            .and_then(|event| event.note)
    })
    .await;
    assert!(note.contains("$100.00") && note.contains("days"), "{note}");
    let credit = world
        .operator()
        .metric_value(&format!(
            "lunanode_account_credit_usd{{account=\"{}\"}}",
            account_hash(&world.account.0)
        ))
        .await;
    assert_eq!(credit, Some(100.0));
    support::eventually(WAIT, "the monthly total in the metrics", || async {
        let total = world
            .operator()
            .metric_value(r#"lunanode_monthly_cost_usd{kind="LunaVM"}"#)
            .await?;
        ((total - 3.5).abs() < 1e-9).then_some(())
    })
    .await;

    // $3.50 + $7.00 is over $10: the second VM waits, and nothing is created for it.
    world
        .create(&vm("big", LunaVMSpec::new("big", "m.2", IMAGE)))
        .await;
    let refused = world
        .until::<LunaVM>("big", "BudgetExceeded", |vm| {
            condition(vm, "Ready").is_some_and(|c| c.reason == "BudgetExceeded")
        })
        .await;
    let message = condition(&refused, "Ready").unwrap().message;
    assert!(
        message.contains("$10.50/month") && message.contains("$10.00/month"),
        "{message}"
    );
    assert!(condition(&refused, "Stalled").is_some_and(|c| c.status == "True"));
    assert_eq!(
        world.sim.calls("vm/create").await,
        1,
        "nothing created over the budget"
    );

    // An upsize over the budget is held too; one within it goes ahead.
    world
        .patch_spec::<LunaVM>("small", json!({"plan": "m.4"}))
        .await;
    let held = world
        .until::<LunaVM>("small", "the upsize held", |vm| {
            condition(vm, "Synced").is_some_and(|c| c.reason == "BudgetExceeded")
        })
        .await;
    assert!(
        condition(&held, "Synced")
            .unwrap()
            .message
            .contains("$14.00/month")
    );
    assert_eq!(
        world.sim.calls("vm/resize").await,
        0,
        "no resize over the budget"
    );
    // The held upsize holds nothing else: a power change still goes through.
    world
        .patch_spec::<LunaVM>("small", json!({"powerState": "Stopped"}))
        .await;
    let sim = &world.sim;
    support::eventually(WAIT, "the stop sent", || async {
        (sim.calls("vm/stop").await == 1).then_some(())
    })
    .await;
    assert_eq!(world.sim.calls("vm/resize").await, 0);
    world
        .patch_spec::<LunaVM>("small", json!({"plan": "m.2", "powerState": "Running"}))
        .await;
    world
        .until::<LunaVM>("small", "resized to m.2 and priced", |vm| {
            vm.status
                .as_ref()
                .and_then(|s| s.at_provider.as_ref())
                .and_then(|a| a.monthly_cost)
                == Some(7.0)
        })
        .await;
    assert_eq!(world.sim.calls("vm/resize").await, 1);

    // Once `small` is gone, `big` fits and is created by itself.
    world.delete::<LunaVM>("small").await;
    world.gone::<LunaVM>("small").await;
    let big = world.ready::<LunaVM>("big").await;
    assert!(big.status.unwrap().managed.id.is_some());
    assert_eq!(world.sim.calls("vm/create").await, 2);
}

/// How logs and metrics name an account: the first 8 hex digits of the SHA-256 of its API ID.
fn account_hash(api_id: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(api_id.as_bytes())[..4])
}
