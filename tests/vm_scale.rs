//! Steady-state API traffic does not grow with the number of LunaVMs: 10 and 100 VMs, each set
//! with its own simulator and operator, converge; then over one minute of steady state both
//! accounts see the same `vm list` rate (one per slow poll interval) and no per-VM `vm info`.
//! The figures are printed; the assertions are on counts, never on speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use kube::{Api, api::PostParams};
use lunanode_operator::api::{
    common::is_condition_true,
    vm::{LunaVM, LunaVMSpec},
};
use support::processes::{Operator, Simulator, count_calls, test_account};

const SLOW_POLL_SECONDS: u64 = 10;

struct Fleet {
    sim: Simulator,
    _operator: Operator,
    vms: Api<LunaVM>,
    size: usize,
}

async fn fleet(client: &kube::Client, tag: char, size: usize) -> Fleet {
    let ns = support::namespace(client, &format!("scale-{tag}")).await;
    let account = test_account(tag);
    let sim = Simulator::start(&account, &["--build-seconds", "2"]);
    support::credentials_secret(client, &ns, "lunanode-credentials", &account.0, &account.1).await;
    let slow = SLOW_POLL_SECONDS.to_string();
    let operator = Operator::start(
        &support::control_plane().kubeconfig,
        &sim.endpoint(),
        &[
            "--namespace",
            &ns,
            "--slow-poll-seconds",
            &slow,
            "--rate",
            "50",
        ],
    );
    let vms: Api<LunaVM> = Api::namespaced(client.clone(), &ns);
    for i in 0..size {
        let name = format!("vm-{i:03}");
        vms.create(
            &PostParams::default(),
            &LunaVM::new(
                &name,
                LunaVMSpec::new(&name, "m.1", "Ubuntu 22.04 64-bit (template)"),
            ),
        )
        .await
        .unwrap();
    }
    Fleet {
        sim,
        _operator: operator,
        vms,
        size,
    }
}

async fn all_ready(fleet: &Fleet) {
    let vms = fleet.vms.clone();
    let size = fleet.size;
    support::eventually(Duration::from_secs(300), "every LunaVM Ready", || {
        let vms = vms.clone();
        async move {
            let list = vms.list(&Default::default()).await.ok()?;
            let ready = list
                .items
                .iter()
                .filter(|vm| {
                    vm.status.as_ref().is_some_and(|status| {
                        is_condition_true(&status.managed.conditions, "Ready")
                    })
                })
                .count();
            (ready == size).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn steady_state_traffic_does_not_grow_with_the_number_of_vms() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let small = fleet(&client, 's', 10).await;
    let large = fleet(&client, 'l', 100).await;
    tokio::join!(all_ready(&small), all_ready(&large));

    // Converged: let in-flight work settle, then count a steady-state minute.
    tokio::time::sleep(Duration::from_secs(2 * SLOW_POLL_SECONDS)).await;
    for fleet in [&small, &large] {
        fleet
            .sim
            .admin_post("stats/reset", serde_json::json!({}))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut lists = Vec::new();
    for fleet in [&small, &large] {
        let stats = fleet.sim.admin_get("stats").await;
        let list = count_calls(&stats, "vm/list");
        let info = count_calls(&stats, "vm/info");
        let total = stats["totals"]["calls"].as_u64().unwrap_or_default();
        println!(
            "N = {:3}: {list} vm/list, {info} vm/info, {total} calls in total during one steady-state minute",
            fleet.size
        );
        assert_eq!(
            info, 0,
            "no per-VM vm info polling in steady state (N = {})",
            fleet.size
        );
        assert!(
            list <= 60 / SLOW_POLL_SECONDS + 1,
            "one vm list per slow poll interval (N = {}): {list}",
            fleet.size
        );
        assert_eq!(
            total, list,
            "nothing but list calls in steady state (N = {})",
            fleet.size
        );
        lists.push(list);
    }
    assert!(
        lists[0].abs_diff(lists[1]) <= 1,
        "the list rate does not depend on N: {lists:?}"
    );
}
