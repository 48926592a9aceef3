//! The mixed scenarios: every kind but LunaVM on the bench, each as one set of objects applied at
//! once (the LunaVMs and LunaNetworks they need among them), converged, kept in steady state and
//! deleted, with the same figures as the LunaVM run.
//!
//! | scenario | objects (at `--scale 1`) |
//! |---|---|
//! | `zones` | 10 LunaDnsZones of 500 A records each: 5,000 records |
//! | `lb` | 1 LunaNetwork, 200 LunaVMs in it, 4 LunaLoadBalancers of 50 members each: 200 members |
//! | `volumes` | 250 LunaVMs, 500 LunaVolumes attached two to a VM |
//! | `floating` | 100 LunaFloatingIPs |
//! | `firewalls` | 20 LunaSecurityGroups of 10 rules each, 200 LunaVMs each in two of them |
//! | `monitoring` | 4 LunaMonitorContacts, 200 LunaMonitorChecks alerting one each, 100 LunaVolumes with a LunaVolumeSnapshot each |
//!
//! A LunaDnsZone holds at most 500 records and a LunaLoadBalancer at most 64 members (the CRDs'
//! bounds, which keep the CEL cost and the status size bounded), so the 5,000 records and the
//! 200 members are spread over several objects of one account.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures::{StreamExt, TryStreamExt, stream};
use kube::{
    Api, Client, Resource,
    api::{ApiResource, DeleteParams, DynamicObject, ListParams},
};
use lunanode_operator::api::{
    LunaDnsZone, LunaFloatingIP, LunaLoadBalancer, LunaMonitorCheck, LunaMonitorContact,
    LunaNetwork, LunaSecurityGroup, LunaVM, LunaVolume, LunaVolumeSnapshot,
};
use serde_json::{Value, json};

use crate::{
    IMAGE, NAMESPACE, PLAN,
    counters::{Apiserver, Sim, diff, retrying, total},
    per_minute, procs, report, secs,
};

/// Which objects a run applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// N LunaVMs: convergence, steady state, restart, resize and delete (the default).
    Vms,
    /// LunaDnsZones with 5,000 records in all.
    Zones,
    /// LunaLoadBalancers with 200 members in all, over 200 LunaVMs in one LunaNetwork.
    Lb,
    /// 500 LunaVolumes attached to 250 LunaVMs.
    Volumes,
    /// 100 LunaFloatingIPs.
    Floating,
    /// 20 LunaSecurityGroups of 10 rules, and 200 LunaVMs each in two of them.
    Firewalls,
    /// 200 LunaMonitorChecks alerting 4 LunaMonitorContacts, and 100 LunaVolumeSnapshots of as
    /// many LunaVolumes.
    Monitoring,
}

/// The objects of one kind, in the order they are applied.
struct Batch {
    resource: ApiResource,
    objects: Vec<Value>,
}

fn batch<K: Resource<DynamicType = ()>>(objects: Vec<Value>) -> Batch {
    Batch {
        resource: ApiResource::erase::<K>(&()),
        objects,
    }
}

fn object(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "lunanode.com/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn vm(name: &str, network: Option<&str>) -> Value {
    let mut spec = json!({"hostname": name, "plan": PLAN, "image": IMAGE, "region": "toronto"});
    if let Some(network) = network {
        spec["networkRef"] = json!({"name": network});
    }
    object("LunaVM", name, spec)
}

/// `count` scaled, at least one.
fn scaled(count: usize, scale: f64) -> usize {
    ((count as f64 * scale).round() as usize).max(1)
}

/// What a scenario applies, and the cloud writes it needs at the least (creates, adds,
/// attaches: one call each), by action.
fn plan(scenario: Scenario, scale: f64) -> (Vec<Batch>, Vec<(&'static str, usize)>) {
    match scenario {
        Scenario::Vms => (Vec::new(), Vec::new()),
        Scenario::Zones => {
            let zones = scaled(10, scale);
            let per_zone = 500;
            let objects = (0..zones)
                .map(|z| {
                    let records: Vec<Value> = (0..per_zone)
                        .map(|r| {
                            json!({"name": format!("host-{r}"), "type": "A",
                                   "data": format!("198.51.{}.{}", r / 250, r % 250 + 1)})
                        })
                        .collect();
                    let spec = json!({"origin": format!("bench-{z}.example.com."),
                                      "ttl": 3600, "records": records});
                    object("LunaDnsZone", &format!("zone-{z}"), spec)
                })
                .collect();
            (
                vec![batch::<LunaDnsZone>(objects)],
                vec![("zone creates", zones), ("record adds", zones * per_zone)],
            )
        }
        Scenario::Lb => {
            let balancers = scaled(4, scale);
            let per_lb = 50;
            let vms = balancers * per_lb;
            let network = object(
                "LunaNetwork",
                "lb-net",
                json!({"name": "lb-net", "subnet": "10.20.40.0/24", "region": "toronto"}),
            );
            let members = |b: usize| -> Vec<Value> {
                (0..per_lb)
                    .map(|m| json!({"vmRef": {"name": format!("app-{:04}", b * per_lb + m)}, "port": 8080}))
                    .collect()
            };
            let lbs = (0..balancers)
                .map(|b| {
                    let spec = json!({"region": "toronto", "networkRef": {"name": "lb-net"},
                                      "method": "ROUND_ROBIN", "protocol": "HTTP", "port": 80,
                                      "connectionLimit": -1, "members": members(b)});
                    object("LunaLoadBalancer", &format!("front-{b}"), spec)
                })
                .collect();
            (
                vec![
                    batch::<LunaNetwork>(vec![network]),
                    batch::<LunaVM>(
                        (0..vms)
                            .map(|i| vm(&format!("app-{i:04}"), Some("lb-net")))
                            .collect(),
                    ),
                    batch::<LunaLoadBalancer>(lbs),
                ],
                vec![
                    ("network creates", 1),
                    ("vm creates", vms),
                    ("lb creates", balancers),
                    ("member adds", vms),
                ],
            )
        }
        Scenario::Volumes => {
            let vms = scaled(250, scale);
            let volumes = vms * 2;
            let objects = (0..volumes)
                .map(|v| {
                    let name = format!("vol-{v:04}");
                    let spec = json!({"label": name, "size": 10, "region": "toronto",
                                      "attachTo": {"vmRef": {"name": format!("vm-{:04}", v / 2)}}});
                    object("LunaVolume", &name, spec)
                })
                .collect();
            (
                vec![
                    batch::<LunaVM>((0..vms).map(|i| vm(&format!("vm-{i:04}"), None)).collect()),
                    batch::<LunaVolume>(objects),
                ],
                vec![
                    ("vm creates", vms),
                    ("volume creates", volumes),
                    ("volume attaches", volumes),
                ],
            )
        }
        Scenario::Floating => {
            let ips = scaled(100, scale);
            let objects = (0..ips)
                .map(|i| {
                    object(
                        "LunaFloatingIP",
                        &format!("fip-{i:04}"),
                        json!({"region": "toronto"}),
                    )
                })
                .collect();
            (
                vec![batch::<LunaFloatingIP>(objects)],
                vec![("floating ip adds", ips)],
            )
        }
        Scenario::Firewalls => {
            let groups = scaled(20, scale).max(2);
            let per_group = 10;
            let vms = scaled(200, scale);
            let rules = |g: usize| -> Vec<Value> {
                (0..per_group)
                    .map(|r| {
                        json!({"direction": "Ingress", "protocol": "TCP",
                               "portMin": 8000 + r, "cidr": format!("10.{g}.{r}.0/24")})
                    })
                    .collect()
            };
            let group_objects = (0..groups)
                .map(|g| {
                    let name = format!("fw-{g:02}");
                    let spec = json!({"name": name, "region": "toronto", "rules": rules(g)});
                    object("LunaSecurityGroup", &name, spec)
                })
                .collect();
            let vm_objects = (0..vms)
                .map(|i| {
                    let mut vm = vm(&format!("fw-vm-{i:04}"), None);
                    vm["spec"]["securityGroupRefs"] = json!([
                        {"name": format!("fw-{:02}", i % groups)},
                        {"name": format!("fw-{:02}", (i + 1) % groups)},
                    ]);
                    vm
                })
                .collect();
            (
                vec![
                    batch::<LunaSecurityGroup>(group_objects),
                    batch::<LunaVM>(vm_objects),
                ],
                vec![
                    ("group creates", groups),
                    ("rule inserts", groups * per_group),
                    ("vm creates", vms),
                ],
            )
        }
        Scenario::Monitoring => {
            let contacts = 4;
            let checks = scaled(200, scale);
            let volumes = scaled(100, scale);
            let contact_objects = (0..contacts)
                .map(|c| {
                    let spec = json!({"type": "Email", "address": format!("ops-{c}@example.com")});
                    object("LunaMonitorContact", &format!("ops-{c}"), spec)
                })
                .collect();
            let check_objects = (0..checks)
                .map(|i| {
                    let name = format!("probe-{i:04}");
                    let spec = json!({"name": name, "type": "icmp",
                                      "target": format!("198.51.{}.{}", i / 250, i % 250 + 1),
                                      "contactRefs": [{"name": format!("ops-{}", i % contacts)}]});
                    object("LunaMonitorCheck", &name, spec)
                })
                .collect();
            let volume_objects = (0..volumes)
                .map(|v| {
                    let name = format!("data-{v:04}");
                    object(
                        "LunaVolume",
                        &name,
                        json!({"label": name, "size": 10, "region": "toronto"}),
                    )
                })
                .collect();
            let snapshot_objects = (0..volumes)
                .map(|v| {
                    let name = format!("data-{v:04}-snap");
                    let spec = json!({"name": name, "region": "toronto",
                                      "volumeRef": {"name": format!("data-{v:04}")}});
                    object("LunaVolumeSnapshot", &name, spec)
                })
                .collect();
            (
                vec![
                    batch::<LunaMonitorContact>(contact_objects),
                    batch::<LunaMonitorCheck>(check_objects),
                    batch::<LunaVolume>(volume_objects),
                    batch::<LunaVolumeSnapshot>(snapshot_objects),
                ],
                vec![
                    ("contact adds", contacts),
                    ("check adds", checks),
                    ("alert adds", checks),
                    ("volume creates", volumes),
                    ("snapshot creates", volumes),
                ],
            )
        }
    }
}

/// Whether an object is Ready at its current generation.
fn ready(object: &DynamicObject) -> bool {
    let status = &object.data["status"];
    let generation = object.metadata.generation;
    status["conditions"].as_array().is_some_and(|conditions| {
        conditions.iter().any(|c| {
            c["type"] == "Ready"
                && c["status"] == "True"
                && c["observedGeneration"]
                    .as_i64()
                    .or(status["observedGeneration"].as_i64())
                    == generation
        })
    })
}

fn api(client: &Client, resource: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), NAMESPACE, resource)
}

/// Counts (Ready, all) over every batch's kind.
async fn census(client: &Client, batches: &[Batch]) -> Result<(usize, usize)> {
    let mut counts = (0, 0);
    for batch in batches {
        let api = api(client, &batch.resource);
        let list = retrying("list the objects", || async {
            Ok(api.list(&ListParams::default().match_any()).await?)
        })
        .await?;
        counts.0 += list.items.iter().filter(|o| ready(o)).count();
        counts.1 += list.items.len();
    }
    Ok(counts)
}

/// The objects the simulated account holds, of the kinds the benchmark applies (security
/// groups but each region's `default`, which the account starts with).
async fn cloud_objects(sim: &Sim, api_id: &str) -> Result<usize> {
    let state = sim.state().await?;
    let account = &state["accounts"][api_id];
    Ok([
        "vms",
        "volumes",
        "floating_ips",
        "networks",
        "load_balancers",
        "zones",
        "security_groups",
    ]
    .iter()
    .map(|key| match &account[*key] {
        Value::Object(map) => map.values().filter(|o| o["name"] != "default").count(),
        Value::Array(list) => list.len(),
        _ => 0,
    })
    .sum())
}

/// What the scenario run needs from the set-up in `main`.
pub struct Env<'a> {
    pub args: &'a crate::Args,
    pub client: Client,
    pub apiserver: Apiserver,
    pub sim: Sim,
    pub api_id: String,
    pub pid: u32,
    pub ticks: f64,
    pub idle_rss_kib: u64,
    pub idle_cpu: f64,
    pub machine: Value,
}

/// Runs one mixed scenario and returns its figures.
pub async fn run(env: Env<'_>, harness: &mut procs::Harness) -> Result<Value> {
    let Env {
        args,
        client,
        apiserver,
        sim,
        api_id,
        pid,
        ticks,
        idle_rss_kib,
        idle_cpu,
        machine,
    } = env;
    let (batches, floor_writes) = plan(args.scenario, args.scale);
    let objects: usize = batches.iter().map(|b| b.objects.len()).sum();
    let writes_floor: usize = floor_writes.iter().map(|(_, n)| n).sum();
    // VMs build for --build-seconds, volumes are created in 5 s: the slowest bounds the floor.
    let build = match args.scenario {
        Scenario::Lb | Scenario::Volumes | Scenario::Firewalls => args.build_seconds,
        _ => 0.0,
    };
    let rtt = args.latency_ms as f64 / 1000.0;
    let floor_seconds = writes_floor as f64 / args.rate + build + rtt;
    let timeout = Duration::from_secs(
        args.timeout_seconds
            .unwrap_or_else(|| (5.0 * floor_seconds).max(600.0) as u64),
    );

    // --- Convergence.
    let calls0 = sim.calls().await?;
    let writes0 = apiserver.writes().await?;
    let cpu0 = procs::cpu_seconds(pid, ticks)?;
    let start = Instant::now();
    eprintln!("applying {objects} objects ({:?})", args.scenario);
    for batch in &batches {
        let api = api(&client, &batch.resource);
        stream::iter(batch.objects.iter())
            .map(|value| {
                let api = api.clone();
                async move {
                    let object: DynamicObject = serde_json::from_value(value.clone())?;
                    crate::counters::create(&api, &object).await
                }
            })
            .buffer_unordered(args.apply_concurrency)
            .try_collect::<Vec<_>>()
            .await?;
    }
    let apply = start.elapsed();
    let mut last_report = Instant::now();
    loop {
        let (ready, all) = census(&client, &batches).await?;
        if ready == objects && all == objects {
            break;
        }
        if start.elapsed() > timeout {
            bail!("only {ready}/{objects} Ready after {timeout:?}");
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "  {:>6.1} s: {ready}/{objects} Ready",
                start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let convergence = start.elapsed();
    let calls1 = sim.calls().await?;
    let writes1 = apiserver.writes().await?;
    let cpu1 = procs::cpu_seconds(pid, ticks)?;
    let conv_calls = diff(&calls1, &calls0);
    let conv_writes = crate::operator_writes(&diff(&writes1, &writes0));
    // The benchmark's own creates are among the POSTs counted; they are not the operator's.
    let operator_writes = total(&conv_writes).saturating_sub(objects as u64);
    eprintln!(
        "all {objects} Ready after {:.1} s",
        convergence.as_secs_f64()
    );

    // --- Steady state.
    let steady = crate::steady_window(args, &sim, &apiserver, pid, ticks).await?;
    let (calls3, steady_len, steady_rss) = (steady.end_calls, steady.seconds, steady.rss_kib);
    let steady_calls = steady.calls;
    let steady_writes = crate::operator_writes(&steady.writes);

    // --- Delete.
    eprintln!("deleting everything");
    let delete_start = Instant::now();
    for batch in batches.iter().rev() {
        let api = api(&client, &batch.resource);
        retrying("delete the objects", || async {
            Ok(api
                .delete_collection(&DeleteParams::default(), &ListParams::default())
                .await?)
        })
        .await?;
    }
    let delete = loop {
        let left_cloud = cloud_objects(&sim, &api_id).await?;
        let (_, left_kube) = census(&client, &batches).await?;
        if left_cloud == 0 && left_kube == 0 {
            break delete_start.elapsed();
        }
        if delete_start.elapsed() > timeout {
            bail!("{left_cloud} cloud objects and {left_kube} objects left after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let calls4 = sim.calls().await?;
    let delete_calls = diff(&calls4, &calls3);
    let peak_rss = procs::status_kib(pid, "VmHWM")?;
    let cpu_end = procs::cpu_seconds(pid, ticks)?;
    harness.stop_operator();

    let conv_total = total(&conv_calls);
    let lists = conv_total.saturating_sub(writes_floor as u64);
    let per_object_kib = steady_rss.saturating_sub(idle_rss_kib) as f64 / objects as f64;
    let steady_total = total(&steady_calls) as f64 * 60.0 / steady_len;
    Ok(json!({
        "scenario": format!("{:?}", args.scenario).to_lowercase(),
        "parameters": crate::parameters(args),
        "machine": machine,
        "note": args.note,
        "objects": objects,
        "objects_by_kind": batches.iter().map(|b| (b.resource.kind.clone(), json!(b.objects.len()))).collect::<serde_json::Map<_, _>>(),
        "apply_seconds": secs(apply),
        "convergence": {
            "seconds": secs(convergence),
            "floor_seconds": report::round2(floor_seconds),
            "floor": "cloud writes / rate + build time (VMs) + one round trip",
            "ratio_to_floor": report::round2(convergence.as_secs_f64() / floor_seconds),
            "cloud_calls": conv_calls,
            "cloud_calls_total": conv_total,
            "floor_cloud_writes": floor_writes.iter().map(|(k, n)| (k.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "floor_cloud_writes_total": writes_floor,
            "calls_beyond_the_writes": lists,
            "kube_writes": conv_writes,
            "operator_kube_writes_total": operator_writes,
            "operator_kube_writes_per_object": report::round2(operator_writes as f64 / objects as f64),
            "operator_cpu_seconds": report::round2(cpu1 - cpu0),
        },
        "steady": {
            "window_seconds": report::round2(steady_len),
            "cloud_calls": steady_calls,
            "cloud_calls_per_minute": per_minute(&steady_calls, steady_len),
            "cloud_calls_per_minute_total": report::round2(steady_total),
            "kube_writes": steady_writes,
            "kube_writes_per_minute_total": report::round2(total(&steady_writes) as f64 * 60.0 / steady_len),
            "operator_millicores": report::round2(steady.cpu_seconds / steady_len * 1000.0),
        },
        "delete": {
            "seconds": secs(delete),
            "cloud_calls": delete_calls,
        },
        "memory": {
            "idle_rss_mib": report::mib(idle_rss_kib),
            "steady_rss_mib": report::mib(steady_rss),
            "peak_rss_mib": report::mib(peak_rss),
            "steady_kib_per_object_above_idle": report::round2(per_object_kib),
        },
        "cpu": {
            "total_seconds": report::round2(cpu_end),
            "idle_start_seconds": report::round2(idle_cpu),
        },
    }))
}

/// The printed summary of a mixed scenario.
pub fn table(r: &Value) -> String {
    let (conv, steady, delete, memory) =
        (&r["convergence"], &r["steady"], &r["delete"], &r["memory"]);
    let rows = [
        ("scenario", r["scenario"].to_string()),
        ("objects by kind", r["objects_by_kind"].to_string()),
        (
            "convergence: all Ready (s)",
            format!(
                "{} (floor {}, {} x)",
                conv["seconds"], conv["floor_seconds"], conv["ratio_to_floor"]
            ),
        ),
        (
            "convergence: cloud calls by action",
            conv["cloud_calls"].to_string(),
        ),
        (
            "convergence: cloud writes at the floor",
            conv["floor_cloud_writes"].to_string(),
        ),
        (
            "convergence: operator Kubernetes writes per object",
            conv["operator_kube_writes_per_object"].to_string(),
        ),
        (
            "steady: cloud calls per minute",
            format!(
                "{} {}",
                steady["cloud_calls_per_minute_total"], steady["cloud_calls_per_minute"]
            ),
        ),
        (
            "steady: Kubernetes writes per minute",
            steady["kube_writes_per_minute_total"].to_string(),
        ),
        ("delete: nothing left (s)", delete["seconds"].to_string()),
        (
            "delete: cloud calls by action",
            delete["cloud_calls"].to_string(),
        ),
        (
            "RSS idle / steady / peak (MiB)",
            format!(
                "{} / {} / {}",
                memory["idle_rss_mib"], memory["steady_rss_mib"], memory["peak_rss_mib"]
            ),
        ),
        (
            "RSS per object above idle (KiB)",
            memory["steady_kib_per_object_above_idle"].to_string(),
        ),
    ];
    rows.iter()
        .map(|(figure, value)| format!("{figure:<52} | {value}\n"))
        .collect()
}
