//! Chaos: many objects of every kind while the simulator injects latency, 5xx answers,
//! timeouts, commit-then-drop answers, list answers with entries left out (or none at all) and
//! throttling bursts, and the cloud misbehaves (VM builds that end in `ERROR`, slow VM
//! deletions, slow volume attaches, attaches refused while a VM cannot take one), and the
//! operator process is SIGKILLed and restarted at random moments.
//! Then the faults stop and the test checks that everything converged to Ready with exactly the
//! declared cloud objects (no duplicate). The storm starts again for the deletions: deleting
//! every manifest through faults and a crash leaves nothing. The API key (any 32 characters of
//! it) and the VM passwords appear in no log line, Event, status or metric; the operator did
//! handle the passwords, since the first VMs write them to their connection Secrets.
//!
//! The short form runs in the test command (`cargo test --test chaos`); set
//! `LUNANODE_CHAOS_SECONDS` (default 40) for a longer storm, `LUNANODE_CHAOS_SEED` to replay one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{collections::BTreeSet, time::Duration};

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Resource,
    api::{DeleteParams, ListParams, PostParams},
};
use lunanode_operator::api::{
    common::{ConnectionSecretRef, ManagedResource},
    dnszone::{DnsRecordSpec, DnsRecordType, LunaDnsZone, LunaDnsZoneSpec},
    floating::{LunaFloatingIP, LunaFloatingIPSpec},
    vm::{LunaVM, LunaVMSpec, OnError},
    volume::{LunaVolume, LunaVolumeSpec, VolumeAttachment},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::{
    World,
    processes::Simulator,
    secrets::{Shown, find_secrets, shown_by_operator},
    wait,
};

const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const VMS: usize = 50;
const VOLUMES: usize = 20;
const FLOATING_IPS: usize = 10;
/// VMs (the first ones) that write their connection Secret, password included.
const CONNECTED_VMS: usize = 10;
/// Records of the zone: one A record per VM of the first ten, and five TXT records.
const VM_RECORDS: usize = 10;
const TXT_RECORDS: usize = 5;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The storm: every kind of fault the simulator has, on every action.
fn storm(seed: u64, throttled: bool) -> Value {
    let mut faults = json!({
        "latency_ms": 20,
        "latency_jitter_ms": 80,
        "http_5xx_rate": 0.10,
        "timeout_rate": 0.05,
        "timeout_ms": 1500,
        "drop_after_commit_rate": 0.02,
        // Lists that lag behind or come back cut short: the objects exist, the answer lacks
        // some of them (or all).
        "list_omit_rate": 0.2,
        "list_empty_rate": 0.05,
        // New objects left out of the lists for a while (below the 15 s the operator waits out).
        "list_lag_seconds": 6,
        // Builds that fail: the VMs ask for a new one (onError: Recreate).
        "vm_build_error_rate": 0.05,
        // Deletions that take a while: the VM stays listed, being deleted.
        "vm_delete_seconds": 5,
        // Attach and detach that take a while, refused while the VM cannot take a volume.
        "volume_attach_seconds": 2,
        "vm_attach_rules": true,
        "seed": seed,
    });
    if throttled {
        faults["throttle_burst"] = json!({"per_second": 2.0, "burst": 4.0});
    }
    faults
}

async fn all<K>(api: &Api<K>) -> Vec<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default()).await.unwrap().items
}

/// `Kind/name: reason` for each object that is not Ready.
fn not_ready<K: ManagedResource>(kind: &str, objects: &[K]) -> Vec<String> {
    objects
        .iter()
        .filter(|object| !wait::is_ready(*object))
        .map(|object| {
            let reason = wait::condition(object, "Ready")
                .map_or("no Ready condition".to_owned(), |condition| {
                    condition.reason
                });
            format!(
                "{kind}/{}: {reason}",
                object.meta().name.as_deref().unwrap_or("?")
            )
        })
        .collect()
}

/// How many objects of each kind the simulator holds, against how many are declared.
async fn cloud_summary(sim: &Simulator) -> String {
    let zones = sim.objects("zones").await;
    let records: usize = zones
        .iter()
        .map(|zone| match &zone["records"] {
            Value::Object(map) => map.len(),
            Value::Array(items) => items.len(),
            _ => 0,
        })
        .sum();
    format!(
        "in the cloud: {} VMs (declared {VMS}), {} volumes (declared {VOLUMES}), {} floating IPs (declared {FLOATING_IPS}, plus one per VM), {} zones (declared 1) with {records} records (declared {})",
        sim.objects("vms").await.len(),
        sim.objects("volumes").await.len(),
        sim.objects("floating_ips").await.len(),
        zones.len(),
        VM_RECORDS + TXT_RECORDS
    )
}

#[tokio::test]
async fn converges_through_faults_and_crashes_with_no_duplicate_and_no_leak() {
    let seconds = env_u64("LUNANODE_CHAOS_SECONDS", 40);
    let seed = env_u64(
        "LUNANODE_CHAOS_SEED",
        rand::rng().random_range(1..u64::from(u32::MAX)),
    );
    println!("chaos: {seconds} s of faults, seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut world = World::setup("chaos", 'x')
        .sim_args(&["--build-seconds", "3"])
        .operator_args(&["--concurrency", "8"])
        .start()
        .await;
    let vms: Api<LunaVM> = world.api();
    let volumes: Api<LunaVolume> = world.api();
    let ips: Api<LunaFloatingIP> = world.api();
    let zones: Api<LunaDnsZone> = world.api();

    // The storm starts before the first manifest.
    world.sim.admin_post("faults", storm(seed, false)).await;
    for i in 0..VMS {
        let name = format!("chaos-{i:02}");
        let mut spec = LunaVMSpec::new(&name, "m.1", IMAGE);
        spec.on_error = OnError::Recreate;
        if i < CONNECTED_VMS {
            spec.write_connection_secret_to_ref = Some(ConnectionSecretRef {
                name: format!("{name}-connection"),
            });
        }
        vms.create(&PostParams::default(), &LunaVM::new(&name, spec))
            .await
            .unwrap();
    }
    for i in 0..VOLUMES {
        let mut spec = LunaVolumeSpec::new(format!("chaos-data-{i:02}"), 5 + i as i32);
        // Half of them attached to a VM by reference.
        if i % 2 == 0 {
            spec.attach_to = Some(VolumeAttachment::vm_ref(format!("chaos-{i:02}")));
        }
        volumes
            .create(
                &PostParams::default(),
                &LunaVolume::new(&format!("data-{i:02}"), spec),
            )
            .await
            .unwrap();
    }
    for i in 0..FLOATING_IPS {
        ips.create(
            &PostParams::default(),
            &LunaFloatingIP::new(&format!("ip-{i:02}"), LunaFloatingIPSpec::new()),
        )
        .await
        .unwrap();
    }

    let mut zone = LunaDnsZoneSpec::new("chaos.example.");
    zone.records = (0..VM_RECORDS)
        .map(|i| DnsRecordSpec::vm(format!("vm{i:02}"), format!("chaos-{i:02}")))
        .chain((0..TXT_RECORDS).map(|i| {
            DnsRecordSpec::data(format!("txt{i}"), DnsRecordType::TXT, format!("chaos {i}"))
        }))
        .collect();
    zones
        .create(&PostParams::default(), &LunaDnsZone::new("zone", zone))
        .await
        .unwrap();

    // Crashes at random moments while the faults go on; throttling comes in bursts.
    let started = std::time::Instant::now();
    let mut kills = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        let pause = rng.random_range(3_000..9_000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let throttled = rng.random_bool(0.3);
        world
            .sim
            .admin_post("faults", storm(rng.random(), throttled))
            .await;
        if rng.random_bool(0.6) {
            world.operator_mut().restart();
            kills += 1;
        }
    }
    world.sim.admin_post("faults", json!({})).await;
    let faulted = world.sim.admin_get("stats").await;
    println!(
        "chaos: {kills} SIGKILLs; {} API calls during the storm; list entries left out: {}, list answers emptied: {}, VM builds failed: {}",
        faulted["totals"]["calls"],
        faulted["faults"]["list_omit"].as_u64().unwrap_or(0),
        faulted["faults"]["list_empty"].as_u64().unwrap_or(0),
        faulted["faults"]["vm_build_error"].as_u64().unwrap_or(0)
    );

    // Everything converges. On a timeout, say which objects are stuck and why, and what the
    // cloud holds.
    let converged = wait::poll(
        Duration::from_secs(420),
        Duration::from_millis(500),
        async || {
            let mut pending = not_ready("LunaVM", &all(&vms).await);
            pending.extend(not_ready("LunaVolume", &all(&volumes).await));
            pending.extend(not_ready("LunaFloatingIP", &all(&ips).await));
            pending.extend(not_ready("LunaDnsZone", &all(&zones).await));
            if pending.is_empty() {
                Ok(())
            } else {
                Err(pending)
            }
        },
    )
    .await;
    if let Err(pending) = converged {
        println!("chaos: {}", cloud_summary(&world.sim).await);
        panic!(
            "timed out waiting for every object Ready: {} not Ready: {pending:#?}",
            pending.len()
        );
    }
    println!("chaos: {}", cloud_summary(&world.sim).await);

    // Exactly the declared objects: one cloud object per manifest, and the IDs match.
    let cloud_vms = world.sim.objects("vms").await;
    let cloud_volumes = world.sim.objects("volumes").await;
    let cloud_ips = world.sim.objects("floating_ips").await;
    let vm_ids: BTreeSet<String> = all(&vms)
        .await
        .iter()
        .map(|vm| vm.status_id().unwrap().to_owned())
        .collect();
    let cloud_vm_ids: BTreeSet<String> = cloud_vms
        .iter()
        .map(|vm| vm["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(cloud_vms.len(), VMS, "no duplicate VM");
    assert_eq!(vm_ids, cloud_vm_ids, "each LunaVM has its own VM");
    assert_eq!(cloud_volumes.len(), VOLUMES, "no duplicate volume");
    let volume_ids: BTreeSet<String> = all(&volumes)
        .await
        .iter()
        .map(|volume| volume.status_id().unwrap().to_owned())
        .collect();
    assert_eq!(volume_ids.len(), VOLUMES);
    for volume in all(&volumes).await {
        let index: usize = volume.metadata.name.as_deref().unwrap()[5..]
            .parse()
            .unwrap();
        let attached = volume.status.unwrap().at_provider.unwrap().attached_to;
        assert_eq!(attached.is_some(), index % 2 == 0, "data-{index:02}");
    }
    // Every VM has its own public address; the LunaFloatingIPs are the only unattached ones.
    let unattached: BTreeSet<String> = cloud_ips
        .iter()
        .filter(|ip| ip["attachment"]["type"] == "unattached")
        .map(|ip| ip["id"].as_str().unwrap().to_owned())
        .collect();
    let ip_ids: BTreeSet<String> = all(&ips)
        .await
        .iter()
        .map(|ip| ip.status_id().unwrap().to_owned())
        .collect();
    assert_eq!(ip_ids.len(), FLOATING_IPS);
    assert_eq!(unattached, ip_ids, "no address allocated twice");
    // The zone: exactly its records, each once, the A records on their VMs' addresses.
    let cloud_zones = world.sim.objects("zones").await;
    assert_eq!(cloud_zones.len(), 1, "no duplicate zone");
    let records: Vec<Value> = match &cloud_zones[0]["records"] {
        Value::Object(map) => map.values().cloned().collect(),
        Value::Array(items) => items.clone(),
        _ => Vec::new(),
    };
    let ours: Vec<&Value> = records
        .iter()
        .filter(|record| {
            let name = record["name"].as_str().unwrap_or_default();
            name.starts_with("vm") || name.starts_with("txt")
        })
        .collect();
    let distinct: BTreeSet<(String, String)> = ours
        .iter()
        .map(|record| (record["name"].to_string(), record["kind"].to_string()))
        .collect();
    assert_eq!(
        ours.len(),
        VM_RECORDS + TXT_RECORDS,
        "no duplicate record: {ours:?}"
    );
    assert_eq!(distinct.len(), VM_RECORDS + TXT_RECORDS);
    let zone_status = all(&zones).await.remove(0).status.unwrap();
    assert_eq!(zone_status.records.len(), VM_RECORDS + TXT_RECORDS);
    for applied in zone_status.records.iter().filter(|r| r.vm_ref.is_some()) {
        let vm = vms.get(applied.vm_ref.as_deref().unwrap()).await.unwrap();
        let ip = support::public_ip(&vm);
        assert_eq!(applied.data, ip, "{} follows its VM", applied.name);
    }
    println!(
        "chaos: converged to {} VMs, {} volumes ({} attached), {} floating IPs ({} managed), 1 zone with {} records: exactly the declared objects",
        cloud_vms.len(),
        cloud_volumes.len(),
        VOLUMES / 2,
        cloud_ips.len(),
        ip_ids.len(),
        ours.len()
    );

    // The objects as they stand (status included), for the grep below.
    let statuses = [
        serde_json::to_string(&all(&vms).await).unwrap(),
        serde_json::to_string(&all(&volumes).await).unwrap(),
        serde_json::to_string(&all(&ips).await).unwrap(),
        serde_json::to_string(&all(&zones).await).unwrap(),
    ]
    .join("\n");

    // The VM passwords, for the grep below.
    let passwords =
        support::processes::reported_passwords(&world.sim.endpoint(), &world.account).await;
    assert!(!passwords.is_empty(), "the simulator gives VMs passwords");
    // The operator handled them: the connection Secrets hold them (so the grep below looks for
    // something the operator had in its hands).
    let secrets: Api<Secret> = world.api();
    let mut written = 0;
    for i in 0..CONNECTED_VMS {
        let secret = support::eventually(Duration::from_secs(120), "a connection Secret", || {
            let secrets = secrets.clone();
            async move { secrets.get(&format!("chaos-{i:02}-connection")).await.ok() }
        })
        .await;
        let password = secret
            .data
            .as_ref()
            .and_then(|data| data.get("password"))
            .map(|value| String::from_utf8_lossy(&value.0).into_owned());
        if password.is_some_and(|password| passwords.contains(&password)) {
            written += 1;
        }
    }
    assert_eq!(
        written, CONNECTED_VMS,
        "each connection Secret holds its VM's password"
    );

    // Delete every manifest while the storm blows again, with a crash in the middle: the
    // deletions meet the same faults as the creates.
    world
        .sim
        .admin_post("faults", storm(rng.random(), false))
        .await;
    let calls_before = world.sim.admin_get("stats").await["totals"]["calls"]
        .as_u64()
        .unwrap_or(0);

    // Delete every manifest: nothing is left.
    for (name, api) in [("LunaVolume", &volumes)] {
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"));
    }
    ips.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    zones
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    vms.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    // One more crash in the middle of the deletions, then the storm goes on a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    world.operator_mut().restart();
    tokio::time::sleep(Duration::from_secs(15)).await;
    world.sim.admin_post("faults", json!({})).await;
    let calls_during = world.sim.admin_get("stats").await["totals"]["calls"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(calls_before);
    println!("chaos: {calls_during} API calls during the deletions' storm");
    support::eventually(Duration::from_secs(300), "every object deleted", || {
        let (vms, volumes, ips, zones) = (vms.clone(), volumes.clone(), ips.clone(), zones.clone());
        async move {
            (all(&vms).await.is_empty()
                && all(&volumes).await.is_empty()
                && all(&ips).await.is_empty()
                && all(&zones).await.is_empty())
            .then_some(())
        }
    })
    .await;
    for key in ["vms", "volumes", "floating_ips", "zones"] {
        let left = world.sim.objects(key).await;
        assert!(left.is_empty(), "{key} left behind: {left:?}");
    }
    println!("chaos: after deleting every manifest: 0 VMs, 0 volumes, 0 floating IPs, 0 zones");

    // No secret anywhere the operator writes.
    let mut shown =
        shown_by_operator(&world.client, &[world.ns.clone()], &[], world.operator()).await;
    shown.push(Shown::new("objects and status", statuses));
    let mut secrets = vec![("the API key".to_owned(), world.account.1.clone())];
    secrets.extend(
        passwords
            .iter()
            .map(|password| ("a VM password".to_owned(), password.clone())),
    );
    let leaks = find_secrets(&shown, &secrets);
    assert!(leaks.is_empty(), "secrets shown: {leaks:#?}");
    println!(
        "chaos: {} secrets (the API key, {} VM passwords) found in none of: operator log ({} lines), Events, status, metrics ({} sources)",
        secrets.len(),
        passwords.len(),
        world.operator().logs().lines().count(),
        shown.len()
    );
}
