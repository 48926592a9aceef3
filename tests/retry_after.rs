//! A throttled answer whose `Retry-After` is absurd — 99,999,999,999 seconds, past the range of
//! any timer — neither crashes the operator nor stops the account's objects. A volume whose
//! extend is throttled says `Throttled` (and no longer `Ready`: its spec changed and the change
//! is not made), is not retried in a hot loop, the cut of the header to the ceiling
//! (`--max-retry-after-seconds`, 5 s here instead of the default 300) is counted in `/metrics`,
//! another kind on the same account converges meanwhile, and once the API behaves again the
//! volume is extended without a nudge. That the wait itself is cut to the ceiling is the unit
//! test `a_huge_retry_after_is_cut_to_the_ceiling` (`controller::error`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Instant;

use lunanode_operator::api::{LunaNetwork, LunaNetworkSpec, LunaVolume, LunaVolumeSpec};
use serde_json::json;
use support::{World, processes::Operator, wait::WAIT};

/// The `lunanode_retry_after_capped_total` sample of `kind`, if the metric has one.
async fn capped(operator: &Operator, kind: &str) -> Option<u64> {
    operator
        .metric(&format!(
            "lunanode_retry_after_capped_total{{kind=\"{kind}\"}}"
        ))
        .await
}

#[tokio::test]
async fn a_huge_retry_after_neither_crashes_nor_freezes_the_others() {
    let mut world = World::setup("retry-after", 'y')
        .operator_args(&["--max-retry-after-seconds", "5"])
        .start()
        .await;
    world
        .create(&LunaVolume::new("data", LunaVolumeSpec::new("e2e-data", 5)))
        .await;
    let _: LunaVolume = world.ready("data").await;
    world
        .sim
        .admin_post(
            "faults",
            json!({
                "throttle_rate": 1.0,
                "actions": ["volume/extend"],
                "retry_after": "99999999999"
            }),
        )
        .await;
    let started = Instant::now();
    world
        .patch_spec::<LunaVolume>("data", json!({"size": 10}))
        .await;
    let synced = world
        .condition::<LunaVolume>("data", "Synced=False, Throttled", |c| {
            c.type_ == "Synced"
                && c.status == "False"
                && c.reason == "Throttled"
                && c.observed_generation == Some(2)
        })
        .await;
    assert!(synced.message.contains("throttled"), "{synced:?}");
    let ready = world
        .condition::<LunaVolume>("data", "Ready=False for generation 2", |c| {
            c.type_ == "Ready" && c.observed_generation == Some(2)
        })
        .await;
    assert!(
        !ready.is_true(),
        "Ready while the spec's size is not made: {ready:?}"
    );
    let operator = world.operator();
    let counted = support::eventually(WAIT, "the capped Retry-After counted", || async move {
        capped(operator, "LunaVolume").await.filter(|n| *n >= 1)
    })
    .await;
    assert!(counted >= 1);

    // The account's other objects go on: a network on the same account converges while the
    // volume's extend is throttled.
    world
        .create(&LunaNetwork::new(
            "beside",
            LunaNetworkSpec::new("e2e-beside", "10.77.12.0/24"),
        ))
        .await;
    let _: LunaNetwork = world.ready("beside").await;
    assert!(
        world.operator_mut().running(),
        "the operator exited:\n{}",
        world.operator().logs()
    );

    // Retried at the ceiling's pace, not in a loop (the client does not retry a throttled call
    // whose Retry-After is beyond its own limit).
    let attempts = world.sim.calls("volume/extend").await;
    let allowed = 2 + started.elapsed().as_secs() / 4;
    assert!(
        (1..=allowed).contains(&attempts),
        "{attempts} throttled extends in {:?}",
        started.elapsed()
    );

    // The API behaves again: the volume is extended by itself, within the ceiling.
    world.sim.admin_post("faults", json!({})).await;
    let volume: LunaVolume = world.ready("data").await;
    let size = volume
        .status
        .and_then(|s| s.at_provider)
        .and_then(|a| a.size);
    assert_eq!(size, Some(10));
    assert!(world.operator_mut().running());
}
