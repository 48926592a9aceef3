//! The admin side: faults seen at the HTTP level, counters, the clock, graceful shutdown, and the
//! binary started as its own process.

use super::*;

#[tokio::test]
async fn faults_are_visible_at_the_http_level() {
    let server = start().await;
    let client = server.client();
    let req = client.req(&[]);

    server.set_faults(json!({"http_5xx_rate": 1.0})).await;
    let raw = client.send_signed("vm", "list", &req, &nonce()).await;
    assert!([500, 502, 503].contains(&raw.status), "{raw:?}");
    assert!(raw.body.contains("<html>"));

    server.set_faults(json!({"throttle_rate": 1.0})).await;
    let raw = client.send_signed("vm", "list", &req, &nonce()).await;
    assert_eq!(raw.status, 429);
    assert_eq!(raw.retry_after.as_deref(), Some("1"));
    assert_eq!(raw.json()["error"], "too many requests; please slow down");

    server
        .set_faults(json!({"api_error_rate": 1.0, "actions": ["vm/create"]}))
        .await;
    assert_eq!(
        client
            .error(
                "vm",
                "create",
                &[("hostname", "x"), ("plan_id", "m.1"), ("image_id", "1001")]
            )
            .await,
        "internal error, please try again"
    );
    client.ok("vm", "list", &[]).await;
    assert!(
        client.ok("vm", "list", &[]).await["vms"]
            .as_array()
            .unwrap()
            .is_empty(),
        "not performed"
    );

    server
        .set_faults(json!({"timeout_rate": 1.0, "timeout_ms": 300}))
        .await;
    let started = Instant::now();
    let raw = client.send_signed("vm", "list", &req, &nonce()).await;
    assert_eq!(raw.status, 504);
    assert!(started.elapsed() >= Duration::from_millis(300));

    server
        .set_faults(json!({"latency_ms": 200, "latency_jitter_ms": 50}))
        .await;
    let started = Instant::now();
    client.ok("vm", "list", &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(200));

    server
        .set_faults(json!({"throttle_burst": {"per_second": 0.5, "burst": 2}}))
        .await;
    client.ok("vm", "list", &[]).await;
    client.ok("vm", "list", &[]).await;
    let raw = client.send_signed("vm", "list", &req, &nonce()).await;
    assert_eq!(raw.status, 429);
    // Each account has its own bucket.
    server.other_client().ok("vm", "list", &[]).await;

    // The action is performed, but the client never hears of it.
    server
        .set_faults(json!({"drop_after_commit_rate": 1.0, "actions": ["vm/create"]}))
        .await;
    let create = client.req(&[
        ("hostname", "ghost"),
        ("plan_id", "m.1"),
        ("image_id", "1001"),
    ]);
    let nonce = nonce();
    let signature = sign::signature(api_key().as_bytes(), "vm/create/", &create, &nonce);
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let outcome = async {
        let response = fresh
            .post(format!("{}/api/vm/create/", server.base))
            .form(&[
                ("req", create.as_str()),
                ("signature", &signature),
                ("nonce", &nonce),
            ])
            .send()
            .await?;
        response.bytes().await
    }
    .await;
    assert!(
        outcome.is_err(),
        "a dropped response must not look like success: {outcome:?}"
    );
    let state = server.admin_get("state").await;
    let vms = state["accounts"][API_ID]["vms"].as_object().unwrap();
    assert_eq!(vms.len(), 1, "the VM was created exactly once");
    assert_eq!(vms.values().next().unwrap()["hostname"], "ghost");

    server.set_faults(json!({})).await;
    let stats = server.admin_get("stats").await;
    for kind in [
        "http_5xx",
        "throttle",
        "api_error",
        "timeout",
        "throttle_burst",
        "drop_after_commit",
    ] {
        assert!(
            stats["faults"][kind].as_u64().unwrap_or(0) >= 1,
            "{kind}: {stats}"
        );
    }
    assert_eq!(stats["actions"]["vm/create"]["fault"], 2);

    // Invalid settings are refused with 400 and leave the faults alone.
    for bad in [
        r#"{"http_5xx_rate": 2}"#,
        r#"{"latency": 5}"#,
        r#"{"actions": ["vm/explode"]}"#,
        r#"{"throttle_burst": {"per_second": 0}}"#,
        r#"{"list_omit_rate": 1.5}"#,
        r#"{"list_omit_rate": -0.1}"#,
        r#"{"list_empty_rate": 2}"#,
        r#"{"list_empty_rate": "half"}"#,
        r#"{"list_omit_rate": NaN}"#,
        "not json",
    ] {
        let (status, answer) = server.admin_post("faults", bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(answer["error"].is_string());
    }
    assert_eq!(server.admin_get("faults").await["timeout_ms"], 60000);
    server.stop().await.unwrap();
}

/// The `vm_id`s of a vm/list answer.
fn listed_vms(answer: &Value) -> Vec<String> {
    answer["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|vm| vm["vm_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn list_omissions_hide_entries_but_not_the_objects() {
    let server = start().await;
    let client = server.client();
    let vm_id = create_vm(&client, "hidden").await;
    let listed = listed_vms(&client.ok("vm", "list", &[]).await);
    assert_eq!(listed, std::slice::from_ref(&vm_id));
    server.admin_post("stats/reset", "").await;

    server.set_faults(json!({"list_omit_rate": 1.0})).await;
    let faults = server.admin_get("faults").await;
    assert_eq!(faults["list_omit_rate"], 1.0);
    assert_eq!(faults["list_empty_rate"], 0.0);
    let answer = client.ok("vm", "list", &[]).await;
    assert_eq!(answer["vms"], json!([]), "{answer}");
    // The VM still exists: vm/info answers it, and the state holds it.
    let info = vm_info(&client, &vm_id).await;
    assert_eq!(info["extra"]["vm_id"], vm_id.as_str());
    let state = server.admin_get("state").await;
    assert!(state["accounts"][API_ID]["vms"].get(&vm_id).is_some());

    let stats = server.admin_get("stats").await;
    assert_eq!(stats["faults"]["list_omit"], 1, "{stats}");
    assert_eq!(
        stats["actions"]["vm/list"]["ok"], 1,
        "a thinned list is a success"
    );
    assert_eq!(stats["totals"]["fault"], 0);

    // The `actions` filter holds: another list is whole.
    let volume = client
        .ok(
            "volume",
            "create",
            &[("region", "toronto"), ("label", "data"), ("size", "10")],
        )
        .await["volume_id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .set_faults(json!({"list_omit_rate": 1.0, "actions": ["vm/list"]}))
        .await;
    assert!(listed_vms(&client.ok("vm", "list", &[]).await).is_empty());
    let volumes = client.ok("volume", "list", &[]).await;
    assert_eq!(volumes["volumes"][0]["id"], volume.as_str(), "{volumes}");

    // Half the time: over enough calls the VM is seen both listed and left out.
    server
        .set_faults(json!({"list_omit_rate": 0.5, "seed": 3}))
        .await;
    let (mut present, mut absent) = (0, 0);
    for _ in 0..200 {
        if listed_vms(&client.ok("vm", "list", &[]).await).contains(&vm_id) {
            present += 1;
        } else {
            absent += 1;
        }
        if present >= 3 && absent >= 3 {
            break;
        }
    }
    assert!(
        present >= 3 && absent >= 3,
        "{present} present, {absent} absent"
    );
    let stats = server.admin_get("stats").await;
    assert!(
        stats["faults"]["list_omit"].as_u64().unwrap() >= 5,
        "{stats}"
    );

    server.set_faults(json!({})).await;
    assert_eq!(listed_vms(&client.ok("vm", "list", &[]).await), [vm_id]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn emptied_lists_look_like_an_empty_account() {
    let server = start().await;
    let client = server.client();
    let t = ("region", "toronto");
    let vm_id = create_vm(&client, "emptied").await;
    client
        .ok("volume", "create", &[t, ("label", "data"), ("size", "10")])
        .await;
    client.ok("floating", "add", &[t]).await;
    client
        .ok(
            "network",
            "create",
            &[
                t,
                ("name", "lan"),
                ("subnet", "192.168.30"),
                ("dns", "8.8.8.8"),
            ],
        )
        .await;
    let zone = client
        .ok("dns", "zone-add", &[("origin", "emptied.example.")])
        .await["zone_id"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .ok(
            "dns",
            "record-add",
            &[
                ("zone_id", &zone),
                ("name", "www"),
                ("data", "192.0.2.10"),
                ("ttl", "300"),
                ("type", "A"),
            ],
        )
        .await;
    client
        .ok(
            "sshkey",
            "add",
            &[
                ("label", "me"),
                ("sshkey", "ssh-ed25519 AAAAC3NzaC1 me@host"),
            ],
        )
        .await;
    server.advance(30).await;
    server.admin_post("stats/reset", "").await;

    server.set_faults(json!({"list_empty_rate": 1.0})).await;
    assert_eq!(server.admin_get("faults").await["list_empty_rate"], 1.0);
    // Each list answers as it does for an account with no objects (the other account), in the
    // same PHP encoding: `[]` for arrays and for ID-keyed maps, nothing beside `success` for
    // sshkey/list.
    let lists = [
        ("vm", "list"),
        ("volume", "list"),
        ("floating", "list"),
        ("network", "list"),
        ("dns", "list"),
        ("dns", "zone-list"),
        ("dns2", "zone-list"),
        ("sshkey", "list"),
        ("image", "list"),
    ];
    let other = server.other_client();
    let req = client.req(&[]);
    let other_req = other.req(&[]);
    for (category, action) in lists {
        let ours = client.send_signed(category, action, &req, &nonce()).await;
        let empty = other
            .send_signed(category, action, &other_req, &nonce())
            .await;
        assert_eq!(ours.body, empty.body, "{category}/{action}");
    }
    let records = client.ok("dns", "record-list", &[("zone_id", &zone)]).await;
    assert_eq!(records["records"], json!([]), "{records}");
    let lbs = client.ok("lb", "list", &[t]).await;
    assert_eq!(lbs["lb"], json!([]));
    // Nothing was deleted.
    assert_eq!(
        vm_info(&client, &vm_id).await["extra"]["vm_id"],
        vm_id.as_str()
    );
    server.set_faults(json!({})).await;
    assert_eq!(listed_vms(&client.ok("vm", "list", &[]).await), [vm_id]);
    let zones = client.ok("dns2", "zone-list", &[]).await;
    assert_eq!(zones["zones"].as_array().unwrap().len(), 1);

    // Every list that had entries counts once (image/list keeps its public images and had
    // none of the account's own; lb/list had nothing to hide).
    let stats = server.admin_get("stats").await;
    assert_eq!(stats["faults"]["list_empty"], 9, "{stats}");
    assert!(stats["faults"].get("list_omit").is_none(), "{stats}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn stats_count_every_call_and_reset() {
    let server = start().await;
    let client = server.client();
    server.admin_post("stats/reset", "").await;
    client.ok("vm", "list", &[]).await;
    client.ok("vm", "list", &[]).await;
    client.error("vm", "info", &[("vm_id", "nope")]).await;
    client.error("vm", "bogus", &[]).await;
    let stats = server.admin_get("stats").await;
    assert_eq!(stats["actions"]["vm/list"]["calls"], 2);
    assert_eq!(stats["actions"]["vm/list"]["ok"], 2);
    assert_eq!(stats["actions"]["vm/info"]["api_error"], 1);
    assert_eq!(stats["actions"]["(invalid)"]["calls"], 1);
    assert_eq!(stats["totals"]["calls"], 4);
    assert!(stats["since"].as_str().unwrap().ends_with('Z'));
    let (status, reset) = server.admin_post("stats/reset", "").await;
    assert_eq!(status, 200);
    assert_eq!(reset["totals"]["calls"], 0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn clock_endpoint_validates_its_input() {
    let server = start().await;
    for bad in [r#"{"advance_seconds": -5}"#, r#"{"advance": 5}"#, "[]", ""] {
        let (status, _) = server.admin_post("clock", bad).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, clock) = server
        .admin_post("clock", r#"{"advance_seconds": 90}"#)
        .await;
    assert_eq!(status, 200);
    assert_eq!(clock["offset_seconds"], 90.0);
    assert_eq!(server.admin_get("clock").await["offset_seconds"], 90.0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_cuts_held_calls_short() {
    let server = start().await;
    server
        .set_faults(json!({"timeout_rate": 1.0, "timeout_ms": 600000}))
        .await;
    let client = server.client();
    let held = tokio::spawn(async move {
        client
            .send_signed("vm", "list", &client.req(&[]), &nonce())
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(held.await.unwrap().status, 504);
}

#[tokio::test]
async fn the_binary_serves_on_the_port_it_prints() {
    let key = api_key();
    let process = SimProcess::start(
        env!("CARGO_BIN_EXE_lunanode-operator"),
        &[
            "--api-id",
            API_ID,
            "--api-key",
            &key,
            "--build-seconds",
            "1",
            "--seed",
            "7",
        ],
    );
    assert!(process.base.starts_with("http://127.0.0.1:"));
    assert!(!process.base.ends_with(":0"));
    let client = SignedClient::new(&process.base, API_ID, &key);
    let vm_id = create_vm(&client, "proc").await;
    // Real time passes here: a one-second build.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let info = vm_info(&client, &vm_id).await;
    assert_eq!(info["info"]["status_nohtml"], "Online");
    let health = reqwest::get(format!("{}/_sim/health", process.base))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[test]
fn the_binary_refuses_to_start_without_an_account() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lunanode-operator"))
        .args(["sim", "--listen", "127.0.0.1:0"])
        .env_remove("LUNANODE_API_ID")
        .env_remove("LUNANODE_API_KEY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least one account"));
}
