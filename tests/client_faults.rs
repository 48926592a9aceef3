//! The project's client against the simulator with each fault on: every fault kind arrives as
//! the right error class, creates are never retried blindly, and bad credentials are told apart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The simulator helpers alone: this file needs no control plane, so it leaves out the rest of
// the support module.
#[path = "support/sim_process.rs"]
mod sim_process;

use std::time::Duration;

use lunanode_operator::lunanode::{Client, Error, RetryPolicy};
use serde_json::{Value, json};
use sim_process::{API_ID, InProcess, api_key, config};

fn client(server: &InProcess, key: String, retry: RetryPolicy) -> Client {
    let endpoint = format!("{}/api/", server.base);
    sim_process::api_client(&endpoint, API_ID, &key, |config| {
        config.timeout = Duration::from_secs(2);
        config.retry = retry;
    })
}

async fn vm_count(server: &InProcess) -> usize {
    let client = client(server, api_key(), RetryPolicy::none());
    client.vm_list().await.unwrap().len()
}

#[tokio::test]
async fn each_fault_kind_is_classified() {
    let server = InProcess::start(config()).await;
    let once = client(&server, api_key(), RetryPolicy::none());

    server.set_faults(json!({"http_5xx_rate": 1.0})).await;
    let error = once.vm_list().await.unwrap_err();
    assert!(matches!(error, Error::Transient { .. }), "5xx: {error:?}");
    assert!(error.is_retryable());

    server.set_faults(json!({"throttle_rate": 1.0})).await;
    let error = once.vm_list().await.unwrap_err();
    assert!(matches!(error, Error::Throttled { .. }), "429: {error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));

    server.set_faults(json!({"api_error_rate": 1.0})).await;
    let error = once.vm_list().await.unwrap_err();
    assert!(matches!(error, Error::Api { .. }), "success:no: {error:?}");
    assert!(!error.is_retryable());

    server
        .set_faults(json!({"timeout_rate": 1.0, "timeout_ms": 5000}))
        .await;
    let error = once.vm_list().await.unwrap_err();
    assert!(
        matches!(error, Error::Transient { .. }),
        "timeout: {error:?}"
    );
    assert!(error.may_have_taken_effect());

    // The create happens, the answer is lost: a transport error that may have taken effect.
    server
        .set_faults(json!({"drop_after_commit_rate": 1.0, "actions": ["vm/create"]}))
        .await;
    let before = vm_count(&server).await;
    let error = once
        .request(
            "vm",
            "create",
            &[
                ("hostname", "lost"),
                ("plan_id", "m.1"),
                ("image_id", "1001"),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Transient { .. }),
        "dropped: {error:?}"
    );
    assert!(error.may_have_taken_effect());
    assert_eq!(vm_count(&server).await, before + 1, "the create did happen");

    server.set_faults(json!({})).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn transient_errors_are_retried_for_reads_but_never_for_creates() {
    let server = InProcess::start(config()).await;
    let retrying = client(
        &server,
        api_key(),
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
    );
    server.set_faults(json!({"http_5xx_rate": 1.0})).await;
    let stats_before = server.sim.stats();
    assert!(retrying.vm_list().await.is_err());
    assert!(
        retrying
            .request(
                "vm",
                "create",
                &[("hostname", "x"), ("plan_id", "m.1"), ("image_id", "1001")]
            )
            .await
            .is_err()
    );
    let stats = server.sim.stats();
    let calls =
        |stats: &Value, action: &str| stats["actions"][action]["calls"].as_u64().unwrap_or(0);
    assert_eq!(
        calls(&stats, "vm/list") - calls(&stats_before, "vm/list"),
        3,
        "a read is retried"
    );
    assert_eq!(
        calls(&stats, "vm/create") - calls(&stats_before, "vm/create"),
        1,
        "a create is not"
    );
    server.set_faults(json!({})).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_wrong_key_is_an_authentication_error_without_the_key() {
    let server = InProcess::start(config()).await;
    let wrong_key = "w".repeat(128);
    let wrong = client(&server, wrong_key.clone(), RetryPolicy::none());
    let error = wrong.vm_list().await.unwrap_err();
    assert!(matches!(error, Error::Auth { .. }), "{error:?}");
    let text = format!("{error} {error:?}");
    assert!(text.contains("authentication failure"), "{text}");
    assert!(
        !text.contains(&wrong_key[..64]),
        "no key material in errors"
    );
    server.stop().await.unwrap();
}
