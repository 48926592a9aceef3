//! LunaSSHKey, LunaSecurityGroup, LunaStartupScript and a LunaVM that takes them by reference, end to end: the real control plane, the simulator and the operator as separate
//! processes, one of each per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kube::api::{Patch, PatchParams};
use lunanode_operator::{
    api::{
        common::LocalObjectReference,
        common::{DeletionPolicy, ImportSpec, ManagedResource},
        securitygroup::{FirewallRule, LunaSecurityGroup, LunaSecurityGroupSpec, Protocol},
        sshkey::{LunaSSHKey, LunaSSHKeySpec},
        startupscript::{LunaStartupScript, LunaStartupScriptSpec, ScriptSource},
        vm::{LunaVM, LunaVMSpec},
    },
    lunanode::types::RuleInsert,
};
use serde_json::json;
use support::{World, wait::condition};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorTestKeyOne0000000000 deploy@example.com";
const OTHER_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorTestKeyTwo0000000000 admin@example.com";
const THIRD_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQOperatorTestKeyThree == ops";

fn key(name: &str, spec: LunaSSHKeySpec) -> LunaSSHKey {
    LunaSSHKey::new(name, spec)
}

/// The keys the simulator holds: (label, public key).
async fn keys(world: &World) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = world
        .sim
        .objects("ssh_keys")
        .await
        .iter()
        .map(|key| {
            (
                key["name"].as_str().unwrap_or_default().to_owned(),
                key["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_key_is_added_once_imported_without_a_write_and_removed() {
    let world = World::start("access", 'a').await;
    world
        .create(&key("deploy", LunaSSHKeySpec::new("deploy", KEY)))
        .await;
    let ready = world.ready::<LunaSSHKey>("deploy").await;
    let at_provider = ready.status.as_ref().unwrap().at_provider.clone().unwrap();
    assert_eq!(at_provider.label.as_deref(), Some("deploy"));
    assert_eq!(at_provider.key_type.as_deref(), Some("ssh-ed25519"));
    assert_eq!(world.sim.calls("sshkey/add").await, 1);
    assert_eq!(keys(&world).await, [("deploy".to_owned(), KEY.to_owned())]);

    // Label and key cannot change: the apiserver says so.
    support::assert_rejected(
        world
            .api::<LunaSSHKey>()
            .patch(
                "deploy",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"label": "renamed"}})),
            )
            .await,
        "immutable",
    );

    // A key added by hand is imported by its ID: no add, and Ready.
    let by_hand = world
        .cloud()
        .sshkey_add("by-hand", OTHER_KEY)
        .await
        .expect("a key added outside the operator");
    let mut spec = LunaSSHKeySpec::new("by-hand", OTHER_KEY);
    spec.managed.import = Some(ImportSpec {
        id: Some(by_hand.clone()),
    });
    spec.managed.deletion_policy = DeletionPolicy::Orphan;
    world.create(&key("imported", spec)).await;
    let imported = world.ready::<LunaSSHKey>("imported").await;
    assert_eq!(imported.status_id(), Some(by_hand.as_str()));
    assert_eq!(
        world.sim.calls("sshkey/add").await,
        2,
        "the operator's one add and the one by hand"
    );

    // Imported with another public key than the manifest's: reported, never replaced.
    let third = world
        .cloud()
        .sshkey_add("third", THIRD_KEY)
        .await
        .expect("a third key");
    let mut spec = LunaSSHKeySpec::new("third", KEY);
    spec.managed.import = Some(ImportSpec {
        id: Some(third.clone()),
    });
    spec.managed.deletion_policy = DeletionPolicy::Orphan;
    world.create(&key("mismatched", spec)).await;
    let mismatched = world
        .until::<LunaSSHKey>("mismatched", "Ready=False SpecMismatch", |key| {
            condition(key, "Ready").is_some_and(|ready| ready.reason == "SpecMismatch")
        })
        .await;
    let message = condition(&mismatched, "Ready").unwrap().message;
    assert!(
        message.contains(&third) && message.contains("spec.publicKey"),
        "{message}"
    );

    // Deleting removes the operator's key; Orphan leaves the imported ones.
    for name in ["deploy", "imported", "mismatched"] {
        world.delete::<LunaSSHKey>(name).await;
    }
    for name in ["deploy", "imported", "mismatched"] {
        world.gone::<LunaSSHKey>(name).await;
    }
    assert_eq!(world.sim.calls("sshkey/remove").await, 1);
    assert_eq!(
        keys(&world).await,
        [
            ("by-hand".to_owned(), OTHER_KEY.to_owned()),
            ("third".to_owned(), THIRD_KEY.to_owned())
        ]
    );
}

#[tokio::test]
async fn a_lost_add_answer_and_a_crash_make_one_key() {
    let mut world = World::start("access", 'b').await;
    let once = key("once", LunaSSHKeySpec::new("once", KEY));
    world.create_losing_answers(&once, "sshkey/add", 1).await;
    let ready = world.ready::<LunaSSHKey>("once").await;
    assert_eq!(keys(&world).await.len(), 1, "exactly one key");
    let reasons = world.event_reasons("once").await;
    assert!(
        reasons.iter().any(|reason| reason == "CreateRecovered"),
        "the key made by the lost add is the one recorded: {reasons:?}"
    );
    assert!(ready.status_id().is_some());
    world.delete::<LunaSSHKey>("once").await;
    world.gone::<LunaSSHKey>("once").await;
    assert!(keys(&world).await.is_empty(), "nothing left");
}

/// Inserts, as someone in the panel would, a TCP rule for `port` from every address into the
/// Toronto group `group`.
async fn insert_by_hand(world: &World, group: &str, port: &str) {
    world
        .cloud()
        .securitygroup_rule_insert(
            "toronto",
            group,
            &RuleInsert {
                direction: "ingress",
                ip_version: "ipv4",
                protocol: "tcp",
                remote_type: "cidr",
                remote_value: "0.0.0.0/0",
                port_min: Some(port),
                port_max: Some(port),
                label: Some("by hand"),
            },
        )
        .await
        .expect("a rule added by hand");
}

/// A TCP rule for one port, from `cidr` (every address when `None`).
fn tcp(port: u16, cidr: Option<&str>) -> FirewallRule {
    FirewallRule {
        protocol: Protocol::TCP,
        port_min: Some(port),
        cidr: cidr.map(str::to_owned),
        ..FirewallRule::default()
    }
}

/// The simulator's security groups but each region's `default`, which the account starts with.
async fn own_groups(world: &World) -> Vec<serde_json::Value> {
    let mut groups = world.sim.objects("security_groups").await;
    groups.retain(|group| group["name"] != "default");
    groups
}

/// The rules of the simulator's groups named `name`: their ports, sorted, one list per group.
async fn group_ports(world: &World, name: &str) -> Vec<Vec<String>> {
    world
        .sim
        .objects("security_groups")
        .await
        .iter()
        .filter(|group| group["name"] == name)
        .map(|group| {
            let mut ports: Vec<String> = group["rules"]
                .as_object()
                .into_iter()
                .flat_map(|rules| rules.values())
                .map(|rule| rule["port_min"].as_str().unwrap_or_default().to_owned())
                .collect();
            ports.sort();
            ports
        })
        .collect()
}

#[tokio::test]
async fn a_security_group_keeps_exactly_its_rules() {
    let world = World::start("access", 'c').await;
    let w = &world;
    let rules = vec![
        tcp(22, Some("203.0.113.0/24")),
        tcp(80, None),
        tcp(443, None),
    ];
    world
        .create(&LunaSecurityGroup::new(
            "web",
            LunaSecurityGroupSpec::new("web", rules),
        ))
        .await;
    let ready = world.ready::<LunaSecurityGroup>("web").await;
    let id = ready.status_id().unwrap().to_owned();
    assert_eq!(world.sim.calls("securitygroup/create").await, 1);
    assert_eq!(world.sim.calls("securitygroup/rule-insert").await, 3);
    assert_eq!(world.sim.calls("securitygroup/rule-delete").await, 0);
    assert_eq!(group_ports(w, "web").await, [["22", "443", "80"]]);

    // Editing one rule costs exactly one rule-delete and one rule-insert.
    world
        .patch_spec::<LunaSecurityGroup>(
            "web",
            json!({"rules": [
                {"protocol": "TCP", "portMin": 22, "cidr": "203.0.113.0/24"},
                {"protocol": "TCP", "portMin": 8080},
                {"protocol": "TCP", "portMin": 443},
            ]}),
        )
        .await;
    let sim = &world.sim;
    support::eventually(
        support::wait::WAIT,
        "port 80 replaced by 8080",
        || async move { (group_ports(w, "web").await == [["22", "443", "8080"]]).then_some(()) },
    )
    .await;
    world.ready::<LunaSecurityGroup>("web").await;
    assert_eq!(sim.calls("securitygroup/rule-insert").await, 4);
    assert_eq!(sim.calls("securitygroup/rule-delete").await, 1);

    // A rule added in the panel is deleted at the next poll, and reported.
    insert_by_hand(&world, &id, "3306").await;
    support::eventually(
        support::wait::WAIT,
        "the hand-made rule gone",
        || async move {
            (group_ports(w, "web").await == [["22", "443", "8080"]]
                && sim.calls("securitygroup/rule-delete").await == 2)
                .then_some(())
        },
    )
    .await;
    let drift = world
        .event("web", "DriftUndone", |event| {
            event.reason.as_deref() == Some("DriftUndone")
        })
        .await;
    assert!(
        drift
            .note
            .as_deref()
            .is_some_and(|note| note.contains("3306")),
        "{drift:?}"
    );
    assert_eq!(
        sim.calls("securitygroup/rule-insert").await,
        5,
        "the operator's four and the one by hand: nothing inserted again"
    );

    // A rename follows the spec with one call.
    world
        .patch_spec::<LunaSecurityGroup>("web", json!({"name": "frontend"}))
        .await;
    support::eventually(support::wait::WAIT, "the group renamed", || async move {
        (group_ports(w, "frontend").await.len() == 1).then_some(())
    })
    .await;
    assert_eq!(sim.calls("securitygroup/rename").await, 1);
    assert_eq!(sim.calls("securitygroup/create").await, 1);

    // A rule may name another LunaSecurityGroup: its members are the remote addresses.
    let from_web = FirewallRule {
        group_ref: Some(LocalObjectReference::new("web")),
        ..tcp(5432, None)
    };
    world
        .create(&LunaSecurityGroup::new(
            "db",
            LunaSecurityGroupSpec::new("db", vec![from_web]),
        ))
        .await;
    world.ready::<LunaSecurityGroup>("db").await;
    let db = world.sim.objects("security_groups").await;
    let db_rules: Vec<(String, String)> = db
        .iter()
        .filter(|group| group["name"] == "db")
        .flat_map(|group| group["rules"].as_object().cloned().unwrap_or_default())
        .map(|(_, rule)| {
            (
                rule["remote_type"].as_str().unwrap_or_default().to_owned(),
                rule["remote_value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(db_rules, [("group".to_owned(), id.clone())]);
    // And the group it names waits to be deleted while the rule names it.
    world.delete::<LunaSecurityGroup>("web").await;
    world
        .until::<LunaSecurityGroup>("web", "Ready=False InUse", |group| {
            condition(group, "Ready").is_some_and(|ready| ready.reason == "InUse")
        })
        .await;
    assert_eq!(sim.calls("securitygroup/delete").await, 0);
    world.delete::<LunaSecurityGroup>("db").await;
    world.gone::<LunaSecurityGroup>("db").await;
    world.gone::<LunaSecurityGroup>("web").await;
    assert!(own_groups(&world).await.is_empty());
}

#[tokio::test]
async fn a_security_group_is_imported_and_a_lost_create_makes_one() {
    let mut world = World::start("access", 'd').await;
    // A group made in the panel, with a rule the manifest does not list.
    let cloud = world.cloud();
    let by_hand = cloud
        .securitygroup_create("toronto", "legacy")
        .await
        .expect("a group made by hand");
    insert_by_hand(&world, &by_hand, "21").await;
    let mut spec = LunaSecurityGroupSpec::new("legacy", vec![tcp(22, None)]);
    spec.managed.import = Some(ImportSpec {
        id: Some(by_hand.clone()),
    });
    world.create(&LunaSecurityGroup::new("legacy", spec)).await;
    let (w, sim) = (&world, &world.sim);
    support::eventually(support::wait::WAIT, "the import's rules", || async move {
        (group_ports(w, "legacy").await == [["22"]]).then_some(())
    })
    .await;
    let imported = world.ready::<LunaSecurityGroup>("legacy").await;
    assert_eq!(imported.status_id(), Some(by_hand.as_str()));
    assert_eq!(
        sim.calls("securitygroup/create").await,
        1,
        "only the one by hand"
    );

    // A create whose answer is lost, and a crash: one group.
    let once = LunaSecurityGroup::new(
        "once",
        LunaSecurityGroupSpec::new("once", vec![tcp(443, None)]),
    );
    world
        .create_losing_answers(&once, "securitygroup/create", 2)
        .await;
    world.ready::<LunaSecurityGroup>("once").await;
    assert_eq!(
        group_ports(&world, "once").await,
        [["443"]],
        "exactly one group"
    );

    for name in ["legacy", "once"] {
        world.delete::<LunaSecurityGroup>(name).await;
    }
    for name in ["legacy", "once"] {
        world.gone::<LunaSecurityGroup>(name).await;
    }
    assert!(own_groups(&world).await.is_empty(), "nothing left");
}

/// The security groups and keys of the simulator's one VM.
async fn vm_access(world: &World) -> (Vec<String>, Vec<String>) {
    let vms = world.sim.vms().await;
    let strings = |value: &serde_json::Value| -> Vec<String> {
        let mut items: Vec<String> = value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect();
        items.sort();
        items
    };
    assert_eq!(vms.len(), 1, "one VM: {vms:?}");
    (
        strings(&vms[0]["security_groups"]),
        strings(&vms[0]["key_ids"]),
    )
}

/// Waits until the simulator's one VM is in exactly the groups `expected` (in any order).
async fn vm_groups_become(world: &World, what: &str, expected: &[String]) {
    let mut expected = expected.to_vec();
    expected.sort();
    let expected = &expected;
    support::eventually(support::wait::WAIT, what, || async move {
        (vm_access(world).await.0 == *expected).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_vm_takes_its_key_and_firewalls_by_reference() {
    let world = World::start("access", 'e').await;
    let mut spec = LunaVMSpec::new("web", "m.1", "Ubuntu 22.04 64-bit (template)");
    spec.ssh_key_ref = Some(LocalObjectReference::new("deploy"));
    spec.security_group_refs = vec![LocalObjectReference::new("web")];
    spec.startup_script_refs = vec![LocalObjectReference::new("boot")];
    world.create(&LunaVM::new("web", spec)).await;
    // Neither exists yet: the VM waits, and says for what.
    world
        .until::<LunaVM>("web", "Ready=False SSHKeyNotFound", |vm| {
            condition(vm, "Ready").is_some_and(|ready| ready.reason == "SSHKeyNotFound")
        })
        .await;
    world
        .create(&key("deploy", LunaSSHKeySpec::new("deploy", KEY)))
        .await;
    world
        .create(&LunaSecurityGroup::new(
            "web",
            LunaSecurityGroupSpec::new("web", vec![tcp(443, None)]),
        ))
        .await;
    world
        .create(&LunaSecurityGroup::new(
            "db",
            LunaSecurityGroupSpec::new("db", vec![tcp(5432, Some("10.0.0.0/8"))]),
        ))
        .await;
    world
        .create(&LunaStartupScript::new(
            "boot",
            LunaStartupScriptSpec::new("boot", "#!/bin/sh\necho booted\n"),
        ))
        .await;
    let key_id = world
        .ready::<LunaSSHKey>("deploy")
        .await
        .status_id()
        .unwrap()
        .to_owned();
    let web = world
        .ready::<LunaSecurityGroup>("web")
        .await
        .status_id()
        .unwrap()
        .to_owned();
    let db = world
        .ready::<LunaSecurityGroup>("db")
        .await
        .status_id()
        .unwrap()
        .to_owned();
    let script = world
        .ready::<LunaStartupScript>("boot")
        .await
        .status_id()
        .unwrap()
        .to_owned();
    world.ready::<LunaVM>("web").await;
    assert_eq!(world.sim.calls("vm/create").await, 1);
    let vms = world.sim.vms().await;
    assert_eq!(vms[0]["scripts"], json!([script]), "{vms:?}");
    assert_eq!(
        vm_access(&world).await,
        (vec![web.clone()], vec![key_id.clone()])
    );

    // A group added to the manifest is added to the running VM with one call, and an Event.
    world
        .patch_spec::<LunaVM>(
            "web",
            json!({"securityGroupRefs": [{"name": "web"}, {"name": "db"}]}),
        )
        .await;
    let sim = &world.sim;
    vm_groups_become(&world, "the VM in both groups", &[web.clone(), db.clone()]).await;
    world
        .event("web", "SecurityGroupAdded", |event| {
            event.reason.as_deref() == Some("SecurityGroupAdded")
        })
        .await;
    // And one taken out of it is removed with one call.
    world
        .patch_spec::<LunaVM>("web", json!({"securityGroupRefs": [{"name": "db"}]}))
        .await;
    vm_groups_become(&world, "the VM in db only", std::slice::from_ref(&db)).await;
    world.ready::<LunaVM>("web").await;
    assert_eq!(sim.calls("vm/securitygroup-add").await, 1);
    assert_eq!(sim.calls("vm/securitygroup-remove").await, 1);
    assert_eq!(sim.calls("vm/create").await, 1);

    // The key is create-only.
    support::assert_rejected(
        world
            .api::<LunaVM>()
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"sshKeyRef": {"name": "other"}}})),
            )
            .await,
        "immutable",
    );

    // A group a VM names waits to be deleted until the VM lets go.
    world.delete::<LunaSecurityGroup>("db").await;
    world
        .until::<LunaSecurityGroup>("db", "Ready=False InUse", |group| {
            condition(group, "Ready").is_some_and(|ready| ready.reason == "InUse")
        })
        .await;
    assert_eq!(sim.calls("securitygroup/delete").await, 0);
    world.delete::<LunaVM>("web").await;
    world.gone::<LunaVM>("web").await;
    world.gone::<LunaSecurityGroup>("db").await;
    world.delete::<LunaSecurityGroup>("web").await;
    world.gone::<LunaSecurityGroup>("web").await;
    world.delete::<LunaStartupScript>("boot").await;
    world.gone::<LunaStartupScript>("boot").await;
    assert!(own_groups(&world).await.is_empty());
}

/// The contents of the simulator's scripts named `name`.
async fn script_contents(world: &World, name: &str) -> Vec<String> {
    world
        .sim
        .objects("scripts")
        .await
        .iter()
        .filter(|script| script["name"] == name)
        .map(|script| script["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_startup_script_follows_its_content_its_secret_and_its_config_map() {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};

    const TOKEN: &str = "boot-token-5e0d2c7a91";
    const NEW_TOKEN: &str = "boot-token-8b44f1d3c6";
    let world = World::start("access", 'f').await;
    let w = &world;
    world
        .create(&LunaStartupScript::new(
            "inline",
            LunaStartupScriptSpec::new("inline", "#!/bin/sh\necho one\n"),
        ))
        .await;
    world.ready::<LunaStartupScript>("inline").await;
    assert_eq!(world.sim.calls("script/create").await, 1);
    // A change of the content is one update in place.
    world
        .patch_spec::<LunaStartupScript>("inline", json!({"content": "#!/bin/sh\necho two\n"}))
        .await;
    support::eventually(support::wait::WAIT, "the new content", || async move {
        (script_contents(w, "inline").await == ["#!/bin/sh\r\necho two\r\n"]).then_some(())
    })
    .await;
    assert_eq!(world.sim.calls("script/update").await, 1);
    assert_eq!(world.sim.calls("script/create").await, 1);

    // From a key of a Secret that does not exist yet: the create waits for it.
    let mut spec = LunaStartupScriptSpec::new("boot", "");
    spec.content = None;
    spec.content_from = Some(ScriptSource::secret("boot", "boot.sh"));
    world.create(&LunaStartupScript::new("boot", spec)).await;
    world
        .until::<LunaStartupScript>("boot", "Ready=False ScriptSourceNotFound", |script| {
            condition(script, "Ready").is_some_and(|ready| ready.reason == "ScriptSourceNotFound")
        })
        .await;
    let secrets = world.api::<Secret>();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "boot"},
        "stringData": {"boot.sh": format!("#!/bin/sh\nexport TOKEN={TOKEN}\n")},
    }))
    .unwrap();
    secrets
        .create(&kube::api::PostParams::default(), &secret)
        .await
        .unwrap();
    world.ready::<LunaStartupScript>("boot").await;
    assert_eq!(world.sim.calls("script/create").await, 2);
    // A change of the Secret is picked up at the next look: one update.
    secrets
        .patch(
            "boot",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"boot.sh": format!("#!/bin/sh\nexport TOKEN={NEW_TOKEN}\n")}})),
        )
        .await
        .unwrap();
    support::eventually(
        support::wait::WAIT,
        "the Secret's new content",
        || async move {
            script_contents(w, "boot")
                .await
                .iter()
                .any(|content| content.contains(NEW_TOKEN))
                .then_some(())
        },
    )
    .await;
    assert_eq!(world.sim.calls("script/update").await, 2);

    // From a key of a ConfigMap: created with its content, and an edit of the ConfigMap is one
    // update.
    let maps = world.api::<ConfigMap>();
    let map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "shared-boot"},
        "data": {"boot.sh": "#!/bin/sh\necho from-config-map\n"},
    }))
    .unwrap();
    maps.create(&kube::api::PostParams::default(), &map)
        .await
        .unwrap();
    let mut spec = LunaStartupScriptSpec::new("shared", "");
    spec.content = None;
    spec.content_from = Some(ScriptSource::config_map("shared-boot", "boot.sh"));
    world.create(&LunaStartupScript::new("shared", spec)).await;
    world.ready::<LunaStartupScript>("shared").await;
    assert_eq!(
        script_contents(w, "shared").await,
        ["#!/bin/sh\r\necho from-config-map\r\n"]
    );
    assert_eq!(world.sim.calls("script/create").await, 3);
    maps.patch(
        "shared-boot",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"boot.sh": "#!/bin/sh\necho edited\n"}})),
    )
    .await
    .unwrap();
    support::eventually(
        support::wait::WAIT,
        "the ConfigMap's new content",
        || async move {
            (script_contents(w, "shared").await == ["#!/bin/sh\r\necho edited\r\n"]).then_some(())
        },
    )
    .await;
    assert_eq!(world.sim.calls("script/update").await, 3);

    // The Secret's content is on Luna Node and nowhere else: not in the status, an Event or
    // the operator's log.
    let object =
        serde_json::to_string(&world.api::<LunaStartupScript>().get("boot").await.unwrap())
            .unwrap();
    let events = format!(
        "{:?}",
        support::wait::events_about(&world.api(), "boot").await
    );
    let logs = world.operator().logs();
    for token in [TOKEN, NEW_TOKEN] {
        assert!(!object.contains(token), "the status holds the script");
        assert!(!events.contains(token), "an Event holds the script");
        assert!(!logs.contains(token), "the log holds the script");
    }
    assert!(object.contains("contentSha256"), "{object}");

    for name in ["inline", "boot", "shared"] {
        world.delete::<LunaStartupScript>(name).await;
    }
    for name in ["inline", "boot", "shared"] {
        world.gone::<LunaStartupScript>(name).await;
    }
    assert!(
        world.sim.objects("scripts").await.is_empty(),
        "nothing left"
    );
}

#[tokio::test]
async fn a_lost_script_create_answer_and_a_crash_make_one_script() {
    let mut world = World::start("access", 'g').await;
    let once = LunaStartupScript::new(
        "once",
        LunaStartupScriptSpec::new("once", "#!/bin/sh\necho once\n"),
    );
    world.create_losing_answers(&once, "script/create", 1).await;
    world.ready::<LunaStartupScript>("once").await;
    assert_eq!(
        script_contents(&world, "once").await.len(),
        1,
        "exactly one script"
    );
    let reasons = world.event_reasons("once").await;
    assert!(
        reasons.iter().any(|reason| reason == "CreateRecovered"),
        "{reasons:?}"
    );
    world.delete::<LunaStartupScript>("once").await;
    world.gone::<LunaStartupScript>("once").await;
    assert!(
        world.sim.objects("scripts").await.is_empty(),
        "nothing left"
    );
}

#[tokio::test]
async fn a_vm_created_without_groups_leaves_the_default_one_when_given_some() {
    let world = World::start("access", 'h').await;
    world
        .create(&LunaVM::new(
            "plain",
            LunaVMSpec::new("plain", "m.1", "Ubuntu 22.04 64-bit (template)"),
        ))
        .await;
    world.ready::<LunaVM>("plain").await;
    let default: Vec<String> = world
        .sim
        .objects("security_groups")
        .await
        .iter()
        .filter(|group| group["name"] == "default" && group["region"] == "toronto")
        .filter_map(|group| group["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(default.len(), 1, "Toronto's default group");
    assert_eq!(
        vm_access(&world).await.0,
        default,
        "created in the default group"
    );

    world
        .create(&LunaSecurityGroup::new(
            "web",
            LunaSecurityGroupSpec::new("web", vec![tcp(443, None)]),
        ))
        .await;
    let web = world
        .ready::<LunaSecurityGroup>("web")
        .await
        .status_id()
        .unwrap()
        .to_owned();
    world
        .patch_spec::<LunaVM>("plain", json!({"securityGroupRefs": [{"name": "web"}]}))
        .await;
    vm_groups_become(
        &world,
        "the VM in web only, out of the default group",
        std::slice::from_ref(&web),
    )
    .await;
    world
        .event("plain", "SecurityGroupRemoved", |event| {
            event.reason.as_deref() == Some("SecurityGroupRemoved")
        })
        .await;
    assert_eq!(world.sim.calls("vm/securitygroup-add").await, 1);
    assert_eq!(world.sim.calls("vm/securitygroup-remove").await, 1);

    // Every group taken away: back in the default group.
    world
        .patch_spec::<LunaVM>("plain", json!({"securityGroupRefs": []}))
        .await;
    vm_groups_become(&world, "the VM back in the default group", &default).await;
    world.ready::<LunaVM>("plain").await;
    assert_eq!(world.sim.calls("vm/securitygroup-add").await, 2);
    assert_eq!(world.sim.calls("vm/securitygroup-remove").await, 2);
    assert_eq!(world.sim.calls("vm/create").await, 1);

    world.delete::<LunaVM>("plain").await;
    world.gone::<LunaVM>("plain").await;
    world.delete::<LunaSecurityGroup>("web").await;
    world.gone::<LunaSecurityGroup>("web").await;
    assert!(own_groups(&world).await.is_empty());
}
