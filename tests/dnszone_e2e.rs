//! LunaDnsZone and LunaDynamicRecord end to end: the real control plane, the simulator and the operator as separate
//! processes, one namespace, simulator and operator per test. The assertions are on the
//! simulator's per-action call counts (`dns2/record-add`, ...) and on its state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use kube::{
    Api, ResourceExt,
    api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams},
};
use lunanode_operator::{
    api::{
        common::{
            DeletionPolicy, ImportSpec, LocalObjectReference, ManagementPolicy, is_condition_true,
        },
        dnszone::{DnsApi, DnsRecordSpec, DnsRecordType, LunaDnsZone, LunaDnsZoneSpec},
        dynamicrecord::{LunaDynamicRecord, LunaDynamicRecordSpec},
        floating::{LunaFloatingIP, LunaFloatingIPSpec},
        vm::{LunaVM, LunaVMSpec},
    },
    lunanode::types::DnsRecordAdd,
};
use serde_json::{Value, json};
use support::{World, processes::Simulator, processes::test_account, wait::condition};

const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const WAIT: Duration = support::wait::WAIT;

fn zone(name: &str, spec: LunaDnsZoneSpec) -> LunaDnsZone {
    LunaDnsZone::new(name, spec)
}

fn record(name: &str, kind: DnsRecordType, data: &str) -> DnsRecordSpec {
    DnsRecordSpec::data(name, kind, data)
}

/// Every zone the simulator holds (from `/_sim/state`), whatever the account.
async fn sim_zones(sim: &Simulator) -> Vec<Value> {
    let state = sim.state().await;
    let mut found = Vec::new();
    for account in state["accounts"]
        .as_object()
        .into_iter()
        .flat_map(|a| a.values())
    {
        match &account["zones"] {
            Value::Object(zones) => found.extend(zones.values().cloned()),
            Value::Array(zones) => found.extend(zones.iter().cloned()),
            _ => {}
        }
    }
    found
}

/// The records of the zone `id` in the simulator.
async fn sim_records(sim: &Simulator, id: &str) -> Vec<Value> {
    let zones = sim_zones(sim).await;
    let zone = zones
        .iter()
        .find(|zone| zone["id"] == id)
        .unwrap_or_else(|| panic!("zone {id} in the simulator: {zones:?}"));
    match &zone["records"] {
        Value::Object(records) => records.values().cloned().collect(),
        Value::Array(records) => records.clone(),
        _ => Vec::new(),
    }
}

fn has_record(records: &[Value], name: &str, kind: &str, data: &str) -> bool {
    records
        .iter()
        .any(|r| r["name"] == name && r["type"] == kind && r["data"] == data)
}

/// 40 A records and 10 of the other types: 50 distinct records, every type the API accepts.
fn fifty_records() -> Vec<DnsRecordSpec> {
    use DnsRecordType::*;
    let mut records: Vec<DnsRecordSpec> = (0..40)
        .map(|i| record(&format!("host-{i}"), A, &format!("192.0.2.{}", i + 1)))
        .collect();
    records.extend([
        record("v6", AAAA, "2001:db8::10"),
        record("alias", CNAME, "host-0.fifty.example."),
        record("box", HINFO, "\"x86_64\" \"Linux\""),
        record("@", MX, "10 host-1.fifty.example."),
        record(
            "@",
            NAPTR,
            "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .",
        ),
        record("sub", NS, "ns1.example.net."),
        record("7", PTR, "host-7.fifty.example."),
        record("@", RP, "admin.fifty.example. info.fifty.example."),
        record("_sip._tcp", SRV, "10 5 5060 host-2.fifty.example."),
        record("@", TXT, "v=spf1 -all"),
    ]);
    records
}

#[tokio::test]
async fn fifty_records_cost_fifty_adds_then_nothing_and_an_edit_one_remove_one_add() {
    let world = World::start("dns", 'a').await;
    let mut spec = LunaDnsZoneSpec::new("fifty.example.");
    spec.records = fifty_records();
    world.create(&zone("fifty", spec)).await;
    let ready = world.ready::<LunaDnsZone>("fifty").await;
    let status = ready.status.clone().unwrap();
    let id = status.managed.id.clone().expect("status.id");

    // Converged with exactly one zone-add and 50 record-adds.
    assert_eq!(world.sim.calls("dns2/zone-add").await, 1);
    assert_eq!(world.sim.calls("dns2/record-add").await, 50);
    assert_eq!(world.sim.calls("dns2/record-remove").await, 0);
    let records = sim_records(&world.sim, &id).await;
    assert_eq!(records.len(), 50, "{records:?}");
    assert!(has_record(&records, "host-39", "A", "192.0.2.40"));
    assert!(has_record(
        &records,
        "_sip._tcp",
        "SRV",
        "10 5 5060 host-2.fifty.example."
    ));
    // The status names the ID of each record the operator created.
    let mut owned: Vec<String> = status.records.iter().map(|r| r.id.clone()).collect();
    let mut in_sim: Vec<String> = records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    owned.sort();
    in_sim.sort();
    assert_eq!(owned, in_sim);
    let counts = status.counts.clone().unwrap();
    assert_eq!(
        (counts.desired, counts.managed, counts.external),
        (50, 50, 0)
    );
    assert!(
        ready
            .finalizers()
            .iter()
            .any(|f| f == "lunadnszones.lunanode.com/cleanup")
    );

    // Steady state: reconciles (here forced by label changes) cost no record call at all.
    let lists_before = world.sim.calls("dns2/record-list").await;
    for poke in 0..5 {
        world
            .api::<LunaDnsZone>()
            .patch(
                "fifty",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"poke": poke.to_string()}}})),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert_eq!(
        world.sim.calls("dns2/record-add").await,
        50,
        "no add in steady state"
    );
    assert_eq!(world.sim.calls("dns2/record-remove").await, 0);
    assert_eq!(world.sim.calls("dns2/zone-add").await, 1);
    let lists = world.sim.calls("dns2/record-list").await - lists_before;
    eprintln!(
        "50 records: {} record-add, {lists_before} record-list until then, {lists} record-list over 5 steady reconciles",
        world.sim.calls("dns2/record-add").await,
    );
    assert!(
        lists <= 1,
        "the records are not read on every reconcile: {lists} lists"
    );

    // Editing one record: one remove and one add.
    let mut records_spec = fifty_records();
    records_spec[7].data = Some("198.51.100.7".into());
    world
        .patch_spec::<LunaDnsZone>("fifty", json!({"records": records_spec}))
        .await;
    let edited = world.ready::<LunaDnsZone>("fifty").await;
    assert_eq!(world.sim.calls("dns2/record-add").await, 51);
    assert_eq!(world.sim.calls("dns2/record-remove").await, 1);
    eprintln!(
        "edit of one record: record-add 50 -> 51, record-remove 0 -> 1, record-list total {}",
        world.sim.calls("dns2/record-list").await
    );
    let records = sim_records(&world.sim, &id).await;
    assert_eq!(records.len(), 50);
    assert!(has_record(&records, "host-7", "A", "198.51.100.7"));
    assert!(!has_record(&records, "host-7", "A", "192.0.2.8"));
    let kept = edited
        .status
        .unwrap()
        .records
        .iter()
        .filter(|r| owned.contains(&r.id))
        .count();
    assert_eq!(kept, 49, "the other records keep their IDs");

    // The zone is create-only where it must be.
    let error = world
        .api::<LunaDnsZone>()
        .patch(
            "fifty",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"origin": "other.example."}})),
        )
        .await
        .expect_err("origin change rejected");
    assert!(error.to_string().contains("origin is immutable"), "{error}");

    // Deleting everything leaves nothing in the simulator.
    world.delete::<LunaDnsZone>("fifty").await;
    world.gone::<LunaDnsZone>("fifty").await;
    assert!(sim_zones(&world.sim).await.is_empty(), "no zone left");
    assert_eq!(world.sim.calls("dns2/zone-remove").await, 1);
    assert!(
        !world.operator().logs().contains(&test_account('a').1),
        "the key never appears in logs"
    );
}

#[tokio::test]
async fn records_made_outside_survive_unless_prune_is_true() {
    let world = World::start("dns", 'b').await;
    let mut spec = LunaDnsZoneSpec::new("outside.example");
    spec.records = vec![
        record("www", DnsRecordType::A, "192.0.2.1"),
        record("@", DnsRecordType::TXT, "owned by the operator"),
    ];
    world.create(&zone("outside", spec.clone())).await;
    let ready = world.ready::<LunaDnsZone>("outside").await;
    let id = ready.status.unwrap().managed.id.unwrap();

    // Someone adds a record by hand.
    let manual = DnsRecordAdd {
        zone_id: id.clone(),
        name: "manual".into(),
        record_type: "A".into(),
        data: "203.0.113.5".into(),
        ttl: 600,
        extra: Vec::new(),
    };
    world.cloud().dns2_record_add(&manual).await.unwrap();

    // A spec change makes the operator read the zone and write: the manual record stays.
    spec.records
        .push(record("api", DnsRecordType::A, "192.0.2.2"));
    world
        .patch_spec::<LunaDnsZone>("outside", json!({"records": spec.records}))
        .await;
    let ready = world.ready::<LunaDnsZone>("outside").await;
    let records = sim_records(&world.sim, &id).await;
    assert!(
        has_record(&records, "manual", "A", "203.0.113.5"),
        "{records:?}"
    );
    assert!(has_record(&records, "api", "A", "192.0.2.2"));
    assert_eq!(world.sim.calls("dns2/record-remove").await, 0);
    assert_eq!(ready.status.unwrap().counts.unwrap().external, 1);

    // prune: true hands the whole zone to the operator: the manual record goes, nothing else.
    world
        .patch_spec::<LunaDnsZone>("outside", json!({"prune": true}))
        .await;
    let sim = &world.sim;
    let id_ref = &id;
    support::eventually(WAIT, "the manual record pruned", || async move {
        let records = sim_records(sim, id_ref).await;
        (!has_record(&records, "manual", "A", "203.0.113.5")).then_some(())
    })
    .await;
    let pruned = world.ready::<LunaDnsZone>("outside").await;
    assert_eq!(world.sim.calls("dns2/record-remove").await, 1);
    assert_eq!(sim_records(&world.sim, &id).await.len(), 3);
    assert_eq!(pruned.status.unwrap().counts.unwrap().external, 0);

    // Back to prune: false, a new manual record: deleting the LunaDnsZone removes the
    // operator's records but keeps the zone, which is not the operator's alone.
    world
        .patch_spec::<LunaDnsZone>("outside", json!({"prune": false}))
        .await;
    world.ready::<LunaDnsZone>("outside").await;
    world.cloud().dns2_record_add(&manual).await.unwrap();
    world.delete::<LunaDnsZone>("outside").await;
    world.gone::<LunaDnsZone>("outside").await;
    let zones = sim_zones(&world.sim).await;
    assert_eq!(zones.len(), 1, "the zone is kept: {zones:?}");
    let records = sim_records(&world.sim, &id).await;
    assert_eq!(
        records.len(),
        1,
        "only the manual record is left: {records:?}"
    );
    assert!(has_record(&records, "manual", "A", "203.0.113.5"));
    assert_eq!(world.sim.calls("dns2/zone-remove").await, 0);
}

#[tokio::test]
async fn a_vm_ref_record_waits_for_the_ip_then_follows_it() {
    let world = World::start("dns", 'c').await;
    let mut spec = LunaDnsZoneSpec::new("vm.example.");
    spec.records = vec![
        DnsRecordSpec::vm("www", "web"),
        record("static", DnsRecordType::A, "192.0.2.1"),
    ];
    world.create(&zone("site", spec)).await;

    // No LunaVM yet: the static record is created, the other waits with a condition.
    let waiting = world
        .until::<LunaDnsZone>("site", "WaitingForReferences with an id", |zone| {
            condition(zone, "Ready").is_some_and(|ready| ready.reason == "WaitingForReferences")
                && zone
                    .status
                    .as_ref()
                    .is_some_and(|status| status.managed.id.is_some())
        })
        .await;
    let message = condition(&waiting, "Ready").unwrap().message.clone();
    assert!(
        message.contains("LunaVM") && message.contains("web"),
        "{message}"
    );
    let id = waiting.status.unwrap().managed.id.unwrap();
    let sim = &world.sim;
    let id_ref = &id;
    support::eventually(WAIT, "the static record", || async move {
        let records = sim_records(sim, id_ref).await;
        (records.len() == 1 && has_record(&records, "static", "A", "192.0.2.1")).then_some(())
    })
    .await;

    // The VM comes: the record gets its IP.
    world
        .create(&LunaVM::new("web", LunaVMSpec::new("web", "m.1", IMAGE)))
        .await;
    world.ready::<LunaDnsZone>("site").await;
    let vm = world.api::<LunaVM>().get("web").await.unwrap();
    let first_ip = support::public_ip(&vm);
    let records = sim_records(&world.sim, &id).await;
    assert!(has_record(&records, "www", "A", &first_ip), "{records:?}");
    assert_eq!(world.sim.calls("dns2/record-add").await, 2);

    // The VM's public IP changes (a second floating IP, then the first one detached).
    let vm_id = world
        .api::<LunaVM>()
        .get("web")
        .await
        .unwrap()
        .status
        .unwrap()
        .managed
        .id
        .unwrap();
    let second = world.cloud().floating_add("toronto").await.unwrap().ip;
    world
        .cloud()
        .vm_floatingip_add(&vm_id, Some(&second), None)
        .await
        .unwrap();
    world
        .cloud()
        .vm_floatingip_delete(&vm_id, Some(&first_ip), true)
        .await
        .unwrap();
    let second_ref = &second;
    let first_ref = &first_ip;
    support::eventually(WAIT, "the record follows the VM", || async move {
        let records = sim_records(sim, id_ref).await;
        (has_record(&records, "www", "A", second_ref)
            && !has_record(&records, "www", "A", first_ref))
        .then_some(())
    })
    .await;
    world.ready::<LunaDnsZone>("site").await;
    assert_eq!(world.sim.calls("dns2/record-add").await, 3);
    assert_eq!(world.sim.calls("dns2/record-remove").await, 1);
    assert_eq!(sim_records(&world.sim, &id).await.len(), 2);

    world.delete::<LunaDnsZone>("site").await;
    world.delete::<LunaVM>("web").await;
    world.gone::<LunaDnsZone>("site").await;
    assert!(sim_zones(&world.sim).await.is_empty());
}

#[tokio::test]
async fn import_adopts_a_zone_and_takes_over_identical_records() {
    let world = World::start("dns", 'd').await;
    // A zone made outside the operator, with one record the spec lists and one it does not.
    let id = world
        .cloud()
        .dns2_zone_add("imported.example", Some(3600))
        .await
        .unwrap()
        .expect("a zone ID");
    for (name, kind, data) in [("www", "A", "192.0.2.1"), ("legacy", "TXT", "keep me")] {
        world
            .cloud()
            .dns2_record_add(&DnsRecordAdd {
                zone_id: id.clone(),
                name: name.into(),
                record_type: kind.into(),
                data: data.into(),
                ttl: 3600,
                extra: Vec::new(),
            })
            .await
            .unwrap();
    }
    let www_id = world
        .cloud()
        .dns2_record_list(&id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "www")
        .unwrap()
        .id;

    let mut spec = LunaDnsZoneSpec::new("imported.example.");
    spec.managed.import = Some(ImportSpec {
        id: Some(id.clone()),
    });
    spec.managed.deletion_policy = DeletionPolicy::Orphan;
    spec.records = vec![
        record("www", DnsRecordType::A, "192.0.2.1"),
        record("api", DnsRecordType::A, "192.0.2.2"),
    ];
    world.create(&zone("imported", spec)).await;
    let ready = world.ready::<LunaDnsZone>("imported").await;
    let status = ready.status.unwrap();
    assert_eq!(status.managed.id.as_deref(), Some(id.as_str()));
    assert_eq!(
        world.sim.calls("dns2/zone-add").await,
        1,
        "only the test's own"
    );
    // The test added 2; the operator added only `api`: `www` was there already.
    assert_eq!(world.sim.calls("dns2/record-add").await, 3);
    assert!(
        status.records.iter().any(|r| r.id == www_id),
        "the identical record is taken over: {:?}",
        status.records
    );
    assert_eq!(status.counts.unwrap().external, 1);

    // Orphan: deleting the object touches nothing.
    world.delete::<LunaDnsZone>("imported").await;
    world.gone::<LunaDnsZone>("imported").await;
    assert_eq!(world.sim.calls("dns2/record-remove").await, 0);
    assert_eq!(world.sim.calls("dns2/zone-remove").await, 0);
    assert_eq!(sim_records(&world.sim, &id).await.len(), 3);

    // ObserveOnly reports the zone and never writes, whatever the spec lists.
    let mut spec = LunaDnsZoneSpec::new("imported.example.");
    spec.managed.import = Some(ImportSpec {
        id: Some(id.clone()),
    });
    spec.managed.management_policy = ManagementPolicy::ObserveOnly;
    spec.prune = true;
    spec.records = vec![record("new", DnsRecordType::A, "192.0.2.50")];
    world.create(&zone("watcher", spec)).await;
    let observed = world.ready::<LunaDnsZone>("watcher").await;
    assert_eq!(
        observed.status.unwrap().managed.id.as_deref(),
        Some(id.as_str())
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    world.delete::<LunaDnsZone>("watcher").await;
    world.gone::<LunaDnsZone>("watcher").await;
    assert_eq!(world.sim.calls("dns2/record-add").await, 3, "no write");
    assert_eq!(world.sim.calls("dns2/record-remove").await, 0);
    assert_eq!(world.sim.calls("dns2/zone-remove").await, 0);
    assert_eq!(sim_records(&world.sim, &id).await.len(), 3);
}

#[tokio::test]
async fn lost_add_answers_and_a_crash_make_no_duplicate_records() {
    let world = World::start("dns", 'e').await;
    // Every zone and record add is committed, then its answer is dropped.
    world
        .sim
        .admin_post(
            "faults",
            json!({
                "drop_after_commit_rate": 1.0,
                "actions": ["dns2/zone-add", "dns2/record-add"],
                "timeout_ms": 2000,
            }),
        )
        .await;
    let mut spec = LunaDnsZoneSpec::new("lossy.example.");
    spec.records = (1..=5)
        .map(|i| record(&format!("h{i}"), DnsRecordType::A, &format!("192.0.2.{i}")))
        .collect();
    world.create(&zone("lossy", spec)).await;
    let sim = &world.sim;
    support::eventually(WAIT, "two add attempts", || async move {
        (sim.calls("dns2/record-add").await >= 2).then_some(())
    })
    .await;
    let mut world = world;
    world.operator_mut().restart();
    world.sim.admin_post("faults", json!({})).await;
    let ready = world.ready::<LunaDnsZone>("lossy").await;
    let status = ready.status.unwrap();
    let records = sim_records(&world.sim, status.managed.id.as_deref().unwrap()).await;
    assert_eq!(
        records.len(),
        5,
        "no duplicate despite the lost answers: {records:?}"
    );
    assert_eq!(status.records.len(), 5);
    assert_eq!(sim_zones(&world.sim).await.len(), 1, "one zone");
    assert_eq!(
        world.sim.calls("dns2/zone-add").await,
        1,
        "the lost zone create is found, not repeated"
    );
}

#[tokio::test]
async fn a_lost_add_answer_behind_a_lagging_list_is_not_added_again() {
    let world = World::start("dns", 'l').await;
    let mut spec = LunaDnsZoneSpec::new("lagging.example.");
    spec.records = vec![record("a", DnsRecordType::A, "192.0.2.1")];
    world.create(&zone("lagging", spec.clone())).await;
    let id = world
        .ready::<LunaDnsZone>("lagging")
        .await
        .status
        .unwrap()
        .managed
        .id
        .unwrap();
    // Every add is made but its answer lost, and the lists fall twelve seconds (less than the
    // settle span) behind new records: for a while no list shows the record the operator
    // does not know it made, however many it reads.
    world
        .sim
        .admin_post(
            "faults",
            json!({
                "drop_after_commit_rate": 1.0,
                "actions": ["dns2/record-add"],
                "list_lag_seconds": 12,
            }),
        )
        .await;
    let adds = world.sim.calls("dns2/record-add").await;
    spec.records
        .push(record("b", DnsRecordType::A, "192.0.2.2"));
    world
        .patch_spec::<LunaDnsZone>("lagging", json!({"records": spec.records}))
        .await;
    world
        .until::<LunaDnsZone>("lagging", "both records held", |zone| {
            zone.status
                .as_ref()
                .is_some_and(|status| status.records.len() == 2)
        })
        .await;
    let records = sim_records(&world.sim, &id).await;
    let named_b = records
        .iter()
        .filter(|record| record["name"] == "b")
        .count();
    assert_eq!(
        named_b, 1,
        "one record b, not a second behind the lagging lists: {records:?}"
    );
    assert_eq!(world.sim.calls("dns2/record-add").await, adds + 1);
}

#[tokio::test]
async fn the_older_dns_form_works_the_same_way() {
    let world = World::start("dns", 'f').await;
    let mut spec = LunaDnsZoneSpec::new("legacy.example.");
    spec.api = DnsApi::Dns;
    spec.records = vec![
        record("www", DnsRecordType::A, "192.0.2.1"),
        record("@", DnsRecordType::MX, "10 mail.legacy.example."),
        record("mail", DnsRecordType::A, "192.0.2.2"),
    ];
    world.create(&zone("legacy", spec.clone())).await;
    let ready = world.ready::<LunaDnsZone>("legacy").await;
    assert_eq!(world.sim.calls("dns/zone-add").await, 1);
    assert_eq!(world.sim.calls("dns/record-add").await, 3);
    assert_eq!(world.sim.calls("dns2/record-add").await, 0);
    assert_eq!(world.sim.calls("dns2/zone-add").await, 0);
    let id = ready.status.unwrap().managed.id.unwrap();

    spec.records[0].ttl = Some(300);
    world
        .patch_spec::<LunaDnsZone>("legacy", json!({"records": spec.records}))
        .await;
    world.ready::<LunaDnsZone>("legacy").await;
    assert_eq!(world.sim.calls("dns/record-remove").await, 1);
    assert_eq!(world.sim.calls("dns/record-add").await, 4);
    let records = sim_records(&world.sim, &id).await;
    assert!(
        records
            .iter()
            .any(|r| r["name"] == "www" && r["ttl"] == 300),
        "{records:?}"
    );

    let error = world
        .api::<LunaDnsZone>()
        .patch(
            "legacy",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"api": "Dns2"}})),
        )
        .await
        .expect_err("api change rejected");
    assert!(error.to_string().contains("api is immutable"), "{error}");

    world.delete::<LunaDnsZone>("legacy").await;
    world.gone::<LunaDnsZone>("legacy").await;
    assert_eq!(world.sim.calls("dns/zone-remove").await, 1);
    assert!(sim_zones(&world.sim).await.is_empty());
}

#[tokio::test]
async fn the_apiserver_checks_each_record_type() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "dns-cel").await;
    // Untyped, so that values the Rust types refuse still reach the API server.
    let zones: Api<DynamicObject> =
        Api::namespaced_with(client, &ns, &ApiResource::erase::<LunaDnsZone>(&()));
    let create = |name: &'static str, records: Value| {
        let zones = zones.clone();
        async move {
            let object: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "lunanode.com/v1alpha1",
                "kind": "LunaDnsZone",
                "metadata": {"name": name},
                "spec": {"origin": "cel.example.", "records": records},
            }))
            .unwrap();
            zones
                .create(&PostParams::default(), &object)
                .await
                .map(drop)
        }
    };
    for (name, records, needle) in [
        (
            "bad-a",
            json!([{"name": "www", "type": "A", "data": "300.1.1.1"}]),
            "an A record's data is an IPv4 address",
        ),
        (
            "bad-aaaa",
            json!([{"name": "www", "type": "AAAA", "data": "192.0.2.1"}]),
            "an AAAA record's data is an IPv6 address",
        ),
        (
            "two-sources",
            json!([{"name": "www", "type": "A", "data": "192.0.2.1", "vmRef": {"name": "web"}}]),
            "set exactly one of data, vmRef and floatingIPRef",
        ),
        (
            "no-source",
            json!([{"name": "www", "type": "A"}]),
            "set exactly one of data, vmRef and floatingIPRef",
        ),
        (
            "ref-txt",
            json!([{"name": "www", "type": "TXT", "vmRef": {"name": "web"}}]),
            "use them with type A",
        ),
        (
            "apex-cname",
            json!([{"name": "@", "type": "CNAME", "data": "other.example."}]),
            "a CNAME cannot be at the apex",
        ),
        (
            "bad-cname",
            json!([{"name": "www", "type": "CNAME", "data": "not a host"}]),
            "a CNAME, NS or PTR record's data is a host name",
        ),
        (
            "bad-mx",
            json!([{"name": "@", "type": "MX", "data": "mail.example.com."}]),
            "an MX record's data is '<priority> <host>'",
        ),
        (
            "bad-srv",
            json!([{"name": "_sip._tcp", "type": "SRV", "data": "5060 sip.example.com."}]),
            "an SRV record's data is",
        ),
        (
            "bad-hinfo",
            json!([{"name": "box", "type": "HINFO", "data": "x86_64"}]),
            "an HINFO record's data is",
        ),
        (
            "bad-rp",
            json!([{"name": "@", "type": "RP", "data": "admin.example.com."}]),
            "an RP record's data is",
        ),
        (
            "bad-naptr",
            json!([{"name": "@", "type": "NAPTR", "data": "100 10 U E2U+sip . ."}]),
            "an NAPTR record's data is",
        ),
        (
            "bad-type",
            json!([{"name": "www", "type": "SOA", "data": "x"}]),
            "spec.records[0].type",
        ),
        (
            "short-ttl",
            json!([{"name": "www", "type": "A", "data": "192.0.2.1", "ttl": 5}]),
            "spec.records[0].ttl",
        ),
        (
            "absolute-name",
            json!([{"name": "www.cel.example.", "type": "A", "data": "192.0.2.1"}]),
            "spec.records[0].name",
        ),
        (
            "control-character",
            json!([{"name": "@", "type": "TXT", "data": "a\u{1}b"}]),
            "spec.records[0].data",
        ),
    ] {
        match create(name, records).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{name}: {status:?}");
                assert!(
                    status.message.contains(needle),
                    "{name}: expected {needle:?} in: {}",
                    status.message
                );
            }
            other => panic!("{name}: expected a validation error ({needle}), got {other:?}"),
        }
    }
    // One valid record of every type, and references, are accepted.
    let mut valid: Vec<Value> = fifty_records()
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    valid.push(json!({"name": "ip", "type": "A", "floatingIPRef": {"name": "fip"}}));
    valid.push(json!({"name": "*", "type": "A", "vmRef": {"name": "web"}, "ttl": 60}));
    create("valid", Value::Array(valid))
        .await
        .expect("valid records are accepted");
}

#[tokio::test]
async fn a_record_removed_outside_comes_back_on_the_next_read() {
    let world = World::start("dns", 'g').await;
    let mut spec = LunaDnsZoneSpec::new("drift.example.");
    spec.records = vec![
        record("www", DnsRecordType::A, "192.0.2.1"),
        record("api", DnsRecordType::A, "192.0.2.2"),
    ];
    world.create(&zone("drift", spec)).await;
    let ready = world.ready::<LunaDnsZone>("drift").await;
    let status = ready.status.unwrap();
    let id = status.managed.id.unwrap();
    let www = status
        .records
        .iter()
        .find(|r| r.name == "www")
        .unwrap()
        .id
        .clone();

    // Someone deletes the operator's record; a requested reconcile reads the zone again.
    world.cloud().dns2_record_remove(&id, &www).await.unwrap();
    world
        .api::<LunaDnsZone>()
        .patch(
            "drift",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "lunanode.com/reconcile-requested-at": "2030-01-01T00:00:00Z"
            }}})),
        )
        .await
        .unwrap();
    let sim = &world.sim;
    let id_ref = &id;
    support::eventually(WAIT, "www added again", || async move {
        let records = sim_records(sim, id_ref).await;
        (records.len() == 2 && has_record(&records, "www", "A", "192.0.2.1")).then_some(())
    })
    .await;
    assert_eq!(world.sim.calls("dns2/record-add").await, 3);
    // The status follows the add (its write can come a moment after the simulator shows the
    // record): the request acknowledged, Ready, and www held under its new ID.
    let again = world
        .until::<LunaDnsZone>("drift", "the new www held", |zone| {
            zone.status.as_ref().is_some_and(|status| {
                status.managed.last_reconcile_request.as_deref() == Some("2030-01-01T00:00:00Z")
                    && is_condition_true(&status.managed.conditions, "Ready")
                    && status
                        .records
                        .iter()
                        .any(|record| record.name == "www" && record.id != www)
            })
        })
        .await
        .status
        .unwrap();
    assert_eq!(again.records.len(), 2, "{:?}", again.records);
}

#[tokio::test]
async fn a_record_the_api_refuses_is_reported_without_a_hot_loop() {
    let world = World::start("dns", 'h').await;
    let mut spec = LunaDnsZoneSpec::new("refused.example.");
    // Nine groups: the schema's quick check lets it through, the API refuses it.
    spec.records = vec![
        record("ok", DnsRecordType::A, "192.0.2.1"),
        record("v6", DnsRecordType::AAAA, "1:2:3:4:5:6:7::8:9"),
    ];
    world.create(&zone("refused", spec.clone())).await;
    let refused = world
        .until::<LunaDnsZone>("refused", "Synced=False RecordRejected", |zone| {
            condition(zone, "Synced")
                .is_some_and(|synced| synced.status == "False" && synced.reason == "RecordRejected")
        })
        .await;
    let message = condition(&refused, "Synced").unwrap().message.clone();
    assert!(message.contains("v6 AAAA 1:2:3:4:5:6:7::8:9"), "{message}");
    assert!(message.contains("invalid"), "the API's message: {message}");
    assert_eq!(
        condition(&refused, "Ready").unwrap().reason,
        "RecordRejected"
    );
    let status = refused.status.unwrap();
    assert_eq!(status.records.len(), 1, "the valid record is created");
    assert_eq!(status.counts.unwrap().rejected, 1);

    // No retry loop while the spec stays the same. Proof that the operator looked again: a
    // change that is not a spec change (an annotation) is reconciled, twice, and neither
    // reconcile sends the refused record again.
    let adds = world.sim.calls("dns2/record-add").await;
    assert_eq!(adds, 2);
    for poke in ["1", "2"] {
        world.looked_again::<LunaDnsZone>("refused", poke).await;
    }
    assert_eq!(
        world.sim.calls("dns2/record-add").await,
        adds,
        "no hot loop"
    );

    // Fixing the spec fixes the zone.
    spec.records[1].data = Some("2001:db8::9".into());
    world
        .patch_spec::<LunaDnsZone>("refused", json!({"records": spec.records}))
        .await;
    let fixed = world.ready::<LunaDnsZone>("refused").await;
    assert!(is_condition_true(
        &fixed.status.as_ref().unwrap().managed.conditions,
        "Synced"
    ));
    assert_eq!(world.sim.calls("dns2/record-add").await, adds + 1);
}

#[tokio::test]
async fn a_floating_ip_ref_record_uses_the_address() {
    let world = World::start("dns", 'i').await;
    let mut spec = LunaDnsZoneSpec::new("fip.example.");
    spec.records = vec![DnsRecordSpec {
        name: "ip".into(),
        record_type: DnsRecordType::A,
        data: None,
        vm_ref: None,
        floating_ip_ref: Some(LocalObjectReference::new("fip")),
        ttl: None,
    }];
    world.create(&zone("fip", spec)).await;
    world
        .until::<LunaDnsZone>("fip", "waiting for the floating IP", |zone| {
            condition(zone, "Ready").is_some_and(|ready| {
                ready.reason == "WaitingForReferences" && ready.message.contains("LunaFloatingIP")
            })
        })
        .await;

    // The LunaFloatingIP controller allocates the address; the record takes it.
    let address = allocate(&world).await;
    let ready = world.ready::<LunaDnsZone>("fip").await;
    let id = ready.status.unwrap().managed.id.unwrap();
    let records = sim_records(&world.sim, &id).await;
    assert!(has_record(&records, "ip", "A", &address), "{records:?}");
    assert_eq!(world.sim.calls("dns2/record-remove").await, 0);

    // The LunaFloatingIP is replaced by one of the same name, with another address: the record
    // follows it (the LunaFloatingIP watch wakes the zone), one remove and one add.
    world.delete::<LunaFloatingIP>("fip").await;
    world.gone::<LunaFloatingIP>("fip").await;
    let replaced = allocate(&world).await;
    assert_ne!(replaced, address, "the simulator hands out another address");
    let sim = &world.sim;
    let id_ref = &id;
    let wanted = &replaced;
    support::eventually(WAIT, "the record follows the address", || async move {
        let records = sim_records(sim, id_ref).await;
        (records.len() == 1 && has_record(&records, "ip", "A", wanted)).then_some(())
    })
    .await;
    assert_eq!(world.sim.calls("dns2/record-remove").await, 1);
}

/// Creates the LunaFloatingIP `fip` and returns the address its controller allocates.
async fn allocate(world: &World) -> String {
    world
        .create(&LunaFloatingIP::new("fip", LunaFloatingIPSpec::new()))
        .await;
    world
        .until::<LunaFloatingIP>("fip", "an address", |ip| {
            ip.status.as_ref().is_some_and(|s| s.address.is_some())
        })
        .await
        .status
        .and_then(|s| s.address)
        .unwrap()
}

/// The dynamic DNS entries the simulator holds: (name, address), sorted.
async fn dyn_entries(sim: &Simulator) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = sim
        .objects("dyns")
        .await
        .iter()
        .map(|entry| {
            (
                entry["name"].as_str().unwrap_or_default().to_owned(),
                entry["ip"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    entries.sort();
    entries
}

#[tokio::test]
async fn dynamic_names_follow_their_address_by_difference_and_a_lost_add_makes_one() {
    let mut world = World::start("dns", 'j').await;
    let dynamic = |name: &str, spec| LunaDynamicRecord::new(name, spec);
    world
        .create(&dynamic(
            "home",
            LunaDynamicRecordSpec::ip("home", [192, 0, 2, 7]),
        ))
        .await;
    // Its VM does not exist yet: it waits, and nothing is added for it.
    world
        .create(&dynamic("web", LunaDynamicRecordSpec::vm("web", "web")))
        .await;
    world.ready::<LunaDynamicRecord>("home").await;
    let waiting = world
        .until::<LunaDynamicRecord>("web", "Ready=False WaitingForVM", |record| {
            condition(record, "Ready").is_some_and(|ready| ready.reason == "WaitingForVM")
        })
        .await;
    assert!(waiting.status.unwrap().managed.id.is_none());
    assert_eq!(world.sim.calls("dns/dyn-add").await, 1);

    // The VM comes: the name gets its IP, then follows it.
    world
        .create(&LunaVM::new("web", LunaVMSpec::new("web", "m.1", IMAGE)))
        .await;
    let vm = world.ready::<LunaVM>("web").await;
    world.ready::<LunaDynamicRecord>("web").await;
    let first_ip = support::public_ip(&vm);
    assert_eq!(
        dyn_entries(&world.sim).await,
        [
            ("home".to_owned(), "192.0.2.7".to_owned()),
            ("web".to_owned(), first_ip.clone())
        ]
    );
    let vm_id = vm.status.unwrap().managed.id.unwrap();
    let second = world.cloud().floating_add("toronto").await.unwrap().ip;
    world
        .cloud()
        .vm_floatingip_add(&vm_id, Some(&second), None)
        .await
        .unwrap();
    world
        .cloud()
        .vm_floatingip_delete(&vm_id, Some(&first_ip), true)
        .await
        .unwrap();
    let sim = &world.sim;
    let second_ref = &second;
    support::eventually(WAIT, "the name follows the VM", || async move {
        dyn_entries(sim)
            .await
            .contains(&("web".to_owned(), second_ref.clone()))
            .then_some(())
    })
    .await;
    assert_eq!(world.sim.calls("dns/dyn-update").await, 1);

    // A new name and a new address: one update.
    world
        .patch_spec::<LunaDynamicRecord>("home", json!({"name": "house", "ip": "192.0.2.8"}))
        .await;
    support::eventually(WAIT, "renamed and moved", || async move {
        dyn_entries(sim)
            .await
            .contains(&("house".to_owned(), "192.0.2.8".to_owned()))
            .then_some(())
    })
    .await;
    world.ready::<LunaDynamicRecord>("home").await;
    assert_eq!(world.sim.calls("dns/dyn-update").await, 2);

    // A lost add answer and a crash: one entry.
    world
        .create_losing_answers(
            &dynamic("once", LunaDynamicRecordSpec::ip("once", [192, 0, 2, 9])),
            "dns/dyn-add",
            3,
        )
        .await;
    world.ready::<LunaDynamicRecord>("once").await;
    let names: Vec<String> = dyn_entries(&world.sim)
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["house", "once", "web"]);
    let reasons = world.event_reasons("once").await;
    assert!(
        reasons.iter().any(|reason| reason == "CreateRecovered"),
        "{reasons:?}"
    );

    for name in ["home", "web", "once"] {
        world.delete::<LunaDynamicRecord>(name).await;
    }
    for name in ["home", "web", "once"] {
        world.gone::<LunaDynamicRecord>(name).await;
    }
    assert_eq!(world.sim.calls("dns/dyn-remove").await, 3);
    assert!(dyn_entries(&world.sim).await.is_empty(), "nothing left");
}
