//! Every action of the catalog, called once in dependency order with valid parameters.

use super::*;

/// Calls every action of the catalog once, in dependency order, with valid parameters.
struct Walk {
    client: SignedClient,
    called: HashSet<String>,
}

impl Walk {
    async fn ok(&mut self, category: &str, action: &str, params: &[(&str, &str)]) -> Value {
        self.called.insert(format!("{category}/{action}"));
        self.client.ok(category, action, params).await
    }

    async fn id(
        &mut self,
        category: &str,
        action: &str,
        params: &[(&str, &str)],
        key: &str,
    ) -> String {
        let answer = self.ok(category, action, params).await;
        answer[key]
            .as_str()
            .unwrap_or_else(|| panic!("{category}/{action}: no {key}: {answer}"))
            .to_owned()
    }

    async fn documented_error(
        &mut self,
        category: &str,
        action: &str,
        params: &[(&str, &str)],
        error: &str,
    ) {
        self.called.insert(format!("{category}/{action}"));
        assert_eq!(self.client.error(category, action, params).await, error);
    }
}

#[tokio::test]
async fn every_catalog_action_is_answered() {
    let server = start().await;
    walk_catalog(&server, server.client()).await;
    server.stop().await.unwrap();
}

/// The same walk through the project's own client (`lunanode::Client`): every action of
/// `api --list` signed, sent and decoded by the code the operator uses.
#[tokio::test]
async fn every_catalog_action_through_the_client() {
    let server = start().await;
    walk_catalog(&server, server.client().through_rust_client()).await;
    server.stop().await.unwrap();
}

async fn walk_catalog(server: &InProcess, client: SignedClient) {
    let mut w = Walk {
        client,
        called: HashSet::new(),
    };
    let t = ("region", "toronto");

    w.ok("region", "list", &[]).await;
    w.ok("plan", "list", &[]).await;
    w.ok("billing", "credit", &[]).await;
    w.ok("image", "list", &[t]).await;

    let key = w
        .id(
            "sshkey",
            "add",
            &[
                ("label", "me"),
                ("sshkey", "ssh-ed25519 AAAAC3NzaC1 me@host"),
            ],
            "key_id",
        )
        .await;
    w.ok("sshkey", "list", &[]).await;
    let script = w
        .id(
            "script",
            "create",
            &[("name", "boot"), ("content", "#!/bin/sh\necho hi\n")],
            "script_id",
        )
        .await;
    w.ok("script", "get", &[("script_id", &script)]).await;
    w.ok(
        "script",
        "update",
        &[
            ("script_id", &script),
            ("name", "boot2"),
            ("content", "#!/bin/sh\n"),
        ],
    )
    .await;
    w.ok("script", "list", &[]).await;

    let sg = w
        .id("securitygroup", "create", &[t, ("name", "web")], "group_id")
        .await;
    w.ok("securitygroup", "list", &[]).await;
    w.ok(
        "securitygroup",
        "rename",
        &[t, ("group_id", &sg), ("name", "web2")],
    )
    .await;
    let rule = w
        .id(
            "securitygroup",
            "rule-insert",
            &[
                t,
                ("group_id", &sg),
                ("direction", "ingress"),
                ("type", "ipv4"),
                ("protocol", "tcp"),
                ("remote_type", "cidr"),
                ("remote_value", "0.0.0.0/0"),
                ("port_min", "80"),
                ("port_max", "443"),
            ],
            "rule_id",
        )
        .await;
    w.ok("securitygroup", "rule-list", &[t, ("group_id", &sg)])
        .await;

    let net = w
        .id(
            "network",
            "create",
            &[
                t,
                ("name", "lan"),
                ("subnet", "192.168.30"),
                ("dns", "8.8.8.8"),
            ],
            "net_id",
        )
        .await;
    w.ok("network", "list", &[]).await;
    let fip = w.id("floating", "add", &[t], "ip").await;
    w.ok("floating", "list", &[]).await;

    let vm = w
        .id(
            "vm",
            "create",
            &[
                ("hostname", "walker"),
                ("plan_id", "m.1"),
                ("image_id", "1001"),
                t,
                ("net_id", &net),
                ("securitygroups", &sg),
                ("scripts", &script),
                ("key_id", &key),
            ],
            "vm_id",
        )
        .await;
    w.ok("vm", "list", &[]).await;
    w.ok("vm", "info", &[("vm_id", &vm)]).await;
    server.advance(21).await;
    w.ok("vm", "iplist", &[("vm_id", &vm)]).await;
    w.ok("vm", "vnc", &[("vm_id", &vm)]).await;
    for key in ["bandwidth", "cpu", "io"] {
        w.ok("vm", "usage", &[("vm_id", &vm), ("key", key)]).await;
    }
    w.ok(
        "vm",
        "set-fairshare",
        &[
            ("vm_id", &vm),
            ("charge_for_cpu", "yes"),
            ("fairshare_nolend", "no"),
        ],
    )
    .await;
    w.ok("vm", "rename", &[("vm_id", &vm), ("hostname", "walker2")])
        .await;
    w.ok("vm", "floatingip-add", &[("vm_id", &vm), ("ip", &fip)])
        .await;
    w.ok(
        "dns",
        "set",
        &[
            ("ip", &fip),
            ("hostname", "walker.example.com"),
            ("vm_id", &vm),
        ],
    )
    .await;
    w.ok("dns", "list", &[]).await;
    w.ok(
        "vm",
        "floatingip-delete",
        &[("vm_id", &vm), ("ip", &fip), ("keep", "yes")],
    )
    .await;
    let private = w.id("vm", "ip-add", &[("vm_id", &vm)], "ip").await;
    w.ok("vm", "ip-delete", &[("vm_id", &vm), ("ip", &private)])
        .await;
    w.ok(
        "vm",
        "securitygroup-remove",
        &[("vm_id", &vm), ("group_id", &sg)],
    )
    .await;
    w.ok(
        "vm",
        "securitygroup-add",
        &[("vm_id", &vm), ("group_id", &sg)],
    )
    .await;

    let volume = w
        .id(
            "volume",
            "create",
            &[t, ("label", "data"), ("size", "10")],
            "volume_id",
        )
        .await;
    server.advance(6).await;
    w.ok("volume", "list", &[]).await;
    w.ok("volume", "info", &[("volume_id", &volume)]).await;
    w.ok(
        "volume",
        "attach",
        &[("volume_id", &volume), ("vm_id", &vm), ("target", "auto")],
    )
    .await;
    w.ok("volume", "detach", &[("volume_id", &volume)]).await;
    w.ok(
        "volume",
        "extend",
        &[("volume_id", &volume), ("size", "20")],
    )
    .await;
    w.ok(
        "volume",
        "rename",
        &[("volume_id", &volume), ("name", "data2")],
    )
    .await;
    let snapshot = w
        .id(
            "volume",
            "snapshot-create",
            &[("volume_id", &volume), ("label", "s1")],
            "snapshot_id",
        )
        .await;
    server.advance(6).await;
    w.ok("volume", "snapshot-list", &[]).await;
    w.id(
        "volume",
        "snapshot-replicate",
        &[
            t,
            ("snapshot_id", &snapshot),
            ("image_name", "from-snap"),
            ("dst_region", "montreal"),
        ],
        "image_id",
    )
    .await;
    w.ok("volume", "snapshot-delete", &[("snapshot_id", &snapshot)])
        .await;

    let image = w
        .id(
            "vm",
            "snapshot",
            &[("vm_id", &vm), ("name", "snap1")],
            "image_id",
        )
        .await;
    assert_eq!(
        w.ok("image", "details", &[("image_id", &image)]).await["details"]["status"],
        "queued"
    );
    server.advance(20).await;
    w.ok(
        "image",
        "rename",
        &[("image_id", &image), ("name", "snap2")],
    )
    .await;
    w.id(
        "image",
        "replicate",
        &[("image_id", &image), ("region", "montreal")],
        "image_id",
    )
    .await;
    w.id(
        "image",
        "fetch",
        &[
            t,
            ("name", "custom"),
            ("location", "https://example.com/custom.iso"),
            ("format", "iso"),
        ],
        "image_id",
    )
    .await;
    w.documented_error(
        "image",
        "retrieve",
        &[("image_id", &image)],
        "image retrieve is not supported by the simulator",
    )
    .await;
    w.ok("image", "delete", &[("image_id", &image)]).await;

    w.ok("vm", "reboot", &[("vm_id", &vm)]).await;
    server.advance(6).await;
    w.ok("vm", "stop", &[("vm_id", &vm)]).await;
    server.advance(4).await;
    w.ok("vm", "diskswap", &[("vm_id", &vm)]).await;
    w.ok("vm", "start", &[("vm_id", &vm)]).await;
    w.ok("vm", "rescue", &[("vm_id", &vm)]).await;
    w.ok("vm", "start", &[("vm_id", &vm)]).await;
    w.ok("vm", "shelve", &[("vm_id", &vm)]).await;
    server.advance(6).await;
    w.ok("vm", "unshelve", &[("vm_id", &vm)]).await;
    server.advance(6).await;
    w.ok("vm", "resize", &[("vm_id", &vm), ("plan_id", "m.2")])
        .await;
    server.advance(11).await;
    w.ok("vm", "reimage", &[("vm_id", &vm), ("image_id", "1003")])
        .await;
    server.advance(21).await;

    let lb = w
        .id(
            "lb",
            "create",
            &[
                t,
                ("net_id", &net),
                ("name", "web"),
                ("method", "LEAST_CONNECTIONS"),
                ("protocol", "TCP"),
                ("connection_limit", "100"),
                ("port", "443"),
            ],
            "lb_id",
        )
        .await;
    w.ok("lb", "list", &[t]).await;
    let member = w
        .id(
            "lb",
            "member_add",
            &[t, ("lb_id", &lb), ("ip", "192.168.30.2"), ("port", "443")],
            "member_id",
        )
        .await;
    w.ok("lb", "info", &[t, ("lb_id", &lb)]).await;
    w.ok(
        "lb",
        "member_remove",
        &[t, ("lb_id", &lb), ("member_id", &member)],
    )
    .await;
    w.ok("lb", "associate", &[t, ("lb_id", &lb), ("ip", &fip)])
        .await;
    w.ok("lb", "delete", &[t, ("lb_id", &lb)]).await;

    let zone = w
        .id("dns", "zone-add", &[("origin", "walk.example.")], "zone_id")
        .await;
    w.ok("dns", "zone-list", &[]).await;
    let record = w
        .id(
            "dns",
            "record-add",
            &[
                ("zone_id", &zone),
                ("name", "www"),
                ("data", "1.2.3.4"),
                ("ttl", "300"),
                ("type", "A"),
            ],
            "record_id",
        )
        .await;
    w.ok("dns", "record-list", &[("zone_id", &zone)]).await;
    w.ok("dns", "record-remove", &[("record_id", &record)])
        .await;
    w.ok("dns", "zone-remove", &[("zone_id", &zone)]).await;
    let dyn_id = w
        .id(
            "dns",
            "dyn-add",
            &[("name", "home"), ("ip", "198.51.100.7")],
            "dyn_id",
        )
        .await;
    w.ok("dns", "dyn-list", &[]).await;
    w.ok(
        "dns",
        "dyn-update",
        &[
            ("dyn_id", &dyn_id),
            ("name", "home2"),
            ("ip", "198.51.100.8"),
        ],
    )
    .await;
    w.ok("dns", "dyn-remove", &[("dyn_id", &dyn_id)]).await;
    let zone2 = w
        .id(
            "dns2",
            "zone-add",
            &[("name", "walk2.example"), ("ttl", "600")],
            "zone_id",
        )
        .await;
    w.ok("dns2", "zone-list", &[]).await;
    let record2 = w
        .id(
            "dns2",
            "record-add",
            &[
                ("zone_id", &zone2),
                ("name", "txt"),
                ("data", "hello"),
                ("ttl", "60"),
                ("type", "TXT"),
            ],
            "record_id",
        )
        .await;
    w.ok("dns2", "record-list", &[("zone_id", &zone2)]).await;
    w.ok(
        "dns2",
        "record-remove",
        &[("zone_id", &zone2), ("record_id", &record2)],
    )
    .await;
    w.ok("dns2", "zone-remove", &[("zone_id", &zone2)]).await;

    w.ok("monitor", "check-types", &[]).await;
    let check = w
        .id(
            "monitor",
            "check-add",
            &[
                ("name", "ping"),
                ("type", "icmp"),
                ("target", "203.0.113.9"),
                ("check_interval", "60"),
                ("delay", "1"),
            ],
            "check_id",
        )
        .await;
    w.ok("monitor", "check-list", &[]).await;
    let contact = w
        .id(
            "monitor",
            "contact-add",
            &[("type", "email"), ("rel", "ops@example.com")],
            "contact_id",
        )
        .await;
    w.ok("monitor", "contact-list", &[]).await;
    let alert = w
        .id(
            "monitor",
            "alert-add",
            &[("check_id", &check), ("contact_id", &contact)],
            "alert_id",
        )
        .await;
    w.ok("monitor", "alert-list", &[("check_id", &check)]).await;
    w.ok("monitor", "alert-remove", &[("alert_id", &alert)])
        .await;
    w.ok("monitor", "contact-remove", &[("contact_id", &contact)])
        .await;
    w.ok("monitor", "check-remove", &[("check_id", &check)])
        .await;

    let domain = w
        .id(
            "email",
            "domain-add",
            &[("name", "walk.example")],
            "domain_id",
        )
        .await;
    w.ok("email", "domain-list", &[]).await;
    w.ok(
        "email",
        "domain-dkim-set",
        &[
            ("domain_id", &domain),
            ("selector", "mail"),
            (
                "private_key",
                "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----",
            ),
        ],
    )
    .await;
    w.ok("email", "domain-dkim-unset", &[("domain_id", &domain)])
        .await;
    let user = w
        .id(
            "email",
            "user-add",
            &[
                ("domain_id", &domain),
                ("username", "bob"),
                ("password", "correct horse"),
            ],
            "user_id",
        )
        .await;
    w.ok("email", "user-list", &[("domain_id", &domain)]).await;
    w.ok(
        "email",
        "user-set-password",
        &[
            ("domain_id", &domain),
            ("user_id", &user),
            ("password", "battery staple"),
        ],
    )
    .await;
    w.ok(
        "email",
        "user-remove",
        &[("domain_id", &domain), ("user_id", &user)],
    )
    .await;
    let alias = w
        .id(
            "email",
            "alias-add",
            &[
                ("domain_id", &domain),
                ("name", "info"),
                ("target", "bob@walk.example"),
            ],
            "alias_id",
        )
        .await;
    w.ok("email", "alias-list", &[("domain_id", &domain)]).await;
    w.ok(
        "email",
        "alias-remove",
        &[("domain_id", &domain), ("alias_id", &alias)],
    )
    .await;
    w.ok("email", "usage", &[]).await;
    w.ok("email", "domain-remove", &[("domain_id", &domain)])
        .await;

    // Tear down.
    w.ok("vm", "delete", &[("vm_id", &vm)]).await;
    w.ok("volume", "delete", &[("volume_id", &volume)]).await;
    w.ok("floating", "delete", &[t, ("ip", &fip)]).await;
    w.ok("network", "delete", &[t, ("net_id", &net)]).await;
    w.ok(
        "securitygroup",
        "rule-delete",
        &[t, ("group_id", &sg), ("rule_id", &rule)],
    )
    .await;
    w.ok("securitygroup", "delete", &[t, ("group_id", &sg)])
        .await;
    w.ok("script", "delete", &[("script_id", &script)]).await;
    w.ok("sshkey", "remove", &[("key_id", &key)]).await;

    let missing: Vec<String> = ACTIONS
        .iter()
        .map(|spec| spec.path())
        .filter(|path| !w.called.contains(path))
        .collect();
    assert!(missing.is_empty(), "not exercised: {missing:?}");

    let stats = server.admin_get("stats").await;
    assert_eq!(stats["totals"]["auth_error"], 0);
    assert_eq!(stats["totals"]["api_error"], 1, "only image/retrieve fails");
}
