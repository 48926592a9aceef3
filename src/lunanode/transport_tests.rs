//! HTTP-level tests of the client against the canned server: the wire format, error
//! classification from real responses, secrets in errors, legacy mode, typed calls and the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;

use super::{
    Client, ClientConfig, Credentials, Error, MAX_RESPONSE_BYTES, RetryPolicy, sign,
    test_server::{Canned, ID, Server, key, new_client, ok, start, start_with, status},
    types::VmCreate,
};

#[tokio::test]
async fn signed_requests_follow_the_wire_format() {
    let (server, endpoint) = start(vec![ok(r#"{"success":"yes","info":{},"extra":{}}"#)]).await;
    let (client, attempts) = new_client(&endpoint, |_| {});
    client
        .vm_floatingip_delete("vm-1", None, false)
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests[0].0, "/api/vm/floatingip-delete/");
    let names: Vec<&str> = requests[0]
        .1
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(names, ["req", "signature", "nonce"]);
    let req = server.field(0, "req").unwrap();
    let nonce = server.field(0, "nonce").unwrap();
    let signature = server.field(0, "signature").unwrap();
    let parsed: Value = serde_json::from_str(&req).unwrap();
    // Unset optionals (ip, keep) are absent, not "" or null.
    assert_eq!(
        parsed,
        serde_json::json!({"vm_id": "vm-1", "api_id": ID, "api_partialkey": &key()[..64]})
    );
    assert!(nonce.parse::<u64>().unwrap() > 1_600_000_000);
    assert!(sign::verify(
        key().as_bytes(),
        "vm/floatingip-delete/",
        &req,
        &nonce,
        &signature
    ));
    assert!(
        !req.contains(&key()[64..]),
        "the second half of the key never travels"
    );
    assert_eq!(
        *attempts.lock().unwrap(),
        [("vm", "floatingip-delete", "ok")]
    );
}

#[tokio::test]
async fn unknown_actions_and_missing_parameters_are_not_sent() {
    let (server, endpoint) = start(vec![]).await;
    let (client, _) = new_client(&endpoint, |_| {});
    let error = client.request("vm", "explode", &[]).await.unwrap_err();
    assert_eq!(error, Error::invalid_request("unknown action vm/explode"));
    let error = client
        .request("vm", "reimage", &[("vm_id", "1"), ("image_id", "")])
        .await;
    assert_eq!(
        error.unwrap_err().to_string(),
        "invalid request: image_id not set"
    );
    let error = client.vm_create(&VmCreate::default()).await.unwrap_err();
    assert_eq!(error.category(), "invalid_request");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn responses_are_classified() {
    let (_, endpoint) = start(vec![
        ok(r#"{"success":"no","error":"invalid vm"}"#),
        ok(r#"{"success":"no","error":"authentication failure; common reasons: bad nonce (computer time off), source IP mismatch, invalid API id\/key"}"#),
        Canned {
            retry_after: Some("30"),
            ..status(429, "")
        },
        status(503, "<html>down</html>"),
        ok("<html>maintenance</html>"),
        ok(r#"{"vms":[]}"#),
    ])
    .await;
    let (client, _) = new_client(&endpoint, |config| config.retry = RetryPolicy::none());
    let not_found = client.vm_info("x").await.unwrap_err();
    assert!(not_found.is_not_found());
    assert_eq!(client.vm_list().await.unwrap_err().category(), "auth");
    assert_eq!(
        client.vm_list().await.unwrap_err(),
        Error::Throttled {
            retry_after: Some(Duration::from_secs(30))
        }
    );
    let unavailable = client.vm_list().await.unwrap_err();
    assert_eq!(unavailable.category(), "transient");
    assert!(unavailable.may_have_taken_effect());
    let maintenance = client.vm_list().await.unwrap_err();
    assert!(
        maintenance.to_string().contains("<html>maintenance</html>"),
        "{maintenance}"
    );
    let no_success = client.vm_list().await.unwrap_err();
    assert_eq!(no_success.category(), "decode");
}

#[tokio::test]
async fn redirects_are_not_followed_and_huge_answers_not_read() {
    let (elsewhere, target) = start(vec![]).await;
    let (_, endpoint) = start(vec![
        Canned {
            location: Some(format!("{target}vm/list/")),
            ..status(302, "")
        },
        ok(&format!(
            r#"{{"success":"yes","vms":[],"pad":"{}"}}"#,
            "x".repeat(MAX_RESPONSE_BYTES)
        )),
    ])
    .await;
    let (client, _) = new_client(&endpoint, |config| config.retry = RetryPolicy::none());
    let redirected = client.vm_list().await.unwrap_err();
    assert_eq!(redirected.category(), "decode");
    assert!(redirected.to_string().contains("redirect"), "{redirected}");
    assert!(
        elsewhere.requests().is_empty(),
        "the signed request went to the redirect's target"
    );
    let huge = client.vm_list().await.unwrap_err();
    assert!(huge.to_string().contains("larger than 32 MiB"), "{huge}");
}

#[tokio::test]
async fn plain_http_endpoints_need_an_explicit_yes() {
    let credentials = Credentials::new(ID, SecretString::from(key())).unwrap();
    let refused = Client::new(
        credentials.clone(),
        ClientConfig {
            endpoint: "http://127.0.0.1:1/api/".into(),
            ..ClientConfig::default()
        },
    )
    .err()
    .unwrap();
    assert!(
        refused.to_string().contains("--allow-insecure-endpoint"),
        "{refused}"
    );
    assert!(
        Client::new(
            credentials,
            ClientConfig {
                endpoint: "http://127.0.0.1:1/api/".into(),
                allow_insecure: true,
                ..ClientConfig::default()
            },
        )
        .is_ok()
    );
}

#[tokio::test]
async fn secrets_never_reach_error_messages() {
    let (_, endpoint) = start_with(Server {
        echo: true,
        ..Server::default()
    })
    .await;
    let (client, _) = new_client(&endpoint, |_| {});
    let error = client.vm_list().await.unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(text.contains("bad request"), "{text}");
    assert!(!text.contains(&key()[..64]), "{text}");
    assert!(text.contains("[redacted]"));

    let (_, endpoint) = start_with(Server {
        echo: true,
        ..Server::default()
    })
    .await;
    let (legacy, _) = new_client(&endpoint, |config| config.legacy = true);
    let error = legacy.vm_list().await.unwrap_err();
    assert!(!format!("{error} {error:?}").contains("K9xK9x"));

    // A secret parameter's value (a mailbox password) is redacted as the key is.
    let (_, endpoint) = start_with(Server {
        echo: true,
        ..Server::default()
    })
    .await;
    let (client, _) = new_client(&endpoint, |_| {});
    let error = client
        .request(
            "email",
            "user-set-password",
            &[
                ("domain_id", "1"),
                ("user_id", "2"),
                ("password", "Hunter2 &\"Zq9/word\n+%!"),
            ],
        )
        .await
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(text.contains("bad request"), "{text}");
    assert!(!text.contains("Hunter2"), "{text}");
    assert!(!text.contains("Zq9"), "{text}");
}

#[tokio::test]
async fn legacy_mode_sends_plain_fields_to_api_php() {
    let (server, endpoint) = start(vec![ok(r#"{"success":"yes","vms":[]}"#)]).await;
    let (client, _) = new_client(&endpoint, |config| config.legacy = true);
    client.vm_info("abc").await.unwrap();
    let requests = server.requests();
    assert_eq!(requests[0].0, "/api.php");
    assert_eq!(server.field(0, "api_id").as_deref(), Some(ID));
    assert_eq!(server.field(0, "api_key"), Some(key()));
    assert_eq!(server.field(0, "category").as_deref(), Some("vm"));
    assert_eq!(server.field(0, "action").as_deref(), Some("info"));
    assert_eq!(server.field(0, "vm_id").as_deref(), Some("abc"));
    assert_eq!(server.field(0, "signature"), None);
}

#[tokio::test]
async fn typed_create_sends_lists_comma_separated() {
    let (server, endpoint) = start(vec![ok(r#"{"success":"yes","vm_id":"81ebdd9e"}"#)]).await;
    let (client, _) = new_client(&endpoint, |_| {});
    let request = VmCreate {
        hostname: "web".into(),
        plan_id: "m.2".into(),
        image_id: Some("630902".into()),
        securitygroups: vec!["1".into(), "2".into()],
        key_id: vec!["1862".into()],
        region: Some("montreal".into()),
        ..VmCreate::default()
    };
    assert_eq!(client.vm_create(&request).await.unwrap(), "81ebdd9e");
    let req: Value = serde_json::from_str(&server.field(0, "req").unwrap()).unwrap();
    assert_eq!(req["securitygroups"], "1,2");
    assert_eq!(req["key_id"], "1862");
    assert_eq!(req["region"], "montreal");
    assert!(req.get("scripts").is_none() && req.get("set_password").is_none());
}

#[tokio::test]
async fn the_cli_prints_json_or_the_api_error() {
    let (_, endpoint) = start(vec![
        ok(r#"{"success":"yes","credit":"4.81033438"}"#),
        ok(r#"{"success":"no","error":"invalid plan selection"}"#),
    ])
    .await;
    let key = key();
    let base = [
        "t",
        "--endpoint",
        &endpoint,
        "--allow-insecure-endpoint",
        "--api-id",
        ID,
        "--api-key",
        &key,
    ];
    let run = |extra: &[&str]| {
        let arguments: Vec<&str> = base.iter().chain(extra).copied().collect();
        <CliTest as clap::Parser>::try_parse_from(arguments)
            .unwrap()
            .api
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(&["billing", "credit"])
        .run_with(&mut out, &mut err)
        .await
        .unwrap();
    assert_eq!(code, 0);
    let printed: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(printed["credit"], "4.81033438");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(&["vm", "resize", "vm_id=1", "plan_id=9"])
        .run_with(&mut out, &mut err)
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert_eq!(
        String::from_utf8(err).unwrap().trim(),
        "invalid plan selection"
    );
}

#[derive(clap::Parser)]
struct CliTest {
    #[command(flatten)]
    api: super::cli::ApiArgs,
}
