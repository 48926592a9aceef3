//! Steady-state API traffic does not grow with the number of LunaVMs: 10 and 100 VMs, each set
//! with its own simulator and operator, converge; then over one minute of steady state both
//! accounts see the same `vm list` rate (one per slow poll interval) and no per-VM `vm info`.
//! The figures are printed; the assertions are on counts, never on speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use lunanode_operator::api::vm::{LunaVM, LunaVMSpec};
use support::{World, processes::count_calls, wait};

const SLOW_POLL_SECONDS: u64 = 10;

struct Fleet {
    world: World,
    size: usize,
}

async fn fleet(tag: char, size: usize) -> Fleet {
    let slow = SLOW_POLL_SECONDS.to_string();
    let world = World::setup("scale", tag)
        .operator_args(&["--slow-poll-seconds", &slow, "--rate", "50"])
        .start()
        .await;
    for i in 0..size {
        let name = format!("vm-{i:03}");
        world
            .create(&LunaVM::new(
                &name,
                LunaVMSpec::new(&name, "m.1", "Ubuntu 22.04 64-bit (template)"),
            ))
            .await;
    }
    Fleet { world, size }
}

async fn all_ready(fleet: &Fleet) {
    let vms = fleet.world.api::<LunaVM>();
    let size = fleet.size;
    support::eventually(Duration::from_secs(300), "every LunaVM Ready", || {
        let vms = vms.clone();
        async move {
            let list = vms.list(&Default::default()).await.ok()?;
            let ready = list.items.iter().filter(|vm| wait::is_ready(*vm)).count();
            (ready == size).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn steady_state_traffic_does_not_grow_with_the_number_of_vms() {
    let small = fleet('s', 10).await;
    let large = fleet('l', 100).await;
    tokio::join!(all_ready(&small), all_ready(&large));

    // Converged: let in-flight work settle, then count a steady-state minute.
    tokio::time::sleep(Duration::from_secs(2 * SLOW_POLL_SECONDS)).await;
    for fleet in [&small, &large] {
        fleet
            .world
            .sim
            .admin_post("stats/reset", serde_json::json!({}))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut lists = Vec::new();
    for fleet in [&small, &large] {
        let stats = fleet.world.sim.admin_get("stats").await;
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
