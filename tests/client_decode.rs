//! The client's decoders against every response shape the wire reference documents (the
//! fixtures under `fixtures/client/` are the reference's samples, PHP-encoded: strings for
//! numbers, `\/`, maps keyed by ID, `[]`/`""` for empty maps), plus the shapes chosen for answers
//! the reference marks unknown, and a check that every action of the provider's list is in the
//! catalog. Each fixture goes through the same envelope check as a live answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lunanode_operator::lunanode::{
    Error, actions, decode_response, response,
    types::{
        DnsZone, DynEntry, FloatingIp, Image, ImageDetails, LbInfo, MonitorCheck, Network, Plan,
        RdnsEntry, Region, Script, SshKey, VmInfo, VmListEntry, Volume, created_id,
        credit_from_response, decode_keyed_list, decode_list, decode_object, records_from_response,
        zones_from_response,
    },
};
use secrecy::ExposeSecret;
use serde_json::Value;

/// A fixture, through the envelope check (`success == "yes"`).
macro_rules! fixture {
    ($name:literal) => {
        response::interpret(
            200,
            None,
            include_str!(concat!("fixtures/client/", $name, ".json")),
        )
        .unwrap()
    };
}

fn answer(body: &str) -> Value {
    response::interpret(200, None, body).unwrap()
}

#[test]
fn vm_list_entries() {
    let vms: Vec<VmListEntry> = decode_list(&fixture!("vm_list"), &["vms"]).unwrap();
    assert_eq!(vms.len(), 2);
    assert_eq!(vms[0].vm_id, "81ebdd9e-178f-49a4-816b-a1fc46fc5869");
    assert_eq!(vms[0].ram, Some(1024));
    assert_eq!(vms[0].storage, Some(15));
    assert_eq!(vms[0].region, "montreal");
    assert_eq!(vms[0].os_status, "active");
    // The 2015 form: numbers as JSON numbers, no os_status.
    assert_eq!(vms[1].vm_id, "12102");
    assert_eq!(vms[1].plan_id, "1");
    assert_eq!(vms[1].ram, Some(512));
    assert_eq!(vms[1].primaryip, "");
}

#[test]
fn vm_info_with_html_status_and_secret_login() {
    let info: VmInfo = decode_response("vm", "info", fixture!("vm_info")).unwrap();
    assert_eq!(
        info.info.status,
        r#"<font color="green"><b>Online</b></font>"#
    );
    assert_eq!(info.info.status_nohtml, "Online");
    assert_eq!(info.info.status_raw, "active");
    assert_eq!(info.info.ip, "1.1.1.1");
    assert_eq!(info.info.addresses.len(), 3);
    assert!(info.info.addresses[0].external);
    assert!(!info.info.addresses[1].external);
    assert_eq!(
        info.info.addresses[0].reverse.as_deref(),
        Some("foobar.example.com.")
    );
    assert_eq!(info.info.security_groups, ["default"]);
    assert_eq!(info.info.ipv6, ["2607:5300::1"]);
    assert_eq!(info.info.bandwidth_used_gb, Some(0.53));
    assert_eq!(info.info.volumes[0].id, "4682");
    let login = info.info.login_details.as_ref().unwrap();
    assert_eq!(
        login.expose_secret(),
        "username: ubuntu; password: Zm9vYmFyYmF6"
    );
    assert!(!format!("{info:?}").contains("Zm9vYmFyYmF6"));
    assert_eq!(info.extra.plan_id, "123");
    assert_eq!(info.extra.region, "montreal");
}

#[test]
fn vm_info_while_building_with_empty_shapes() {
    let info: VmInfo = decode_response("vm", "info", fixture!("vm_info_building")).unwrap();
    assert_eq!(info.info.status_nohtml, "BUILD");
    assert_eq!(info.info.ip, "");
    assert!(info.info.login_details.is_none());
    assert!(info.info.security_groups.is_empty() && info.info.ipv6.is_empty());
    assert_eq!(info.info.bandwidth_used_gb, None);
    assert_eq!(info.info.diskswap.as_deref(), Some("1"));
    assert_eq!(info.extra, VmListEntry::default());
}

#[test]
fn create_like_answers() {
    assert_eq!(
        created_id(&fixture!("vm_create"), &["vm_id"]).as_deref(),
        Some("12102")
    );
    assert_eq!(
        created_id(&fixture!("vm_snapshot"), &["image_id"]).as_deref(),
        Some("3236")
    );
    assert_eq!(
        created_id(&fixture!("volume_create"), &["volume_id"]).as_deref(),
        Some("4682")
    );
    assert_eq!(
        created_id(&fixture!("vm_vnc"), &["vnc_url"]).as_deref(),
        Some(
            "https://toronto-ctrl.lunanode.com:6080/vnc_auto.html?token=0f9a7b2c-1d3e-4f5a-8b6c-7d8e9f0a1b2c"
        )
    );
}

#[test]
fn documented_error_texts() {
    let body = include_str!("fixtures/client/error_not_set.json");
    let error = response::interpret(200, None, body).unwrap_err();
    assert_eq!(
        error,
        Error::Api {
            message: "hostname, plan_id, and/or image_id not set".into()
        }
    );
    let body = include_str!("fixtures/client/error_auth.json");
    let error = response::interpret(200, None, body).unwrap_err();
    assert_eq!(error.category(), "auth");
    assert!(error.to_string().ends_with("invalid API id/key"));
}

#[test]
fn images() {
    let images: Vec<Image> = decode_list(&fixture!("image_list"), &["images"]).unwrap();
    assert_eq!(images[0].image_id, "630902");
    assert_eq!(images[1].status, "saving");
    let details: ImageDetails = decode_object(&fixture!("image_details"), &["details"]).unwrap();
    assert!(details.metadata.is_empty(), "metadata [] is an empty map");
    assert_eq!(details.size, Some(2_361_393_152));
    assert!(!details.is_read_only);
    assert_eq!(details.hw_disk_bus, "virtio");
    let old: ImageDetails = decode_object(&fixture!("image_details_2015"), &["details"]).unwrap();
    assert!(old.metadata.is_empty(), "metadata \"\" is an empty map");
    assert_eq!(old.size, None);
    assert_eq!(old.status, "queued");
}

#[test]
fn volumes() {
    let volumes: Vec<Volume> = decode_list(&fixture!("volume_list"), &["volumes"]).unwrap();
    assert_eq!(volumes[0].id, "4682");
    assert_eq!(volumes[0].size, Some(100));
    assert_eq!(volumes[0].user_id, "36");
    let volume: Volume = decode_object(&fixture!("volume_info"), &["volume"]).unwrap();
    assert_eq!(volume.status, "available");
    assert_eq!(volume.attached, None, "\"\" means detached");
    assert_eq!(volume.created, "2018-12-17 01:00:15");
}

#[test]
fn floating_ips() {
    let ips: Vec<FloatingIp> = decode_list(&fixture!("floating_list"), &["ips"]).unwrap();
    assert!(ips[0].is_attached());
    assert_eq!(ips[0].attached_name.as_deref(), Some("foobar"));
    assert!(!ips[1].is_attached());
    assert_eq!(ips[1].attached_id, None);
}

#[test]
fn networks_with_escaped_slashes() {
    let networks: Vec<Network> = decode_list(&fixture!("network_list"), &["networks"]).unwrap();
    assert_eq!(networks[0].subnet, "172.20.0.0/16");
    assert_eq!(networks[0].net_id, "2001");
}

#[test]
fn load_balancers_under_the_singular_key() {
    let value = fixture!("lb_list");
    let lbs: Vec<lunanode_operator::lunanode::types::LoadBalancer> =
        decode_list(&value, &["lb"]).unwrap();
    assert_eq!(lbs[0].id, "301");
    assert_eq!(lbs[0].name, "web-lb");
    assert_eq!(lbs[0].region, "toronto");
}

#[test]
fn plans_and_regions() {
    let plans: Vec<Plan> = decode_list(&fixture!("plan_list"), &["plans"]).unwrap();
    assert_eq!(plans[0].plan_id, "1");
    assert_eq!(plans[0].price, Some(0.005));
    assert_eq!(plans[0].price_nice, "$0.005");
    assert_eq!(plans[1].price_monthly_nice, "$7.00");
    let regions = Region::list_from_response(&fixture!("region_list"));
    let slugs: Vec<&str> = regions.iter().map(|region| region.slug.as_str()).collect();
    assert_eq!(slugs, ["montreal", "roubaix", "toronto"]);
    assert_eq!(regions[2].name, "Toronto, Canada");
}

#[test]
fn ssh_keys_keyed_by_index() {
    let keys = SshKey::list_from_response(&fixture!("sshkey_list")).unwrap();
    let ids: Vec<&str> = keys.iter().map(|key| key.id.as_str()).collect();
    assert_eq!(ids, ["1862", "1863"]);
    assert!(keys[0].value.starts_with("ssh-rsa "));
    assert!(
        SshKey::list_from_response(&answer(r#"{"success":"yes"}"#))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn reverse_and_dynamic_dns() {
    let entries: Vec<RdnsEntry> = decode_list(&fixture!("dns_list"), &["dns"]).unwrap();
    assert_eq!(entries[0].reverse_name(), Some("foobar.example.com"));
    assert_eq!(entries[1].reverse_name(), None, "[not set]");
    let dyns: Vec<DynEntry> = decode_keyed_list(&fixture!("dyn_list"), &["dyns"]).unwrap();
    assert_eq!(dyns.len(), 2);
    assert_eq!(dyns[0].name, "btcpay123");
    assert_eq!(dyns[1].id, "552", "the key fills a missing id");
}

#[test]
fn zones_keyed_by_id() {
    let zones = zones_from_response(&fixture!("zone_list"));
    assert_eq!(
        zones,
        [
            DnsZone {
                id: "4001".into(),
                name: "example.com.".into(),
                ttl: Some(3600)
            },
            DnsZone {
                id: "4002".into(),
                name: "example.org.".into(),
                ttl: Some(300)
            }
        ]
    );
    assert!(zones_from_response(&answer(r#"{"zones":[],"success":"yes"}"#)).is_empty());
}

#[test]
fn monitor_checks_keyed_by_id() {
    let checks: Vec<MonitorCheck> =
        decode_keyed_list(&fixture!("monitor_check_list"), &["checks"]).unwrap();
    assert_eq!(checks[0].id, "77");
    assert_eq!(checks[0].check_type, "icmp");
    assert!(checks[0].enabled);
    assert_eq!(checks[0].check_interval, Some(60));
    assert_eq!(checks[0].data, r#"{"target":"1.2.3.4"}"#);
}

#[test]
fn billing_credit() {
    let credit = credit_from_response(&fixture!("billing_credit")).unwrap();
    assert!((credit - 4.810_334_38).abs() < 1e-9);
}

#[test]
fn scripts() {
    let script: Script = decode_response("script", "get", fixture!("script_get")).unwrap();
    assert_eq!(script.id, "1064");
    assert_eq!(script.content, "#!/bin/bash\r\necho hello\r\n");
    let scripts: Vec<Script> = decode_keyed_list(&fixture!("script_list"), &["scripts"]).unwrap();
    assert_eq!(scripts.len(), 2);
    assert_eq!(scripts[1].content, "");
}

/// The answers the reference marks unknown, in the shapes the simulator sends and in the likely
/// alternatives.
#[test]
fn shapes_chosen_for_unknown_answers() {
    let created = |body: &str, keys: &[&str]| created_id(&answer(body), keys);
    assert_eq!(
        created(r#"{"success":"yes","net_id":"9"}"#, &["net_id", "id"]).as_deref(),
        Some("9")
    );
    assert_eq!(
        created(r#"{"success":"yes","lb_id":7}"#, &["lb_id", "id"]).as_deref(),
        Some("7")
    );
    assert_eq!(
        created(r#"{"success":"yes","zone_id":"5"}"#, &["zone_id", "id"]).as_deref(),
        Some("5")
    );
    assert_eq!(
        created(r#"{"success":"yes","id":"6"}"#, &["record_id", "id"]).as_deref(),
        Some("6")
    );
    let floating = answer(r#"{"success":"yes","ip":"192.0.2.50","id":"1003"}"#);
    assert_eq!(
        created_id(&floating, &["ip"]).as_deref(),
        Some("192.0.2.50")
    );

    let dns2_zones = zones_from_response(&answer(
        r#"{"success":"yes","zones":[{"id":"11","name":"example.net","ttl":"3600"}]}"#,
    ));
    assert_eq!(dns2_zones[0].name, "example.net");
    for body in [
        r#"{"success":"yes","records":[{"record_id":"31","name":"www","type":"A","data":"192.0.2.1","ttl":"300"}]}"#,
        r#"{"success":"yes","records":[{"id":31,"name":"www","type":"A","data":"192.0.2.1","ttl":300}]}"#,
        r#"{"success":"yes","records":{"31":{"name":"www","type":"A","data":"192.0.2.1","ttl":"300"}}}"#,
    ] {
        let records = records_from_response(&answer(body));
        assert_eq!(records.len(), 1, "{body}");
        assert_eq!(records[0].id, "31", "{body}");
        assert_eq!(records[0].record_type, "A");
        assert_eq!(records[0].data, "192.0.2.1");
        assert_eq!(records[0].ttl, Some(300));
    }

    for body in [
        r#"{"success":"yes","info":{"id":"301","name":"web-lb","region":"toronto","net_id":"2001","method":"ROUND_ROBIN","protocol":"HTTP","port":"80","connection_limit":"-1","ip":"192.0.2.60","members":[{"member_id":"m1","ip":"10.0.0.5","port":"8080"}]}}"#,
        r#"{"success":"yes","lb":{"lb_id":"301","name":"web-lb","port":80},"members":{"m1":{"ip":"10.0.0.5","port":8080}}}"#,
    ] {
        let info = LbInfo::from_response(&answer(body));
        assert_eq!(info.lb.id, "301", "{body}");
        assert_eq!(info.lb.port, Some(80));
        assert_eq!(info.members.len(), 1);
        assert_eq!(info.members[0].member_id, "m1");
        assert_eq!(info.members[0].ip, "10.0.0.5");
        assert_eq!(info.members[0].port, Some(8080));
    }
}

/// Every `category/action` of the provider's published action list, one category per line.
const PROVIDER_ACTIONS: &str = "
vm: start stop reboot diskswap info delete reimage resize rescue vnc floatingip-add
    floatingip-delete iplist ip-add ip-delete create snapshot list shelve unshelve
dns: list set zone-list zone-add zone-remove record-list record-add record-remove dyn-list
    dyn-add dyn-update dyn-remove
image: list delete details replicate fetch retrieve
volume: list create delete attach detach info
floating: list add delete
network: list create delete
lb: list create delete info member_add member_remove associate
plan: list
region: list
monitor: check-list check-types check-add check-remove contact-list contact-add contact-remove
    alert-list alert-add alert-remove
securitygroup: list
script: list
billing: credit
email: usage domain-list domain-add domain-remove domain-dkim-set domain-dkim-unset user-list
    user-add user-set-password user-remove alias-list alias-add alias-remove
";

#[test]
fn every_provider_action_is_catalogued() {
    let mut category = "";
    let mut counts = std::collections::BTreeMap::new();
    let mut missing = Vec::new();
    for line in PROVIDER_ACTIONS
        .lines()
        .filter(|line| !line.trim().is_empty())
    {
        let names = match line.split_once(':') {
            Some((name, rest)) => {
                category = name.trim();
                rest
            }
            None => line,
        };
        for action in names.split_whitespace() {
            *counts.entry(category).or_insert(0) += 1;
            if actions::find(category, action).is_none() {
                missing.push(format!("{category}/{action}"));
            }
        }
    }
    assert!(missing.is_empty(), "not in the catalog: {missing:?}");
    let expected = [
        ("billing", 1),
        ("dns", 12),
        ("email", 13),
        ("floating", 3),
        ("image", 6),
        ("lb", 7),
        ("monitor", 10),
        ("network", 3),
        ("plan", 1),
        ("region", 1),
        ("script", 1),
        ("securitygroup", 1),
        ("vm", 20),
        ("volume", 6),
    ];
    assert_eq!(counts.into_iter().collect::<Vec<_>>(), expected);
}

#[test]
fn the_newer_documented_actions_are_catalogued() {
    for (category, action) in [
        ("dns2", "zone-list"),
        ("dns2", "record-add"),
        ("sshkey", "add"),
        ("script", "create"),
        ("script", "get"),
        ("script", "update"),
        ("script", "delete"),
        ("volume", "extend"),
        ("vm", "rename"),
    ] {
        assert!(
            actions::find(category, action).is_some(),
            "{category}/{action}"
        );
    }
}
