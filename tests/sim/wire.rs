//! Signing and nonces, the encoding of answers, missing parameters and bad references, malformed
//! input, and the legacy API.

use super::*;

#[tokio::test]
async fn python_style_request_is_accepted() {
    let server = start().await;
    let client = server.client();
    // Exactly what the official Python library sends: json.dumps with spaces, numbers as
    // JSON numbers, api_* keys last.
    let key = api_key();
    let req = format!(
        r#"{{"hostname": "web1", "plan_id": 86, "image_id": 1001, "api_id": "{API_ID}", "api_partialkey": "{}"}}"#,
        &key[..64]
    );
    let answer = client.send_signed("vm", "create", &req, &nonce()).await;
    assert_eq!(answer.status, 200);
    let answer = answer.json();
    assert_eq!(answer["success"], "yes", "{answer}");
    let vm_id = answer["vm_id"].as_str().unwrap();
    assert_eq!(vm_id.len(), 36, "VM IDs are UUIDs");
    let info = vm_info(&client, vm_id).await;
    assert_eq!(info["extra"]["plan_id"], "86");
    assert_eq!(info["info"]["hostname"], "web1");

    // Go-style: alphabetical keys, plus the extra `handler` field.
    let req = format!(
        r#"{{"api_id":"{API_ID}","api_partialkey":"{}"}}"#,
        &key[..64]
    );
    let nonce = nonce();
    let signature = sign::signature(key.as_bytes(), "vm/list/", &req, &nonce);
    let answer = client
        .send_form(
            "vm",
            "list",
            &[
                ("handler", "vm/list/"),
                ("nonce", &nonce),
                ("req", &req),
                ("signature", &signature),
            ],
        )
        .await
        .json();
    assert_eq!(answer["success"], "yes");
    assert_eq!(answer["vms"].as_array().unwrap().len(), 1);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn authentication_failures_use_the_real_text() {
    let server = start().await;
    let client = server.client();
    let req = client.req(&[]);
    let now: i64 = nonce().parse().unwrap();

    // Bad signature.
    let bad = client
        .send_form(
            "vm",
            "list",
            &[
                ("req", &req),
                ("signature", &"ab".repeat(64)),
                ("nonce", &nonce()),
            ],
        )
        .await;
    assert_eq!(bad.status, 200);
    assert_eq!(bad.json()["error"], AUTH_FAILURE);
    assert_eq!(bad.json()["success"], "no");
    // Signed for another handler.
    let signature = sign::signature(api_key().as_bytes(), "vm/info/", &req, &nonce());
    let wrong_handler = client
        .send_form(
            "vm",
            "list",
            &[
                ("req", &req),
                ("signature", &signature),
                ("nonce", &nonce()),
            ],
        )
        .await;
    assert_eq!(wrong_handler.json()["error"], AUTH_FAILURE);
    // Stale, future and millisecond nonces.
    for stale in [now - 1000, now + 1000, now * 1000] {
        let answer = client
            .send_signed("vm", "list", &req, &stale.to_string())
            .await;
        assert_eq!(answer.json()["error"], AUTH_FAILURE, "nonce {stale}");
    }
    // Within the window is fine.
    let answer = client
        .send_signed("vm", "list", &req, &(now - 100).to_string())
        .await;
    assert_eq!(answer.json()["success"], "yes");
    // Wrong partial key, signed with the right key.
    let wrong_partial = req.replace(&api_key()[..64], &"x".repeat(64));
    let answer = client
        .send_signed("vm", "list", &wrong_partial, &nonce())
        .await;
    assert_eq!(answer.json()["error"], AUTH_FAILURE);
    // Unknown API ID.
    let stranger = SignedClient::new(&server.base, "qqqqqqqqqqqqqqqq", &api_key());
    assert_eq!(stranger.error("vm", "list", &[]).await, AUTH_FAILURE);
    // The right ID with the wrong key.
    let impostor = SignedClient::new(&server.base, API_ID, &"k".repeat(128));
    assert_eq!(impostor.error("vm", "list", &[]).await, AUTH_FAILURE);

    let stats = server.admin_get("stats").await;
    assert_eq!(stats["actions"]["vm/list"]["auth_error"], 8);
    assert_eq!(stats["actions"]["vm/list"]["ok"], 1);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn replays_are_rejected_only_when_configured() {
    let server = InProcess::start(SimConfig {
        reject_replays: true,
        ..config()
    })
    .await;
    let client = server.client();
    let req = client.req(&[]);
    let nonce = nonce();
    assert_eq!(
        client.send_signed("vm", "list", &req, &nonce).await.json()["success"],
        "yes"
    );
    let replay = client.send_signed("vm", "list", &req, &nonce).await.json();
    assert_eq!(replay["error"], AUTH_FAILURE);
    // Same nonce, different request: not a replay.
    let other = client.req(&[("region", "toronto")]);
    assert_eq!(
        client
            .send_signed("image", "list", &other, &nonce)
            .await
            .json()["success"],
        "yes"
    );
    server.stop().await.unwrap();

    let lenient = start().await;
    let client = lenient.client();
    let req = client.req(&[]);
    let nonce = sim_process::nonce();
    for _ in 0..2 {
        assert_eq!(
            client.send_signed("vm", "list", &req, &nonce).await.json()["success"],
            "yes"
        );
    }
    lenient.stop().await.unwrap();
}

#[tokio::test]
async fn missing_parameters_and_bad_references() {
    let server = start().await;
    let client = server.client();
    assert_eq!(client.error("vm", "info", &[]).await, "vm_id not set");
    assert_eq!(
        client
            .error("volume", "create", &[("region", "toronto")])
            .await,
        "label not set"
    );
    assert_eq!(client.error("lb", "list", &[]).await, "region not set");
    // vm/create's own wording, with `/` escaped on the wire.
    let req = client.req(&[("hostname", "a"), ("plan_id", "m.1")]);
    let raw = client.send_signed("vm", "create", &req, &nonce()).await;
    assert!(
        raw.body
            .contains(r"hostname, plan_id, and\/or image_id not set"),
        "{}",
        raw.body
    );
    assert_eq!(
        client
            .error("vm", "create", &[("plan_id", "m.1"), ("image_id", "1001")])
            .await,
        "hostname, plan_id, and/or image_id not set"
    );
    // An empty string counts as not set.
    assert_eq!(
        client.error("vm", "info", &[("vm_id", "")]).await,
        "vm_id not set"
    );
    // An optional parameter sent empty is not one left out: it is checked, and refused.
    assert!(client.ok("network", "list", &[]).await["success"] == "yes");
    assert_eq!(
        client.error("network", "list", &[("region", "")]).await,
        "invalid region"
    );
    assert_eq!(
        client
            .error(
                "vm",
                "create",
                &[
                    ("hostname", "a"),
                    ("plan_id", "m.1"),
                    ("image_id", "1001"),
                    ("region", "")
                ]
            )
            .await,
        "invalid region"
    );
    // A flag whose value is ignored is set by being sent, even empty.
    let disk_bus = |extra: &'static [(&'static str, &'static str)]| {
        let client = &client;
        async move {
            let id = fetch_image(client, "flagged", extra).await;
            client.ok("image", "details", &[("image_id", &id)]).await["details"]["hw_disk_bus"]
                .clone()
        }
    };
    assert_eq!(disk_bus(&[("virtio", "")]).await, "virtio");
    assert_eq!(disk_bus(&[]).await, "ide");

    assert_eq!(
        client
            .error(
                "vm",
                "info",
                &[("vm_id", "81ebdd9e-178f-49a4-816b-a1fc46fc5869")]
            )
            .await,
        "invalid vm"
    );
    let create = |plan: &'static str, image: &'static str, region: &'static str| {
        let client = client.clone();
        async move {
            client
                .error(
                    "vm",
                    "create",
                    &[
                        ("hostname", "h"),
                        ("plan_id", plan),
                        ("image_id", image),
                        ("region", region),
                    ],
                )
                .await
        }
    };
    assert_eq!(
        create("m.3", "1001", "toronto").await,
        "invalid plan selection"
    );
    assert_eq!(
        create("m.1", "999999", "toronto").await,
        "invalid image selection"
    );
    // Image 1001 is a Toronto image.
    assert_eq!(
        create("m.1", "1001", "montreal").await,
        "invalid image selection"
    );
    assert_eq!(create("m.1", "2001", "narnia").await, "invalid region");
    assert_eq!(
        client.error("image", "details", &[("image_id", "5")]).await,
        "invalid image"
    );
    assert_eq!(
        client.error("volume", "info", &[("volume_id", "1")]).await,
        "invalid volume"
    );
    assert_eq!(
        client
            .error(
                "dns",
                "record-add",
                &[
                    ("zone_id", "1"),
                    ("name", "www"),
                    ("data", "x"),
                    ("ttl", "60"),
                    ("type", "A")
                ]
            )
            .await,
        "invalid zone"
    );
    // Unknown category or action.
    assert_eq!(client.error("vm", "explode", &[]).await, "invalid action");
    assert_eq!(
        client.error("spaceship", "list", &[]).await,
        "invalid action"
    );
    // `null` is refused with a clear message.
    let key = api_key();
    let req = format!(
        r#"{{"vm_id": null, "api_id": "{API_ID}", "api_partialkey": "{}"}}"#,
        &key[..64]
    );
    let answer = client
        .send_signed("vm", "info", &req, &nonce())
        .await
        .json();
    assert_eq!(answer["success"], "no");
    assert!(
        answer["error"].as_str().unwrap().contains("null"),
        "{answer}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn responses_are_encoded_like_php() {
    let server = start().await;
    let client = server.client();
    let raw = client
        .send_signed("region", "list", &client.req(&[]), &nonce())
        .await;
    assert_eq!(raw.content_type, "text/html; charset=UTF-8");
    let regions = raw.json();
    assert_eq!(regions["regions"]["toronto"], "Toronto, Canada");
    assert_eq!(regions["regions"]["roubaix"], "Roubaix, France");

    let plans = client.ok("plan", "list", &[]).await;
    let plans = plans["plans"].as_array().unwrap();
    let code_to_id: BTreeMap<&str, &str> = plans
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["plan_id"].as_str().unwrap()))
        .collect();
    assert_eq!(code_to_id["s.half"], "79");
    assert_eq!(code_to_id["m.1"], "86");
    assert_eq!(code_to_id["c.16"], "97");
    assert!(
        plans
            .iter()
            .all(|p| p["ram"].is_string() && p["price"].is_string())
    );

    // Slashes escaped, numbers as strings, empty maps as [].
    client
        .ok(
            "network",
            "create",
            &[
                ("region", "toronto"),
                ("name", "n"),
                ("subnet", "172.20.5"),
                ("dns", "8.8.8.8"),
            ],
        )
        .await;
    let raw = client
        .send_signed("network", "list", &client.req(&[]), &nonce())
        .await;
    assert!(
        raw.body.contains(r#""subnet":"172.20.5.0\/24""#),
        "{}",
        raw.body
    );
    let raw = client
        .send_signed(
            "image",
            "details",
            &client.req(&[("image_id", "1001")]),
            &nonce(),
        )
        .await;
    assert!(raw.body.contains(r#""metadata":[]"#), "{}", raw.body);
    assert!(raw.body.contains(r#""size":""#), "{}", raw.body);

    // sshkey/list: index keys next to success.
    client
        .ok(
            "sshkey",
            "add",
            &[("label", "a"), ("sshkey", "ssh-ed25519 AAAAC3Nza a@b")],
        )
        .await;
    client
        .ok(
            "sshkey",
            "add",
            &[("label", "b"), ("sshkey", "ssh-rsa AAAAB3Nza b@c")],
        )
        .await;
    let keys = client.ok("sshkey", "list", &[]).await;
    assert_eq!(keys["0"]["name"], "a");
    assert_eq!(keys["1"]["value"], "ssh-rsa AAAAB3Nza b@c");
    assert_eq!(keys.as_object().unwrap().len(), 3);

    // Empty lists are [] too, and non-ASCII is escaped.
    let raw = client
        .send_signed("vm", "list", &client.req(&[]), &nonce())
        .await;
    assert_eq!(raw.body, r#"{"success":"yes","vms":[]}"#);
    client
        .ok(
            "script",
            "create",
            &[("name", "caf\u{e9}"), ("content", "echo hi\n")],
        )
        .await;
    let raw = client
        .send_signed("script", "list", &client.req(&[]), &nonce())
        .await;
    assert!(raw.body.contains(r"caf\u00e9"), "{}", raw.body);
    assert!(raw.body.contains(r"echo hi\r\n"), "{}", raw.body);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn malformed_requests_get_errors_and_the_server_keeps_serving() {
    let server = start().await;
    let client = server.client();
    let key = api_key();
    let form = "application/x-www-form-urlencoded";
    let signed = |req: &str| {
        let nonce = nonce();
        let signature = sign::signature(key.as_bytes(), "vm/list/", req, &nonce);
        serde_urlencoded::to_string([("req", req), ("signature", &signature), ("nonce", &nonce)])
            .unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty body", Vec::new(), form),
        (
            "json body",
            br#"{"req": "{}"}"#.to_vec(),
            "application/json",
        ),
        ("req not JSON", signed("{not json").into_bytes(), form),
        ("req JSON array", signed("[1,2]").into_bytes(), form),
        ("req JSON string", signed(r#""hello""#).into_bytes(), form),
        (
            "invalid UTF-8",
            b"req=%FF%FE%FD&signature=\xff\xfe&nonce=1".to_vec(),
            form,
        ),
        (
            "missing nonce",
            format!("req={}&signature=abc", "%7B%7D").into_bytes(),
            form,
        ),
        (
            "non-numeric nonce",
            serde_urlencoded::to_string([
                ("req", client.req(&[]).as_str()),
                ("signature", "ab"),
                ("nonce", "soon"),
            ])
            .unwrap()
            .into_bytes(),
            form,
        ),
        ("2 MiB body", vec![b'a'; 2 * 1024 * 1024], form),
        (
            "binary",
            (0..=255u8).cycle().take(4096).collect(),
            "application/octet-stream",
        ),
    ];
    for (name, body, content_type) in cases {
        let raw = client.send_body("vm", "list", body, content_type).await;
        assert_eq!(raw.status, 200, "{name}");
        let answer = raw.json();
        assert_eq!(answer["success"], "no", "{name}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}"
        );
        // Still serving.
        client.ok("vm", "list", &[]).await;
    }
    // The wrong method and unknown paths are plain HTTP errors.
    let http = reqwest::Client::new();
    let get = http
        .get(format!("{}/api/vm/list/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let nowhere = http
        .post(format!("{}/nowhere", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status().as_u16(), 404);
    // Without the trailing slash is fine.
    let req = client.req(&[]);
    let nonce = nonce();
    let signature = sign::signature(key.as_bytes(), "vm/list/", &req, &nonce);
    let response = http
        .post(format!("{}/api/vm/list", server.base))
        .form(&[
            ("req", req.as_str()),
            ("signature", &signature),
            ("nonce", &nonce),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sim_process::raw(response).await.json()["success"], "yes");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn legacy_api_with_the_key_in_the_query() {
    let server = start().await;
    let key = api_key();
    let http = reqwest::Client::new();
    let url = format!(
        "{}/api.php?api_id={API_ID}&api_key={key}&category=vm&action=create&hostname=old&plan_id=s.1&image_id=1002",
        server.base
    );
    let created = sim_process::raw(http.get(url).send().await.unwrap())
        .await
        .json();
    assert_eq!(created["success"], "yes", "{created}");
    let listed = sim_process::raw(
        http.post(format!("{}/api", server.base))
            .form(&[
                ("api_id", API_ID),
                ("api_key", key.as_str()),
                ("category", "vm"),
                ("action", "list"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await
    .json();
    assert_eq!(listed["vms"][0]["vm_id"], created["vm_id"]);
    let wrong = sim_process::raw(
        http.get(format!(
            "{}/api?api_id={API_ID}&api_key=nope&category=vm&action=list",
            server.base
        ))
        .send()
        .await
        .unwrap(),
    )
    .await
    .json();
    assert_eq!(wrong["error"], AUTH_FAILURE);
    server.stop().await.unwrap();
}
