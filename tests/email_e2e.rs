//! LunaEmailDomain, LunaEmailUser and LunaEmailAlias end to end: the real control plane, the
//! simulator and the operator as separate processes, one of each per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use lunanode_operator::api::{
    LunaEmailAlias, LunaEmailAliasSpec, LunaEmailDomain, LunaEmailDomainSpec, LunaEmailUser,
    LunaEmailUserSpec,
    common::{KeyRef, ManagedResource},
    emaildomain::Dkim,
};
use serde_json::{Value, json};
use support::{World, wait::condition};

const PASSWORD: &str = "mailbox-password-one-7c1f";
const NEW_PASSWORD: &str = "mailbox-password-two-93ad";
const DKIM_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANdkimTestKey0123456789\n-----END PRIVATE KEY-----\n";

/// Creates or replaces the Secret `name` holding `data`.
async fn secret(world: &World, name: &str, data: Value) {
    let secrets = world.api::<Secret>();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap();
    if secrets.get_opt(name).await.unwrap().is_some() {
        secrets
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"stringData": data})),
            )
            .await
            .unwrap();
    } else {
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
}

/// The simulator's e-mail domains: (name, DKIM selector, users, aliases).
async fn domains(world: &World) -> Vec<(String, Option<String>, Vec<String>, Vec<String>)> {
    let names = |value: &Value, key: &str| -> Vec<String> {
        let mut names: Vec<String> = value
            .as_object()
            .map(|map| {
                map.values()
                    .map(|item| item[key].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let mut found: Vec<_> = world
        .sim
        .objects("email_domains")
        .await
        .iter()
        .map(|domain| {
            (
                domain["name"].as_str().unwrap_or_default().to_owned(),
                domain["dkim_selector"].as_str().map(str::to_owned),
                names(&domain["users"], "username"),
                names(&domain["aliases"], "name"),
            )
        })
        .collect();
    found.sort();
    found
}

/// Waits until the domain is Ready with DKIM `on` (or off) as the API reports it.
async fn dkim_shows(world: &World, on: bool) {
    let what = if on { "DKIM on" } else { "DKIM off" };
    world
        .until::<LunaEmailDomain>("example-com", what, |domain| {
            support::wait::is_ready(domain)
                && domain
                    .status
                    .as_ref()
                    .and_then(|status| status.at_provider.as_ref())
                    .and_then(|at| at.dkim)
                    == Some(on)
        })
        .await;
}

#[tokio::test]
async fn a_domain_its_mailboxes_and_aliases_by_difference_with_no_secret_shown() {
    let mut world = World::start("email", 'a').await;
    // A mailbox of a domain the account does not host yet: it waits, nothing is sent.
    secret(&world, "alice-mailbox", json!({"password": PASSWORD})).await;
    world
        .create(&LunaEmailUser::new(
            "alice",
            LunaEmailUserSpec::new("example.com", "alice", "alice-mailbox", "password"),
        ))
        .await;
    world
        .until::<LunaEmailUser>("alice", "Ready=False WaitingForDomain", |user| {
            condition(user, "Ready").is_some_and(|ready| ready.reason == "WaitingForDomain")
        })
        .await;
    assert_eq!(world.sim.calls("email/user-add").await, 0);

    // The domain comes: the mailbox is added with its password, and an alias.
    world
        .create(&LunaEmailDomain::new(
            "example-com",
            LunaEmailDomainSpec::new("example.com"),
        ))
        .await;
    world
        .create(&LunaEmailAlias::new(
            "sales",
            LunaEmailAliasSpec::new("example.com", "sales", "alice@example.com"),
        ))
        .await;
    world.ready::<LunaEmailDomain>("example-com").await;
    let alice = world.ready::<LunaEmailUser>("alice").await;
    world.ready::<LunaEmailAlias>("sales").await;
    let at = alice.status.as_ref().unwrap().at_provider.clone().unwrap();
    assert_eq!(at.email.as_deref(), Some("alice@example.com"));
    assert_eq!(world.sim.calls("email/domain-add").await, 1);
    assert_eq!(world.sim.calls("email/user-add").await, 1);
    assert_eq!(world.sim.calls("email/alias-add").await, 1);
    assert_eq!(world.sim.calls("email/user-set-password").await, 0);
    assert_eq!(
        domains(&world).await,
        [(
            "example.com".to_owned(),
            None,
            vec!["alice".to_owned()],
            vec!["sales".to_owned()]
        )]
    );

    // A new password in the Secret: set once, at the next look.
    secret(&world, "alice-mailbox", json!({"password": NEW_PASSWORD})).await;
    world.looked_again::<LunaEmailUser>("alice", "1").await;
    let sim = &world.sim;
    support::eventually(support::wait::WAIT, "the new password set", || async move {
        (sim.calls("email/user-set-password").await == 1).then_some(())
    })
    .await;
    world.looked_again::<LunaEmailUser>("alice", "2").await;
    assert_eq!(
        world.sim.calls("email/user-set-password").await,
        1,
        "set once"
    );

    // DKIM on, then off: one call each.
    secret(&world, "example-com-dkim", json!({"private.pem": DKIM_KEY})).await;
    world
        .patch_spec::<LunaEmailDomain>(
            "example-com",
            json!({"dkim": Dkim {
                selector: "mail".to_owned(),
                private_key_secret_ref: KeyRef::new("example-com-dkim", "private.pem"),
            }}),
        )
        .await;
    dkim_shows(&world, true).await;
    // One set; a reconcile that ran on a copy from before the status write recording the key's
    // version may send the same key once more (the memo lives in the status), never more.
    let sets = world.sim.calls("email/domain-dkim-set").await;
    assert!((1..=2).contains(&sets), "{sets} DKIM sets");
    world
        .patch_spec::<LunaEmailDomain>("example-com", json!({"dkim": null}))
        .await;
    dkim_shows(&world, false).await;
    assert_eq!(world.sim.calls("email/domain-dkim-unset").await, 1);
    assert_eq!(
        world.sim.calls("email/domain-dkim-set").await,
        sets,
        "no set after the unset"
    );

    // A lost add answer and a crash: one mailbox.
    secret(&world, "bob-mailbox", json!({"password": PASSWORD})).await;
    world
        .create_losing_answers(
            &LunaEmailUser::new(
                "bob",
                LunaEmailUserSpec::new("example.com", "bob", "bob-mailbox", "password"),
            ),
            "email/user-add",
            2,
        )
        .await;
    let bob = world.ready::<LunaEmailUser>("bob").await;
    assert!(bob.status_id().is_some());
    assert_eq!(domains(&world).await[0].2, ["alice", "bob"]);

    // No password and no private key anywhere the operator shows things.
    let resources = [
        kube::api::ApiResource::erase::<LunaEmailUser>(&()),
        kube::api::ApiResource::erase::<LunaEmailDomain>(&()),
    ];
    let shown = support::secrets::shown_by_operator(
        &world.client,
        &[world.ns.clone()],
        &resources,
        world.operator(),
    )
    .await;
    let secrets: Vec<(String, String)> = [
        ("password", PASSWORD),
        ("new password", NEW_PASSWORD),
        ("DKIM key", DKIM_KEY),
    ]
    .iter()
    .map(|(label, value)| ((*label).to_owned(), (*value).to_owned()))
    .collect();
    let leaks = support::secrets::find_secrets(&shown, &secrets);
    assert!(leaks.is_empty(), "{leaks:?}");

    // The domain waits for its mailboxes and alias to go.
    world.delete::<LunaEmailDomain>("example-com").await;
    world
        .until::<LunaEmailDomain>("example-com", "Ready=False InUse", |domain| {
            condition(domain, "Ready").is_some_and(|ready| ready.reason == "InUse")
        })
        .await;
    assert_eq!(world.sim.calls("email/domain-remove").await, 0);
    for name in ["alice", "bob"] {
        world.delete::<LunaEmailUser>(name).await;
    }
    world.delete::<LunaEmailAlias>("sales").await;
    for name in ["alice", "bob"] {
        world.gone::<LunaEmailUser>(name).await;
    }
    world.gone::<LunaEmailAlias>("sales").await;
    world.gone::<LunaEmailDomain>("example-com").await;
    assert_eq!(world.sim.calls("email/user-remove").await, 2);
    assert_eq!(world.sim.calls("email/alias-remove").await, 1);
    assert_eq!(world.sim.calls("email/domain-remove").await, 1);
    assert!(domains(&world).await.is_empty(), "nothing left");
}
