//! Two replicas with leader election: only the leader writes; killing it hands over within the
//! lease duration and nothing is created twice; SIGTERM finishes in-flight work, releases the
//! Lease and exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, api::PostParams};
use lunanode_operator::api::vm::{LunaVM, LunaVMSpec};
use support::{World, wait};

const LEASE_SECONDS: u64 = 4;

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("lunanode-operator")
        .await
        .ok()
        .flatten()
        .and_then(|lease| lease.spec?.holder_identity)
}

#[tokio::test]
async fn only_the_leader_writes_and_a_standby_takes_over() {
    // Two operators, each started here.
    let world = World::setup("leader", 'h').without_operator().start().await;
    let sim = &world.sim;
    let lease_seconds = LEASE_SECONDS.to_string();
    let start = |name: &str| {
        world.start_operator(&[
            "--leader-elect",
            "--lease-duration-seconds",
            &lease_seconds,
            "--instance",
            name,
        ])
    };
    let mut first = start("replica-a");
    let leases: Api<Lease> = world.api();
    let leader = support::eventually(Duration::from_secs(30), "a leader", || {
        let leases = leases.clone();
        async move { holder(&leases).await }
    })
    .await;
    assert_eq!(leader, "replica-a");
    let mut second = start("replica-b");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let vms: Api<LunaVM> = world.api();
    let image = "Ubuntu 22.04 64-bit (template)";
    vms.create(
        &PostParams::default(),
        &LunaVM::new("one", LunaVMSpec::new("one", "m.1", image)),
    )
    .await
    .unwrap();
    wait::ready(&vms, "one", wait::WAIT).await;
    assert!(
        first.logs().contains("creating LunaVM"),
        "the leader creates"
    );
    assert!(
        !second.logs().contains("creating LunaVM"),
        "the standby never writes"
    );
    assert!(!second.logs().contains("acquired leadership"));

    // The leader dies without releasing the Lease: the standby takes over once it expires.
    first.kill();
    let killed = Instant::now();
    vms.create(
        &PostParams::default(),
        &LunaVM::new("two", LunaVMSpec::new("two", "m.1", image)),
    )
    .await
    .unwrap();
    support::eventually(Duration::from_secs(60), "replica-b leads", || {
        let leases = leases.clone();
        async move { (holder(&leases).await.as_deref() == Some("replica-b")).then_some(()) }
    })
    .await;
    let handover = killed.elapsed();
    println!("handover after the leader was killed: {handover:?} (lease {LEASE_SECONDS} s)");
    assert!(
        handover < Duration::from_secs(3 * LEASE_SECONDS + 5),
        "handover within the lease duration (plus renew slack): {handover:?}"
    );
    wait::ready(&vms, "two", wait::WAIT).await;
    wait::ready(&vms, "one", wait::WAIT).await;
    let state = sim.state().await;
    let count = state.to_string().matches("\"hostname\":\"one\"").count()
        + state.to_string().matches("\"hostname\":\"two\"").count();
    assert_eq!(count, 2, "exactly one VM each: {state}");
    assert_eq!(sim.calls("vm/create").await, 2, "nothing created twice");

    // SIGTERM: the leader stops cleanly and gives the Lease up at once.
    let code = second.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "a clean exit:\n{}", second.logs());
    assert!(
        second.logs().contains("released leadership"),
        "{}",
        second.logs()
    );
    let released = holder(&leases).await;
    assert!(
        released.as_deref().is_none_or(str::is_empty),
        "the Lease has no holder after release: {released:?}"
    );
}
