//! Credentials isolation: a LunaVM can only use a credentials Secret of its own namespace.
//!
//! `spec.credentialsSecretRef` has a name and no namespace field (a `namespace:` is refused by
//! strict validation, and dropped by the API server otherwise). One operator watches every
//! namespace; the simulator holds two accounts, A and B. In namespace B, the Secret
//! `team-credentials` holds B's key; namespace A has no Secret of that name at first.
//!
//! 1. LunaVMs in A that name `team-credentials` (one of them also with `namespace: B`, sent
//!    without strict validation) get a credentials condition, and the simulator sees no call
//!    at all: nothing was sent with B's key.
//! 2. A LunaVM in B uses `team-credentials` and becomes Ready, so the operator now holds B's
//!    account; asked to reconcile again, A's objects keep their condition and no VM is made
//!    for them with B's key.
//! 3. A `team-credentials` Secret with A's key appears in A: A's objects become Ready, with
//!    their VMs on account A; account B still has only B's VM.
//!
//! Throughout, neither key nor any VM password shows in the operator's logs (at debug level),
//! Events, status or metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{collections::BTreeSet, time::Duration};

use kube::{
    Api,
    api::{ApiResource, Patch, PatchParams, PostParams},
};
use lunanode_operator::api::vm::LunaVM;
use serde_json::{Value, json};
use support::{
    World,
    processes::test_account,
    secrets::{Shown, connection_passwords, find_secrets, shown_by_operator},
    wait,
};

const WAIT: Duration = Duration::from_secs(120);
const SHARED_NAME: &str = "team-credentials";

fn lunavm(name: &str, credentials: Value) -> Value {
    json!({
        "apiVersion": "lunanode.com/v1alpha1",
        "kind": "LunaVM",
        "metadata": {"name": name},
        "spec": {
            "hostname": format!("{name}-host"),
            "plan": "m.1",
            "image": "Ubuntu 22.04 64-bit (template)",
            "deletionPolicy": "Orphan",
            "credentialsSecretRef": credentials,
            "writeConnectionSecretToRef": {"name": format!("{name}-connection")},
        },
    })
}

/// The condition of `type_` on the object, as (status, reason, message).
fn condition(vm: &LunaVM, type_: &str) -> Option<(String, String, String)> {
    vm.status
        .as_ref()?
        .managed
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.to_string(), c.reason.clone(), c.message.clone()))
}

fn credentials_refused(vm: &LunaVM) -> bool {
    matches!(condition(vm, "Ready"), Some((status, reason, _))
        if status == "False" && reason.starts_with("Credentials"))
}

/// Hostnames of the VMs of one simulator account.
fn hostnames(state: &Value, api_id: &str) -> BTreeSet<String> {
    let vms = &state["accounts"][api_id]["vms"];
    let items: Vec<&Value> = match vms {
        Value::Object(map) => map.values().collect(),
        Value::Array(items) => items.iter().collect(),
        _ => Vec::new(),
    };
    items
        .iter()
        .filter_map(|vm| vm["hostname"].as_str().map(str::to_owned))
        .collect()
}

fn total_calls(stats: &Value) -> u64 {
    stats["totals"]["calls"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_namespace_never_uses_another_namespaces_credentials() {
    // The world is namespace B, with account B's Secret; the simulator holds account A too.
    let account_a = test_account('i');
    let world = World::setup("isolation-b", 'j')
        .second_account(&account_a)
        .credentials(SHARED_NAME)
        .all_namespaces()
        .operator_args(&["--log-level", "debug"])
        .start()
        .await;
    let (client, ns_b, account_b) = (
        world.client.clone(),
        world.ns.clone(),
        world.account.clone(),
    );
    let ns_a = support::namespace(&client, "isolation-a").await;
    let (sim, operator) = (&world.sim, world.operator());
    let vms_a: Api<LunaVM> = Api::namespaced(client.clone(), &ns_a);
    let vms_b: Api<LunaVM> = world.api();

    // 1. A's objects name a Secret that only B has.
    let by_name: LunaVM =
        serde_json::from_value(lunavm("a-by-name", json!({"name": SHARED_NAME}))).unwrap();
    vms_a
        .create(&PostParams::default(), &by_name)
        .await
        .unwrap();
    // With a namespace field: strict validation (kubectl's default) refuses it ...
    let with_namespace = lunavm(
        "a-with-namespace",
        json!({"name": SHARED_NAME, "namespace": ns_b}),
    );
    let strict = vms_a
        .patch(
            "a-with-namespace",
            &PatchParams::apply("isolation").validation_strict(),
            &Patch::Apply(&with_namespace),
        )
        .await
        .expect_err("a namespace in credentialsSecretRef is refused by strict validation");
    assert!(
        strict
            .to_string()
            .contains("credentialsSecretRef.namespace"),
        "{strict}"
    );
    // ... and without it the API server drops the field.
    let dynamic: Api<kube::api::DynamicObject> =
        Api::namespaced_with(client.clone(), &ns_a, &ApiResource::erase::<LunaVM>(&()));
    let stored = dynamic
        .create(
            &PostParams::default(),
            &serde_json::from_value(with_namespace).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        stored.data["spec"]["credentialsSecretRef"],
        json!({"name": SHARED_NAME}),
        "the namespace field is pruned"
    );
    let mut refused = Vec::new();
    for name in ["a-by-name", "a-with-namespace"] {
        let vm = wait::until(&vms_a, name, "a credentials condition", WAIT, |vm| {
            credentials_refused(vm) && wait::generation_observed(vm)
        })
        .await;
        let (_, reason, message) = condition(&vm, "Ready").unwrap();
        assert!(
            message.contains(&format!("{ns_a}/{SHARED_NAME}")) && message.contains("not found"),
            "{name}: the Secret is looked up in the object's namespace: {reason}: {message}"
        );
        assert!(vm.status.as_ref().unwrap().managed.id.is_none());
        refused.push(format!("{name}: {reason}: {message}"));
    }
    let stats = sim.admin_get("stats").await;
    assert_eq!(
        total_calls(&stats),
        0,
        "no cloud call at all, so none with B's key: {stats}"
    );

    // 2. B's account is in use by the operator; A's objects still cannot reach it.
    let owner: LunaVM =
        serde_json::from_value(lunavm("b-owner", json!({"name": SHARED_NAME}))).unwrap();
    vms_b.create(&PostParams::default(), &owner).await.unwrap();
    wait::ready(&vms_b, "b-owner", WAIT).await;
    let creates_before = sim.calls("vm/create").await;
    for name in ["a-by-name", "a-with-namespace"] {
        vms_a
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {
                    "lunanode.com/reconcile-requested-at": "2030-01-01T00:00:00Z"
                }}})),
            )
            .await
            .unwrap();
    }
    // Proof that the operator looked again: it records the request it acted on.
    for name in ["a-by-name", "a-with-namespace"] {
        let vm = wait::until(&vms_a, name, "the reconcile request handled", WAIT, |vm| {
            vm.status
                .as_ref()
                .and_then(|status| status.managed.last_reconcile_request.as_deref())
                == Some("2030-01-01T00:00:00Z")
        })
        .await;
        assert!(
            credentials_refused(&vm),
            "{name} keeps its condition: {:?}",
            vm.status
        );
    }
    assert_eq!(
        sim.calls("vm/create").await,
        creates_before,
        "nothing created for A"
    );
    let state = sim.state().await;
    assert_eq!(
        hostnames(&state, &account_b.0),
        BTreeSet::from(["b-owner-host".to_owned()]),
        "account B holds only B's VM"
    );
    assert!(hostnames(&state, &account_a.0).is_empty());

    // 3. A's own Secret of that name appears: A's objects use it, and only it.
    support::credentials_secret(&client, &ns_a, SHARED_NAME, &account_a.0, &account_a.1).await;
    for name in ["a-by-name", "a-with-namespace"] {
        wait::until(
            &vms_a,
            name,
            "Ready with A's own Secret",
            WAIT,
            wait::is_ready,
        )
        .await;
    }
    let state = sim.state().await;
    assert_eq!(
        hostnames(&state, &account_a.0),
        BTreeSet::from([
            "a-by-name-host".to_owned(),
            "a-with-namespace-host".to_owned()
        ]),
        "A's VMs are on account A"
    );
    assert_eq!(
        hostnames(&state, &account_b.0),
        BTreeSet::from(["b-owner-host".to_owned()]),
        "account B still holds only B's VM"
    );

    // Neither key, nor any VM password, shows anywhere the operator speaks.
    let lunavms = [ApiResource::erase::<LunaVM>(&())];
    let shown = shown_by_operator(&client, &[ns_a.clone(), ns_b.clone()], &lunavms, operator).await;
    assert!(
        operator.logs().contains("DEBUG"),
        "the operator logs at debug level"
    );
    let mut secrets = vec![
        ("A's api key".to_owned(), account_a.1.clone()),
        ("B's api key".to_owned(), account_b.1.clone()),
    ];
    let mut reported = Vec::new();
    for account in [&account_a, &account_b] {
        reported.extend(support::processes::reported_passwords(&sim.endpoint(), account).await);
    }
    reported.sort();
    // Each password went through the operator, into the VM's connection Secret.
    let (client_ref, namespaces) = (&client, &[ns_a.clone(), ns_b.clone()]);
    let mut written = support::eventually(WAIT, "three connection Secrets", || async move {
        let found = connection_passwords(client_ref, namespaces).await;
        (found.len() == 3).then_some(found)
    })
    .await;
    written.sort();
    assert_eq!(
        written, reported,
        "the connection Secrets hold the VMs' passwords"
    );
    secrets.extend(
        reported
            .into_iter()
            .map(|password| ("a vm password".to_owned(), password)),
    );
    let leaks = find_secrets(&shown, &secrets);
    println!(
        "isolation: {}; {} secrets grepped in {} sources: {} found",
        refused.join("; "),
        secrets.len(),
        shown.len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "secrets shown: {leaks:#?}");
}

#[test]
fn the_secret_grep_finds_pieces() {
    let shown = [Shown::new(
        "logs",
        format!("x {} y", &"0123456789abcdefghijklmnopqrstuvwxyz"[3..36]),
    )];
    let secrets = [(
        "key".to_owned(),
        "0123456789abcdefghijklmnopqrstuvwxyz".to_owned(),
    )];
    assert_eq!(find_secrets(&shown, &secrets).len(), 1);
    assert!(find_secrets(&shown[..0], &secrets).is_empty());
}
