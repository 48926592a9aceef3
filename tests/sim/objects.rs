//! Lifecycles on the simulated clock and consistency between related objects: VMs, volumes,
//! floating IPs, DNS, load balancers, and isolation between accounts.

use super::*;

#[tokio::test]
async fn vm_lifecycle_on_the_simulated_clock() {
    let server = start().await;
    let client = server.client();
    let vm_id = create_vm(&client, "life").await;

    let list = client.ok("vm", "list", &[]).await;
    let entry = &list["vms"][0];
    assert_eq!(entry["vm_id"], vm_id.as_str());
    assert_eq!(entry["primaryip"], "");
    let info = vm_info(&client, &vm_id).await;
    assert_eq!(info["info"]["status_nohtml"], "BUILD");
    assert_ne!(info["info"]["status_raw"], "active");
    assert_eq!(info["info"]["ip"], "", "the IP arrives late");
    assert!(
        client.ok("floating", "list", &[]).await["ips"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Busy while building.
    assert!(
        client
            .error("vm", "stop", &[("vm_id", &vm_id)])
            .await
            .contains("busy")
    );

    server.advance(21).await;
    let info = vm_info(&client, &vm_id).await;
    assert_eq!(info["info"]["status_nohtml"], "Online");
    assert_eq!(info["info"]["status_raw"], "active");
    assert_eq!(info["info"]["status_color"], "green");
    assert_eq!(
        info["info"]["status"],
        "&lt;font color=&quot;green&quot;&gt;&lt;b&gt;Online&lt;/b&gt;&lt;/font&gt;"
    );
    let ip = info["info"]["ip"].as_str().unwrap().to_owned();
    assert!(ip.starts_with("203.0.113."), "{ip}");
    assert_eq!(info["extra"]["primaryip"], ip.as_str());
    assert!(
        info["info"]["login_details"]
            .as_str()
            .unwrap()
            .starts_with("username: ubuntu; password: ")
    );
    let floating = client.ok("floating", "list", &[]).await;
    assert_eq!(floating["ips"][0]["ip"], ip.as_str());
    assert_eq!(floating["ips"][0]["attached_type"], "vm");
    assert_eq!(floating["ips"][0]["attached_id"], vm_id.as_str());

    // Passwords never show up in the state dump.
    let password = info["info"]["login_details"]
        .as_str()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let state = server.admin_get("state").await.to_string();
    assert!(!state.contains(&password));

    client.ok("vm", "stop", &[("vm_id", &vm_id)]).await;
    assert_eq!(
        vm_info(&client, &vm_id).await["info"]["status_nohtml"],
        "Powering off"
    );
    server.advance(5).await;
    assert_eq!(
        vm_info(&client, &vm_id).await["info"]["status_nohtml"],
        "Offline"
    );
    client.ok("vm", "start", &[("vm_id", &vm_id)]).await;
    assert_eq!(
        vm_info(&client, &vm_id).await["info"]["status_nohtml"],
        "Online"
    );

    client
        .ok("vm", "resize", &[("vm_id", &vm_id), ("plan_id", "m.4")])
        .await;
    assert_eq!(
        vm_info(&client, &vm_id).await["info"]["status_nohtml"],
        "Resizing"
    );
    server.advance(11).await;
    let info = vm_info(&client, &vm_id).await;
    assert_eq!(info["info"]["status_nohtml"], "Online");
    assert_eq!(info["extra"]["plan_id"], "88");
    assert_eq!(info["extra"]["ram"], "4096");
    // Back to m.2 would shrink local storage (60 GB to 30): success, and nothing happens, as
    // the real service does.
    client
        .ok("vm", "resize", &[("vm_id", &vm_id), ("plan_id", "m.2")])
        .await;
    server.advance(11).await;
    let info = vm_info(&client, &vm_id).await;
    assert_eq!(info["info"]["status_nohtml"], "Online");
    assert_eq!(info["extra"]["plan_id"], "88", "the resize did not happen");

    client.ok("vm", "shelve", &[("vm_id", &vm_id)]).await;
    server.advance(6).await;
    let info = vm_info(&client, &vm_id).await;
    assert_eq!(info["info"]["status_nohtml"], "Shelved");
    assert_eq!(info["info"]["status_raw"], "shelved_offloaded");
    client.ok("vm", "unshelve", &[("vm_id", &vm_id)]).await;
    server.advance(6).await;
    assert_eq!(
        vm_info(&client, &vm_id).await["info"]["status_nohtml"],
        "Online"
    );

    client
        .ok("vm", "reimage", &[("vm_id", &vm_id), ("image_id", "1003")])
        .await;
    let info = vm_info(&client, &vm_id).await;
    assert_eq!(info["info"]["status_nohtml"], "BUILD");
    server.advance(21).await;
    let info = vm_info(&client, &vm_id).await;
    assert_eq!(info["info"]["status_nohtml"], "Online");
    assert_eq!(info["info"]["os"], "Debian 12 64-bit (template)");
    assert_eq!(info["info"]["ip"], ip.as_str(), "reimage keeps the IP");

    client.ok("vm", "delete", &[("vm_id", &vm_id)]).await;
    assert_eq!(
        client.error("vm", "info", &[("vm_id", &vm_id)]).await,
        "invalid vm"
    );
    assert!(
        client.ok("vm", "list", &[]).await["vms"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        client.ok("floating", "list", &[]).await["ips"]
            .as_array()
            .unwrap()
            .is_empty(),
        "the VM's floating IP is released with it"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn builds_that_fail_or_never_end() {
    let server = start().await;
    let client = server.client();
    let (status, _) = server
        .admin_post(
            "faults",
            r#"{"vm_build_error_next": 1, "vm_build_stuck_next": 1}"#,
        )
        .await;
    assert_eq!(status, 200);
    let failing = create_vm(&client, "failing").await;
    let stuck = create_vm(&client, "stuck").await;
    let fine = create_vm(&client, "fine").await;
    // The counters count down as builds start, and the stats count what fired.
    let faults = server.admin_get("faults").await;
    assert_eq!(faults["vm_build_error_next"], 0);
    assert_eq!(faults["vm_build_stuck_next"], 0);
    let fired = &server.admin_get("stats").await["faults"];
    assert_eq!(fired["vm_build_error"], 1);
    assert_eq!(fired["vm_build_stuck"], 1);

    server.advance(3600).await;
    let status = |info: &Value| info["info"]["status_nohtml"].as_str().unwrap().to_owned();
    let failed = vm_info(&client, &failing).await;
    assert_eq!(status(&failed), "ERROR");
    assert_eq!(failed["info"]["status_raw"], "error");
    assert_eq!(status(&vm_info(&client, &stuck).await), "BUILD");
    assert_eq!(status(&vm_info(&client, &fine).await), "Online");
    let listed = client.ok("vm", "list", &[]).await;
    let raw = |id: &str| {
        listed["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|vm| vm["vm_id"] == id)
            .map(|vm| vm["os_status"].clone())
    };
    assert_eq!(raw(&failing), Some(json!("error")));
    // Nothing works on a VM in ERROR but a rebuild or a delete.
    for (action, extra) in [("start", None), ("stop", None), ("resize", Some("m.4"))] {
        let mut params = vec![("vm_id", failing.as_str())];
        if let Some(plan) = extra {
            params.push(("plan_id", plan));
        }
        let error = client.error("vm", action, &params).await;
        assert!(error.contains("error state"), "{action}: {error}");
    }
    client.ok("vm", "delete", &[("vm_id", &failing)]).await;
    let listed = client.ok("vm", "list", &[]).await;
    let ids: Vec<&str> = listed["vms"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|vm| vm["vm_id"].as_str())
        .collect();
    assert!(!ids.contains(&failing.as_str()), "{ids:?}");
    assert_eq!(ids.len(), 2);
}

#[tokio::test]
async fn a_vm_deletion_that_takes_time() {
    let server = start().await;
    let client = server.client();
    let vm_id = create_vm(&client, "leaving").await;
    server.advance(21).await;
    let (status, _) = server
        .admin_post("faults", r#"{"vm_delete_seconds": 30}"#)
        .await;
    assert_eq!(status, 200);
    client.ok("vm", "delete", &[("vm_id", &vm_id)]).await;
    // Still listed, as Nova keeps it: active, with the task in vm info only.
    let listed = client.ok("vm", "list", &[]).await;
    assert_eq!(listed["vms"][0]["vm_id"], vm_id.as_str());
    assert_eq!(listed["vms"][0]["os_status"], "active");
    let info = vm_info(&client, &vm_id).await;
    assert_eq!(info["info"]["task_state"], "deleting");
    // A second delete is accepted and changes nothing; anything else is busy.
    client.ok("vm", "delete", &[("vm_id", &vm_id)]).await;
    assert!(
        client
            .error("vm", "stop", &[("vm_id", &vm_id)])
            .await
            .contains("busy")
    );
    server.advance(31).await;
    let listed = client.ok("vm", "list", &[]).await;
    assert!(
        listed["vms"].as_array().is_none_or(Vec::is_empty),
        "{listed}"
    );
    let (bad, _) = server
        .admin_post("faults", r#"{"vm_delete_seconds": 601}"#)
        .await;
    assert_eq!(bad, 400);
}

#[tokio::test]
async fn slow_volume_attaches_and_vms_that_cannot_take_one() {
    let server = start().await;
    let client = server.client();
    let (status, _) = server
        .admin_post(
            "faults",
            r#"{"volume_attach_seconds": 10, "vm_attach_rules": true}"#,
        )
        .await;
    assert_eq!(status, 200);
    let vm_id = create_vm(&client, "host").await;
    let created = client
        .ok(
            "volume",
            "create",
            &[("region", "toronto"), ("label", "slow"), ("size", "5")],
        )
        .await;
    let volume_id = created["volume_id"].as_str().unwrap().to_owned();
    server.advance(21).await;
    async fn volume(client: &SignedClient, id: String) -> Value {
        let answer = client
            .ok(
                "volume",
                "info",
                &[("region", "toronto"), ("volume_id", &id)],
            )
            .await;
        answer["volume"].clone()
    }
    let attach = [
        ("region", "toronto"),
        ("volume_id", volume_id.as_str()),
        ("vm_id", vm_id.as_str()),
        ("target", "auto"),
    ];
    // Shelved: refused.
    client.ok("vm", "shelve", &[("vm_id", &vm_id)]).await;
    server.advance(10).await;
    let refused = client.error("volume", "attach", &attach).await;
    assert!(refused.contains("shelved"), "{refused}");
    client.ok("vm", "unshelve", &[("vm_id", &vm_id)]).await;
    server.advance(10).await;
    // Attaching, then in-use.
    client.ok("volume", "attach", &attach).await;
    assert_eq!(
        volume(&client, volume_id.clone()).await["status"],
        "attaching"
    );
    server.advance(11).await;
    assert_eq!(volume(&client, volume_id.clone()).await["status"], "in-use");
    // Detaching (a second detach is busy, a delete refused), then available.
    let detach = [("region", "toronto"), ("volume_id", volume_id.as_str())];
    client.ok("volume", "detach", &detach).await;
    assert_eq!(
        volume(&client, volume_id.clone()).await["status"],
        "detaching"
    );
    assert!(
        client
            .error("volume", "detach", &detach)
            .await
            .contains("busy")
    );
    assert!(
        client
            .error("volume", "delete", &detach)
            .await
            .contains("in use")
    );
    server.advance(11).await;
    let done = volume(&client, volume_id.clone()).await;
    assert_eq!(done["status"], "available");
    assert_eq!(done["attached"], "");
}

#[tokio::test]
async fn volumes_attach_on_both_sides() {
    let server = start().await;
    let client = server.client();
    let vm_id = create_vm(&client, "disks").await;
    let volume_id = client
        .ok(
            "volume",
            "create",
            &[("region", "toronto"), ("label", "data"), ("size", "20")],
        )
        .await["volume_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let info = |client: SignedClient, id: String| async move {
        client.ok("volume", "info", &[("volume_id", &id)]).await["volume"].clone()
    };
    assert_eq!(
        info(client.clone(), volume_id.clone()).await["status"],
        "creating"
    );
    let attach = [
        ("volume_id", volume_id.as_str()),
        ("vm_id", vm_id.as_str()),
        ("target", "auto"),
    ];
    assert!(
        client
            .error("volume", "attach", &attach)
            .await
            .contains("not available")
    );
    server.advance(6).await;
    assert_eq!(
        info(client.clone(), volume_id.clone()).await["status"],
        "available"
    );

    client.ok("volume", "attach", &attach).await;
    let volume = info(client.clone(), volume_id.clone()).await;
    assert_eq!(volume["status"], "in-use");
    assert_eq!(volume["attached"], vm_id.as_str());
    assert_eq!(volume["target"], "/dev/vdb");
    let vm = vm_info(&client, &vm_id).await;
    assert_eq!(vm["info"]["volumes"][0]["id"], volume_id.as_str());
    assert_eq!(vm["info"]["volumes"][0]["name"], "data");

    client
        .ok("volume", "detach", &[("volume_id", &volume_id)])
        .await;
    assert_eq!(
        info(client.clone(), volume_id.clone()).await["status"],
        "available"
    );
    assert!(
        vm_info(&client, &vm_id).await["info"]["volumes"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Deleting the VM leaves the volume in-use for a while.
    client.ok("volume", "attach", &attach).await;
    client.ok("vm", "delete", &[("vm_id", &vm_id)]).await;
    assert_eq!(
        info(client.clone(), volume_id.clone()).await["status"],
        "in-use"
    );
    assert!(
        client
            .error("volume", "delete", &[("volume_id", &volume_id)])
            .await
            .contains("in use")
    );
    server.advance(11).await;
    let volume = info(client.clone(), volume_id.clone()).await;
    assert_eq!(volume["status"], "available");
    assert_eq!(volume["attached"], "");
    client
        .ok("volume", "delete", &[("volume_id", &volume_id)])
        .await;
    assert!(
        client.ok("volume", "list", &[]).await["volumes"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn floating_ips_attach_and_detach() {
    let server = start().await;
    let client = server.client();
    let vm_id = create_vm(&client, "fip").await;
    server.advance(21).await;
    let primary = vm_info(&client, &vm_id).await["info"]["ip"]
        .as_str()
        .unwrap()
        .to_owned();

    let added = client.ok("floating", "add", &[("region", "toronto")]).await;
    let extra_ip = added["ip"].as_str().unwrap().to_owned();
    assert!(added["id"].is_string());
    let entry = |list: &Value, ip: &str| {
        list["ips"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["ip"] == ip)
            .cloned()
            .unwrap()
    };
    let list = client.ok("floating", "list", &[]).await;
    assert_eq!(entry(&list, &extra_ip)["attached_type"], "unattached");

    let answer = client
        .ok(
            "vm",
            "floatingip-add",
            &[("vm_id", &vm_id), ("ip", &extra_ip)],
        )
        .await;
    assert_eq!(answer["ip"], extra_ip.as_str());
    let list = client.ok("floating", "list", &[]).await;
    assert_eq!(entry(&list, &extra_ip)["attached_type"], "vm");
    assert_eq!(entry(&list, &extra_ip)["attached_id"], vm_id.as_str());
    assert_eq!(entry(&list, &extra_ip)["attached_name"], "fip");
    let info = vm_info(&client, &vm_id).await;
    assert_eq!(info["info"]["additionalip"][0], extra_ip.as_str());
    let addresses: Vec<&str> = info["info"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["addr"].as_str().unwrap())
        .collect();
    assert!(addresses.contains(&extra_ip.as_str()) && addresses.contains(&primary.as_str()));
    let iplist = client.ok("vm", "iplist", &[("vm_id", &vm_id)]).await;
    assert_eq!(iplist["ips"].as_array().unwrap().len(), 3);
    // Attached IPs cannot be reused or deleted.
    assert_eq!(
        client
            .error(
                "floating",
                "delete",
                &[("region", "toronto"), ("ip", &extra_ip)]
            )
            .await,
        "the floating IP is attached; detach it before deleting it"
    );

    // Detach the primary with keep=yes: it stays on the account, unattached, and the other
    // one becomes primary.
    client
        .ok(
            "vm",
            "floatingip-delete",
            &[("vm_id", &vm_id), ("ip", &primary), ("keep", "yes")],
        )
        .await;
    let list = client.ok("floating", "list", &[]).await;
    assert_eq!(entry(&list, &primary)["attached_type"], "unattached");
    assert_eq!(
        vm_info(&client, &vm_id).await["info"]["ip"],
        extra_ip.as_str()
    );
    // Without keep, the address leaves the account.
    client
        .ok("vm", "floatingip-delete", &[("vm_id", &vm_id)])
        .await;
    let list = client.ok("floating", "list", &[]).await;
    assert_eq!(list["ips"].as_array().unwrap().len(), 1);
    assert_eq!(vm_info(&client, &vm_id).await["info"]["ip"], "");

    // Recreate on the kept IP (the reference's recreate_vm example).
    client.ok("vm", "delete", &[("vm_id", &vm_id)]).await;
    let again = client
        .ok(
            "vm",
            "create",
            &[
                ("hostname", "fip2"),
                ("plan_id", "86"),
                ("image_id", "1001"),
                ("ip", &primary),
            ],
        )
        .await;
    let new_id = again["vm_id"].as_str().unwrap();
    server.advance(21).await;
    assert_eq!(
        vm_info(&client, new_id).await["info"]["ip"],
        primary.as_str()
    );
    // An attached IP cannot be given to another VM.
    assert_eq!(
        client
            .error(
                "vm",
                "create",
                &[
                    ("hostname", "x"),
                    ("plan_id", "86"),
                    ("image_id", "1001"),
                    ("ip", &primary)
                ]
            )
            .await,
        "invalid ip"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn dns_zones_and_records() {
    let server = start().await;
    let client = server.client();
    let zone_id = client
        .ok(
            "dns",
            "zone-add",
            &[("origin", "example.com."), ("ttl", "3600")],
        )
        .await["zone_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let zones = client.ok("dns", "zone-list", &[]).await;
    assert_eq!(zones["zones"][&zone_id]["origin"], "example.com.");
    let add = |name: &'static str, kind: &'static str, data: &'static str| {
        let (client, zone_id) = (client.clone(), zone_id.clone());
        async move {
            client
                .call(
                    "dns",
                    "record-add",
                    &[
                        ("zone_id", &zone_id),
                        ("name", name),
                        ("data", data),
                        ("ttl", "300"),
                        ("type", kind),
                    ],
                )
                .await
        }
    };
    let www = add("www", "A", "203.0.113.10").await;
    assert_eq!(www["success"], "yes", "{www}");
    let www_id = www["record_id"].as_str().unwrap().to_owned();
    assert_eq!(
        add("mail", "mx", "10 mail.example.com.").await["success"],
        "yes"
    );
    assert_eq!(
        add("bad", "SPF", "v=spf1").await["error"],
        "invalid record type"
    );
    assert_eq!(add("bad", "A", "not-an-ip").await["error"], "invalid data");
    let records = client
        .ok("dns", "record-list", &[("zone_id", &zone_id)])
        .await;
    let records = records["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["type"], "A");
    assert_eq!(records[0]["data"], "203.0.113.10");
    assert_eq!(records[0]["ttl"], "300");
    client
        .ok("dns", "record-remove", &[("record_id", &www_id)])
        .await;
    assert_eq!(
        client
            .ok("dns", "record-list", &[("zone_id", &zone_id)])
            .await["records"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        client
            .error("dns", "record-remove", &[("record_id", &www_id)])
            .await,
        "invalid record"
    );

    // The newer dns2 form sees the same zones.
    let zones2 = client.ok("dns2", "zone-list", &[]).await;
    assert_eq!(zones2["zones"][0]["id"], zone_id.as_str());
    assert_eq!(zones2["zones"][0]["name"], "example.com.");
    let record = client
        .ok(
            "dns2",
            "record-add",
            &[
                ("zone_id", &zone_id),
                ("name", "@"),
                ("data", "2001:db8::1"),
                ("ttl", "60"),
                ("type", "AAAA"),
                ("weight", "5"),
            ],
        )
        .await;
    let record_id = record["record_id"].as_str().unwrap();
    let records = client
        .ok("dns2", "record-list", &[("zone_id", &zone_id)])
        .await;
    assert!(
        records["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == record_id && r["weight"] == "5")
    );
    client
        .ok(
            "dns2",
            "record-remove",
            &[("zone_id", &zone_id), ("record_id", record_id)],
        )
        .await;
    client
        .ok("dns2", "zone-remove", &[("zone_id", &zone_id)])
        .await;
    let raw = client
        .send_signed("dns", "zone-list", &client.req(&[]), &nonce())
        .await;
    assert!(
        raw.body.contains(r#""zones":[]"#),
        "an empty map is [] on the wire: {}",
        raw.body
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn load_balancer_with_members() {
    let server = start().await;
    let client = server.client();
    let net_id = client
        .ok(
            "network",
            "create",
            &[
                ("region", "toronto"),
                ("name", "lan"),
                ("subnet", "192.168.40"),
                ("dns", "8.8.8.8,8.8.4.4"),
            ],
        )
        .await["net_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let lb_params = [
        ("region", "toronto"),
        ("net_id", net_id.as_str()),
        ("name", "web"),
        ("method", "ROUND_ROBIN"),
        ("protocol", "HTTP"),
        ("connection_limit", "-1"),
        ("port", "80"),
    ];
    let lb_id = client.ok("lb", "create", &lb_params).await["lb_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bad = lb_params;
    bad[4] = ("protocol", "GOPHER");
    assert_eq!(client.error("lb", "create", &bad).await, "invalid protocol");

    let member = |ip: &'static str| {
        let (client, lb_id) = (client.clone(), lb_id.clone());
        async move {
            client
                .ok(
                    "lb",
                    "member_add",
                    &[
                        ("region", "toronto"),
                        ("lb_id", &lb_id),
                        ("ip", ip),
                        ("port", "8080"),
                    ],
                )
                .await["member_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let first = member("192.168.40.10").await;
    let _second = member("192.168.40.11").await;
    let fip = client.ok("floating", "add", &[("region", "toronto")]).await["ip"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .ok(
            "lb",
            "associate",
            &[("region", "toronto"), ("lb_id", &lb_id), ("ip", &fip)],
        )
        .await;

    let info = client
        .ok("lb", "info", &[("region", "toronto"), ("lb_id", &lb_id)])
        .await["info"]
        .clone();
    assert_eq!(info["status"], "creating");
    assert_eq!(info["ip"], fip.as_str());
    assert_eq!(info["method"], "ROUND_ROBIN");
    assert_eq!(info["members"].as_array().unwrap().len(), 2);
    assert_eq!(info["members"][0]["port"], "8080");
    server.advance(6).await;
    let info = client
        .ok("lb", "info", &[("region", "toronto"), ("lb_id", &lb_id)])
        .await["info"]
        .clone();
    assert_eq!(info["status"], "active");

    client
        .ok(
            "lb",
            "member_remove",
            &[
                ("region", "toronto"),
                ("lb_id", &lb_id),
                ("member_id", &first),
            ],
        )
        .await;
    let info = client
        .ok("lb", "info", &[("region", "toronto"), ("lb_id", &lb_id)])
        .await["info"]
        .clone();
    assert_eq!(info["members"].as_array().unwrap().len(), 1);
    let list = client.ok("lb", "list", &[("region", "toronto")]).await;
    assert_eq!(list["lb"][0]["id"], lb_id.as_str());
    let floating = client.ok("floating", "list", &[]).await;
    assert_eq!(floating["ips"][0]["attached_type"], "lb");

    assert_eq!(
        client
            .error(
                "network",
                "delete",
                &[("region", "toronto"), ("net_id", &net_id)]
            )
            .await,
        "the network is in use"
    );
    client
        .ok("lb", "delete", &[("region", "toronto"), ("lb_id", &lb_id)])
        .await;
    assert_eq!(
        client.ok("floating", "list", &[]).await["ips"][0]["attached_type"],
        "unattached"
    );
    client
        .ok(
            "network",
            "delete",
            &[("region", "toronto"), ("net_id", &net_id)],
        )
        .await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn accounts_are_isolated() {
    let server = start().await;
    let alice = server.client();
    let bob = server.other_client();
    let vm_id = create_vm(&alice, "alice-vm").await;
    let zone = alice
        .ok("dns2", "zone-add", &[("name", "alice.example")])
        .await["zone_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        bob.ok("vm", "list", &[]).await["vms"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        bob.error("vm", "info", &[("vm_id", &vm_id)]).await,
        "invalid vm"
    );
    assert_eq!(
        bob.error("vm", "delete", &[("vm_id", &vm_id)]).await,
        "invalid vm"
    );
    assert_eq!(
        bob.error("dns2", "zone-remove", &[("zone_id", &zone)])
            .await,
        "invalid zone"
    );
    // The same zone name is free in another account.
    bob.ok("dns2", "zone-add", &[("name", "alice.example")])
        .await;
    assert_eq!(
        alice.ok("vm", "list", &[]).await["vms"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let state = server.admin_get("state").await;
    assert_eq!(
        state["accounts"][API_ID]["vms"].as_object().unwrap().len(),
        1
    );
    assert_eq!(
        state["accounts"][sim_process::OTHER_ID]["vms"]
            .as_object()
            .unwrap()
            .len(),
        0
    );
    // The state dump never contains keys.
    assert!(!state.to_string().contains(&api_key()[..64]));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn lists_lag_behind_creates_while_info_sees_the_new_object() {
    let server = start().await;
    let client = server.client();
    let before = create_vm(&client, "before").await;
    server.advance(31).await;
    server.set_faults(json!({"list_lag_seconds": 30})).await;
    let vm_id = create_vm(&client, "lagging").await;
    let network = client
        .ok(
            "network",
            "create",
            &[
                ("region", "toronto"),
                ("name", "lagging"),
                ("subnet", "10.9.9.0/24"),
                ("dns", "8.8.8.8"),
            ],
        )
        .await["net_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed_vms = |listed: &Value| -> Vec<String> {
        listed["vms"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|vm| vm["vm_id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Objects made more than the lag ago are listed; the new ones are not yet.
    assert_eq!(
        listed_vms(&client.ok("vm", "list", &[]).await),
        std::slice::from_ref(&before)
    );
    let networks = client.ok("network", "list", &[]).await;
    assert!(
        networks["networks"].as_array().is_none_or(Vec::is_empty),
        "{networks}"
    );
    // The object exists: info answers for it.
    assert_eq!(
        vm_info(&client, &vm_id).await["info"]["hostname"],
        "lagging"
    );
    assert!(server.admin_get("stats").await["faults"]["list_lag"].as_u64() >= Some(2));
    server.advance(31).await;
    let mut listed = listed_vms(&client.ok("vm", "list", &[]).await);
    listed.sort();
    let mut expected = vec![before, vm_id];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(
        client.ok("network", "list", &[]).await["networks"][0]["net_id"],
        network.as_str()
    );
    let (bad, _) = server
        .admin_post("faults", r#"{"list_lag_seconds": 601}"#)
        .await;
    assert_eq!(bad, 400);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn images_and_volumes_that_end_in_error() {
    let server = start().await;
    let client = server.client();
    server
        .set_faults(json!({"image_error_next": 1, "volume_error_next": 1}))
        .await;
    let broken = fetch_image(&client, "broken", &[]).await;
    let fine = fetch_image(&client, "fine", &[]).await;
    let volume = |label: &'static str| {
        let client = &client;
        async move {
            client
                .ok(
                    "volume",
                    "create",
                    &[("region", "toronto"), ("label", label), ("size", "5")],
                )
                .await["volume_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let failed_volume = volume("failed").await;
    let good_volume = volume("good").await;
    let faults = server.admin_get("faults").await;
    assert_eq!(faults["image_error_next"], 0, "counted down");
    assert_eq!(faults["volume_error_next"], 0);
    let fired = &server.admin_get("stats").await["faults"];
    assert_eq!(fired["image_error"], 1);
    assert_eq!(fired["volume_error"], 1);

    // Before the end of their build both look as usual.
    let image_status = |images: &Value, id: &str| {
        images["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|image| image["image_id"] == id)
            .map(|image| image["status"].clone())
    };
    let images = client.ok("image", "list", &[("region", "toronto")]).await;
    assert_eq!(image_status(&images, &broken), Some(json!("queued")));
    server.advance(60).await;
    let images = client.ok("image", "list", &[("region", "toronto")]).await;
    assert_eq!(image_status(&images, &broken), Some(json!("error")));
    assert_eq!(image_status(&images, &fine), Some(json!("active")));
    let refused = client
        .error(
            "vm",
            "create",
            &[("hostname", "x"), ("plan_id", "m.1"), ("image_id", &broken)],
        )
        .await;
    assert!(refused.contains("image"), "{refused}");

    let volumes = client.ok("volume", "list", &[]).await;
    let volume_status = |id: &str| {
        volumes["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|volume| volume["id"] == id)
            .map(|volume| volume["status"].clone())
    };
    assert_eq!(volume_status(&failed_volume), Some(json!("error")));
    assert_eq!(volume_status(&good_volume), Some(json!("available")));
    let vm_id = create_vm(&client, "holder").await;
    server.advance(60).await;
    let refused = client
        .error(
            "volume",
            "attach",
            &[
                ("volume_id", &failed_volume),
                ("vm_id", &vm_id),
                ("target", "auto"),
            ],
        )
        .await;
    assert!(!refused.is_empty());
    let refused = client
        .error(
            "volume",
            "extend",
            &[("volume_id", &failed_volume), ("size", "10")],
        )
        .await;
    assert!(refused.contains("not available"), "{refused}");
    client
        .ok("volume", "delete", &[("volume_id", &failed_volume)])
        .await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn each_region_starts_with_a_default_group_that_new_vms_join() {
    let server = start().await;
    let client = server.client();
    let groups = client
        .ok("securitygroup", "list", &[("region", "toronto")])
        .await;
    let groups = groups["securitygroups"].as_array().unwrap().clone();
    assert_eq!(groups.len(), 1, "one group in Toronto: {groups:?}");
    assert_eq!(groups[0]["name"], "default");
    let default = groups[0]["securitygroup_id"].as_str().unwrap().to_owned();
    let rules = client
        .ok(
            "securitygroup",
            "rule-list",
            &[("region", "toronto"), ("group_id", &default)],
        )
        .await;
    assert_eq!(rules["rules"].as_array().unwrap().len(), 4, "{rules}");
    // Every region has its own.
    let all = client.ok("securitygroup", "list", &[]).await;
    assert_eq!(all["securitygroups"].as_array().unwrap().len(), 3, "{all}");

    // A VM created without `securitygroups` is in the default group; one created with a group
    // is only in that one.
    let plain = create_vm(&client, "plain").await;
    assert_eq!(
        vm_info(&client, &plain).await["info"]["security_groups"],
        json!(["default"])
    );
    let web = client
        .ok(
            "securitygroup",
            "create",
            &[("region", "toronto"), ("name", "web")],
        )
        .await["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let walled = client
        .ok(
            "vm",
            "create",
            &[
                ("hostname", "walled"),
                ("plan_id", "m.1"),
                ("image_id", "1001"),
                ("securitygroups", &web),
            ],
        )
        .await["vm_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        vm_info(&client, &walled).await["info"]["security_groups"],
        json!(["web"])
    );

    // The default group cannot be deleted; a group of that name made later can.
    assert_eq!(
        client
            .error(
                "securitygroup",
                "delete",
                &[("region", "toronto"), ("group_id", &default)],
            )
            .await,
        "the default security group cannot be deleted"
    );
    let second = client
        .ok(
            "securitygroup",
            "create",
            &[("region", "toronto"), ("name", "default")],
        )
        .await["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .ok(
            "securitygroup",
            "delete",
            &[("region", "toronto"), ("group_id", &second)],
        )
        .await;
    server.stop().await.unwrap();
}
