//! Nothing the operator holds for credentials is kept for good. One LunaNetwork is switched
//! through 200 credentials Secret names, one after the other: each switch opens a watch on the
//! new Secret. Once the last switch is reconciled, the sweep prunes the pool back to one Secret
//! watch and one account (the gauges `lunanode_credential_watches` and `lunanode_accounts`), and
//! after the network is deleted, to none: no watch, no account, no list-cache poller left
//! listing with those credentials. The operator's resident memory at the start, at the peak and
//! at the end is printed for the record (a figure, not an assertion).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use lunanode_operator::api::{
    common::ManagedResource,
    network::{LunaNetwork, LunaNetworkSpec},
};
use serde_json::json;
use support::{World, processes::Operator};

const NAMES: usize = 200;
/// The prune grace (30 s), a sweep interval (10 s), and room to spare.
const PRUNED: Duration = Duration::from_secs(180);

/// The pool gauges, as (Secret watches, accounts).
async fn pool(operator: &Operator) -> Option<(u64, u64)> {
    Some((
        operator.metric("lunanode_credential_watches").await?,
        operator.metric("lunanode_accounts").await?,
    ))
}

#[tokio::test]
async fn cycling_credentials_secret_names_leaves_nothing_behind() {
    let world = World::start("pool", 'p').await;
    for index in 0..NAMES {
        world.credentials_secret(&format!("creds-{index}")).await;
    }
    world
        .create(&LunaNetwork::new(
            "net",
            LunaNetworkSpec::new("pool-net", "10.94.1.0/24"),
        ))
        .await;
    world.ready::<LunaNetwork>("net").await;
    let operator = world.operator();
    assert_eq!(
        pool(operator).await,
        Some((1, 1)),
        "one Secret, one account"
    );
    let start = operator.resident_kib();

    // Each switch is reconciled (its generation observed) before the next.
    for index in 0..NAMES {
        let patched: LunaNetwork = world
            .patch_spec(
                "net",
                json!({"credentialsSecretRef": {"name": format!("creds-{index}")}}),
            )
            .await;
        let generation = patched.metadata.generation;
        world
            .until::<LunaNetwork>("net", "the switch reconciled", |network| {
                network.observed_generation() == generation
            })
            .await;
    }
    let (peak_watches, _) = pool(operator).await.expect("the pool gauges");
    let peak = operator.resident_kib();
    assert!(
        peak_watches > 10,
        "the switches opened watches (else this test shows nothing): {peak_watches}"
    );

    support::eventually(
        PRUNED,
        "the pool pruned to one Secret and one account",
        || async move { (pool(operator).await? == (1, 1)).then_some(()) },
    )
    .await;
    let network: LunaNetwork = world.ready("net").await;
    assert_eq!(
        network.credentials_secret_name(),
        format!("creds-{}", NAMES - 1)
    );
    let pruned = operator.resident_kib();

    world.delete::<LunaNetwork>("net").await;
    world.gone::<LunaNetwork>("net").await;
    support::eventually(PRUNED, "the pool empty", || async move {
        (pool(operator).await? == (0, 0)).then_some(())
    })
    .await;
    // Nothing polls for an account that is gone: the network list is called no more.
    let before = world.sim.calls("network/list").await;
    support::processes::pause(12).await;
    assert_eq!(
        world.sim.calls("network/list").await,
        before,
        "no list poller outlives its account"
    );
    let end = operator.resident_kib();
    println!(
        "operator resident memory (KiB): start {start:?}, after {NAMES} switches {peak:?} \
         ({peak_watches} watches), pruned {pruned:?}, empty {end:?}"
    );
}
