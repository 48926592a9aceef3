//! HTTP-level tests of retries and rate limiting: what is retried (reads, refused connections,
//! throttling), what never is (a create that may have arrived), and the shared token bucket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use super::{
    Error,
    test_server::{Canned, new_client, ok, outcomes, start, status},
    types::{VmCreate, VolumeCreate},
};

#[tokio::test]
async fn reads_are_retried_after_server_errors() {
    let (server, endpoint) = start(vec![
        status(502, ""),
        status(500, ""),
        ok(r#"{"success":"yes","vms":[{"vm_id":"a"}]}"#),
    ])
    .await;
    let (client, attempts) = new_client(&endpoint, |_| {});
    let vms = client.vm_list().await.unwrap();
    assert_eq!(vms[0].vm_id, "a");
    assert_eq!(server.requests().len(), 3);
    assert_eq!(outcomes(&attempts), ["transient", "transient", "ok"]);
}

#[tokio::test]
async fn creates_are_not_retried_once_the_request_may_have_arrived() {
    let (server, endpoint) = start(vec![
        status(502, ""),
        ok(r#"{"success":"yes","vm_id":"dup"}"#),
    ])
    .await;
    let (client, _) = new_client(&endpoint, |_| {});
    let request = VmCreate {
        hostname: "web".into(),
        plan_id: "m.1".into(),
        image_id: Some("1".into()),
        ..VmCreate::default()
    };
    let error = client.vm_create(&request).await.unwrap_err();
    assert!(error.is_retryable() && error.may_have_taken_effect());
    assert_eq!(server.requests().len(), 1, "no second create");
}

#[tokio::test]
async fn creates_are_not_retried_after_a_timeout() {
    let slow = Canned {
        delay: Duration::from_millis(1500),
        ..ok(r#"{"success":"yes","volume_id":"1"}"#)
    };
    let (server, endpoint) = start(vec![slow.clone(), slow]).await;
    let (client, _) = new_client(&endpoint, |config| {
        config.timeout = Duration::from_millis(300)
    });
    let request = VolumeCreate {
        region: "toronto".into(),
        label: "data".into(),
        size_gb: 10,
        ..Default::default()
    };
    let error = client.volume_create(&request).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transient {
                request_sent: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("timed out"), "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn refused_connections_are_retried_even_for_creates() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/api/", listener.local_addr().unwrap());
    drop(listener);
    let (client, attempts) = new_client(&endpoint, |_| {});
    let error = client.floating_add("toronto").await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transient {
                request_sent: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.may_have_taken_effect());
    assert_eq!(outcomes(&attempts), ["transient", "transient", "transient"]);
}

#[tokio::test]
async fn throttled_creates_are_retried_after_retry_after() {
    let throttled = Canned {
        retry_after: Some("0"),
        ..status(429, "")
    };
    let (server, endpoint) = start(vec![throttled, ok(r#"{"success":"yes","net_id":"42"}"#)]).await;
    let (client, attempts) = new_client(&endpoint, |_| {});
    let id = client
        .network_create("toronto", "n", "10.1.2", "8.8.8.8")
        .await
        .unwrap();
    assert_eq!(id.as_deref(), Some("42"));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(outcomes(&attempts), ["throttled", "ok"]);
}

#[tokio::test]
async fn a_long_retry_after_goes_back_to_the_caller() {
    let throttled = Canned {
        retry_after: Some("3600"),
        ..status(429, "")
    };
    let (server, endpoint) = start(vec![throttled]).await;
    let (client, _) = new_client(&endpoint, |_| {});
    let error = client.vm_list().await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn the_rate_limiter_spaces_requests_across_clones() {
    let (server, endpoint) = start(vec![]).await;
    let (client, _) = new_client(&endpoint, |config| {
        config.requests_per_second = 20.0;
        config.burst = 1;
    });
    let started = Instant::now();
    let clone = client.clone();
    let (a, b) = tokio::join!(
        async {
            for _ in 0..3 {
                client.call("plan", "list", &[]).await.unwrap();
            }
        },
        async {
            for _ in 0..2 {
                clone.call("plan", "list", &[]).await.unwrap();
            }
        }
    );
    let ((), ()) = (a, b);
    // Five requests through a bucket of one refilled every 50 ms: at least four waits.
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 5);
}
