//! LunaMonitorContact and LunaMonitorCheck end to end: the real control plane, the simulator and
//! the operator as separate processes, one of each per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use lunanode_operator::api::{
    LunaMonitorCheck, LunaMonitorCheckSpec, LunaMonitorContact, LunaMonitorContactSpec,
    common::{KeyRef, LocalObjectReference, ManagedResource},
    monitorcontact::ContactType,
    vm::{LunaVM, LunaVMSpec},
};
use serde_json::{Value, json};
use support::{World, wait::condition};

const PHONE: &str = "+1 555 0100 731";
const NEW_PHONE: &str = "+1 555 0199 284";

/// The simulator's alerts: contact IDs, sorted.
async fn alerted(world: &World) -> Vec<String> {
    let mut found: Vec<String> = world
        .sim
        .objects("alerts")
        .await
        .iter()
        .map(|alert| alert["contact_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn checks_and_contacts_by_difference_with_alerts_and_no_address_shown() {
    let mut world = World::start("monitor", 'a').await;
    let secrets = world.api::<Secret>();
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "pager"}, "stringData": {"number": PHONE}}),
    )
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    world
        .create(&LunaMonitorContact::new(
            "ops",
            LunaMonitorContactSpec::new(ContactType::Email, "ops@example.com"),
        ))
        .await;
    let mut pager = LunaMonitorContactSpec::new(ContactType::Sms, "");
    pager.address = None;
    pager.address_from = Some(KeyRef::new("pager", "number"));
    world.create(&LunaMonitorContact::new("pager", pager)).await;
    // A check of a VM that does not exist yet waits; one whose parameters do not fit its type
    // stops. Neither is sent.
    let mut web = LunaMonitorCheckSpec::new("web", "tcp");
    web.vm_ref = Some(LocalObjectReference::new("web"));
    web.port = Some(22);
    web.contact_refs = vec![
        LocalObjectReference::new("ops"),
        LocalObjectReference::new("pager"),
    ];
    world.create(&LunaMonitorCheck::new("web", web)).await;
    world
        .create(&LunaMonitorCheck::new(
            "bad",
            LunaMonitorCheckSpec {
                target: Some("192.0.2.1".into()),
                ..LunaMonitorCheckSpec::new("bad", "tcp")
            },
        ))
        .await;
    let bad = world
        .until::<LunaMonitorCheck>("bad", "Synced=False InvalidCheck", |check| {
            condition(check, "Synced").is_some_and(|synced| synced.reason == "InvalidCheck")
        })
        .await;
    let message = condition(&bad, "Synced").unwrap().message;
    assert!(message.contains("port"), "{message}");
    world
        .until::<LunaMonitorCheck>("web", "Ready=False WaitingForVM", |check| {
            condition(check, "Ready").is_some_and(|ready| ready.reason == "WaitingForVM")
        })
        .await;
    assert_eq!(world.sim.calls("monitor/check-add").await, 0);

    // The VM comes: the check probes its address and alerts both contacts.
    world
        .create(&LunaVM::new(
            "web",
            LunaVMSpec::new("web", "m.1", "Ubuntu 22.04 64-bit (template)"),
        ))
        .await;
    let vm = world.ready::<LunaVM>("web").await;
    let ip = support::public_ip(&vm);
    let ops = world.ready::<LunaMonitorContact>("ops").await;
    let pager = world.ready::<LunaMonitorContact>("pager").await;
    let check = world.ready::<LunaMonitorCheck>("web").await;
    assert_eq!(
        checks_of(&world.sim).await,
        [("web".to_owned(), ip.clone(), "22".to_owned())]
    );
    let mut both = vec![
        ops.status_id().unwrap().to_owned(),
        pager.status_id().unwrap().to_owned(),
    ];
    both.sort();
    assert_eq!(alerted(&world).await, both);
    assert_eq!(world.sim.calls("monitor/check-add").await, 1);
    assert_eq!(world.sim.calls("monitor/alert-add").await, 2);
    let at = pager.status.as_ref().unwrap().at_provider.clone().unwrap();
    assert_eq!(at.address, None, "an address from a Secret is not shown");

    // Steady state: more looks list no alerts.
    world.looked_again::<LunaMonitorCheck>("web", "1").await;
    world.looked_again::<LunaMonitorCheck>("web", "2").await;
    assert_eq!(world.sim.calls("monitor/alert-list").await, 1);

    // The check follows what it probes: the VM stopped, Luna Node reports it `offline`; started
    // again, `online`. Nothing is written to the cloud for it.
    let adds = world.sim.calls("monitor/check-add").await;
    for (power, state) in [("Stopped", "offline"), ("Running", "online")] {
        world
            .patch_spec::<LunaVM>("web", json!({"powerState": power}))
            .await;
        world
            .until::<LunaMonitorCheck>("web", state, |check| {
                check
                    .status
                    .as_ref()
                    .and_then(|status| status.at_provider.as_ref())
                    .and_then(|at| at.status.as_deref())
                    == Some(state)
            })
            .await;
    }
    assert_eq!(world.sim.calls("monitor/check-add").await, adds);

    // One contact fewer: one alert removed.
    world
        .patch_spec::<LunaMonitorCheck>("web", json!({"contactRefs": [{"name": "ops"}]}))
        .await;
    let sim = &world.sim;
    support::eventually(support::wait::WAIT, "one alert removed", || async move {
        (sim.calls("monitor/alert-remove").await == 1).then_some(())
    })
    .await;
    assert_eq!(alerted(&world).await, [ops.status_id().unwrap().to_owned()]);

    // Another port: the check is replaced, its alert made again.
    world
        .patch_spec::<LunaMonitorCheck>("web", json!({"port": 2222}))
        .await;
    let ip_ref = &ip;
    support::eventually(support::wait::WAIT, "the check replaced", || async move {
        let found = checks_of(sim).await;
        (found == [("web".to_owned(), ip_ref.clone(), "2222".to_owned())]).then_some(())
    })
    .await;
    let replaced = world
        .until::<LunaMonitorCheck>("web", "Ready with a new ID", |found| {
            support::wait::is_ready(found) && found.status_id() != check.status_id()
        })
        .await;
    assert!(replaced.status_id().is_some());
    assert_eq!(world.sim.calls("monitor/check-remove").await, 1);
    assert_eq!(world.sim.calls("monitor/check-add").await, 2);
    assert_eq!(alerted(&world).await, [ops.status_id().unwrap().to_owned()]);

    // A new number in the Secret: the contact is replaced.
    secrets
        .patch(
            "pager",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"number": NEW_PHONE}})),
        )
        .await
        .unwrap();
    world.looked_again::<LunaMonitorContact>("pager", "1").await;
    let old_pager = pager.status_id().unwrap().to_owned();
    world
        .until::<LunaMonitorContact>("pager", "Ready with a new ID", |found| {
            support::wait::is_ready(found) && found.status_id() != Some(old_pager.as_str())
        })
        .await;
    assert_eq!(world.sim.calls("monitor/contact-remove").await, 1);
    assert_eq!(world.sim.calls("monitor/contact-add").await, 3);

    // A lost add answer and a crash: one check.
    world
        .create_losing_answers(
            &LunaMonitorCheck::new(
                "once",
                LunaMonitorCheckSpec {
                    target: Some("192.0.2.9".into()),
                    ..LunaMonitorCheckSpec::new("once", "icmp")
                },
            ),
            "monitor/check-add",
            3,
        )
        .await;
    world.ready::<LunaMonitorCheck>("once").await;
    let names: Vec<String> = checks_of(&world.sim)
        .await
        .into_iter()
        .map(|(name, _, _)| name)
        .collect();
    assert_eq!(names, ["once", "web"]);

    // No phone number anywhere the operator shows things.
    let resources = [kube::api::ApiResource::erase::<LunaMonitorContact>(&())];
    let shown = support::secrets::shown_by_operator(
        &world.client,
        &[world.ns.clone()],
        &resources,
        world.operator(),
    )
    .await;
    let secrets = vec![
        ("number".to_owned(), PHONE.to_owned()),
        ("new number".to_owned(), NEW_PHONE.to_owned()),
    ];
    let leaks = support::secrets::find_secrets(&shown, &secrets);
    assert!(leaks.is_empty(), "{leaks:?}");

    for name in ["web", "bad", "once"] {
        world.delete::<LunaMonitorCheck>(name).await;
    }
    for name in ["ops", "pager"] {
        world.delete::<LunaMonitorContact>(name).await;
    }
    for name in ["web", "bad", "once"] {
        world.gone::<LunaMonitorCheck>(name).await;
    }
    for name in ["ops", "pager"] {
        world.gone::<LunaMonitorContact>(name).await;
    }
    assert!(checks_of(&world.sim).await.is_empty(), "no check left");
    assert!(
        world.sim.objects("contacts").await.is_empty(),
        "no contact left"
    );
    world.delete::<LunaVM>("web").await;
}

/// The simulator's checks: (name, target, port).
async fn checks_of(sim: &support::processes::Simulator) -> Vec<(String, String, String)> {
    let mut found: Vec<_> = sim
        .objects("checks")
        .await
        .iter()
        .map(|check| {
            let data = &check["data"];
            let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
            (
                text(&check["name"]),
                text(&data["target"]),
                text(&data["port"]),
            )
        })
        .collect();
    found.sort();
    found
}
