//! End-to-end benchmark of the operator: the real local control plane, the simulator and the
//! operator (release build), each its own process; N LunaVMs applied, converged, kept in steady
//! state, partly resized and deleted, with the cloud API calls, Kubernetes writes, memory and
//! CPU of each phase, next to the physical lower bound. See `docs/benchmarks.md`.
//!
//! ```text
//! cargo run --release --example bench -- --n 1000 --json bench-results/n1000.json
//! cargo run --release --example bench -- --scenario zones --json bench-results/zones.json
//! ```

mod counters;
mod procs;
mod report;
mod scenario;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::{
    ByteString,
    api::core::v1::{Namespace, Secret},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::{conditions, wait::await_condition},
};
use lunanode_operator::api::vm::{LunaVM, LunaVMSpec};
use serde_json::json;

use counters::{Apiserver, Counts, Sim, diff, retrying, total};
use procs::Harness;

const NAMESPACE: &str = "bench";
const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const PLAN: &str = "m.1";
const NEW_PLAN: &str = "m.2";

/// Benchmark of the operator against the simulator on a local control plane.
#[derive(Debug, Parser)]
struct Args {
    /// What to run: N LunaVMs, or one of the mixed scenarios of the other kinds.
    #[arg(long, value_enum, default_value_t = scenario::Scenario::Vms)]
    scenario: scenario::Scenario,
    /// Number of LunaVMs (the `vms` scenario).
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Size of a mixed scenario relative to its nominal one (1.0: 5,000 records, 200 members,
    /// 500 volumes, 100 floating IPs, 20 security groups over 200 VMs).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Simulated latency of every cloud API call, in milliseconds.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Simulated VM build time, in seconds.
    #[arg(long, default_value_t = 20.0)]
    build_seconds: f64,
    /// Length of the steady-state window, in seconds.
    #[arg(long, default_value_t = 300)]
    steady_seconds: u64,
    /// Seconds between "all Ready" and the start of the steady-state window.
    #[arg(long, default_value_t = 15)]
    settle_seconds: u64,
    /// Cloud requests per second per account (the operator's `--rate`).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// The operator's `--slow-poll-seconds`.
    #[arg(long, default_value_t = 60)]
    slow_poll_seconds: u64,
    /// The operator's `--fast-poll-seconds`.
    #[arg(long, default_value_t = 5)]
    fast_poll_seconds: u64,
    /// The operator's `--concurrency`.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// Fraction of the LunaVMs whose plan is changed (m.1 to m.2).
    #[arg(long, default_value_t = 0.1)]
    resize_fraction: f64,
    /// How many LunaVMs the benchmark creates (and patches) at a time.
    #[arg(long, default_value_t = 32)]
    apply_concurrency: usize,
    /// Give up on a phase after this many seconds (default: 5 × its floor, at least 600).
    #[arg(long)]
    timeout_seconds: Option<u64>,
    /// The operator's log filter (`LUNANODE_LOG`).
    #[arg(long, default_value = "info")]
    operator_log: String,
    /// Write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Copy the operator's, the simulator's and the control plane's logs into this folder.
    #[arg(long)]
    keep_logs: Option<PathBuf>,
    /// A free-text note stored in the JSON (for example, other load on the machine).
    #[arg(long)]
    note: Option<String>,
    /// Run the operator under this program, split at spaces (e.g. `heaptrack -o /tmp/op` for a
    /// heap profile). With a wrapper, the PID measured is the wrapper's child only when the
    /// wrapper execs it; heaptrack's figures come from its own report.
    #[arg(long)]
    operator_wrapper: Option<String>,
    /// Print the Markdown tables of the README and docs/benchmarks.md from these JSON files
    /// (written by earlier runs) and exit; nothing is started.
    #[arg(long, num_args = 1..)]
    markdown: Vec<PathBuf>,
    /// Do not run `cargo build --release --bin lunanode-operator` first.
    #[arg(long)]
    no_build: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if !args.markdown.is_empty() {
        let runs = args
            .markdown
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("read {}", path.display()))?;
                Ok(serde_json::from_str(&text)?)
            })
            .collect::<Result<Vec<serde_json::Value>>>()?;
        println!("{}", report::markdown(&runs));
        return Ok(());
    }
    if args.n == 0 {
        bail!("--n must be at least 1");
    }
    if !(args.scale.is_finite() && args.scale > 0.0) {
        bail!("--scale must be a positive number");
    }
    if !args.no_build {
        procs::build_release().await?;
    }
    procs::require(&procs::operator_binary(), "the release binary")?;
    let wrapper = args
        .operator_wrapper
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let harness = Harness::new(args.keep_logs.clone(), wrapper)?;
    tokio::select! {
        result = run(&args, harness) => result,
        _ = tokio::signal::ctrl_c() => bail!("interrupted; everything started was stopped"),
    }
}

/// An account for the simulator: a 16-character API ID and a 128-character key.
fn account() -> (String, String) {
    (
        "benchapiid000001".to_owned(),
        "benchkey".chars().cycle().take(128).collect(),
    )
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn per_minute(counts: &Counts, seconds: f64) -> serde_json::Map<String, serde_json::Value> {
    counts
        .iter()
        .map(|(k, n)| (k.clone(), json!(report::round2(*n as f64 * 60.0 / seconds))))
        .collect()
}

/// What a steady-state window measured.
struct Steady {
    /// The simulator's call counts at the window's end.
    end_calls: Counts,
    /// Cloud calls during the window.
    calls: Counts,
    /// Kubernetes writes during the window (all counted resources).
    writes: Counts,
    /// The window's length.
    seconds: f64,
    /// The operator's `VmRSS` at the end.
    rss_kib: u64,
    /// The operator's CPU time during the window.
    cpu_seconds: f64,
}

/// After `--settle-seconds`, a window of `--steady-seconds` with nothing changing: the calls,
/// writes, CPU and memory of an operator that should be idle.
async fn steady_window(
    args: &Args,
    sim: &Sim,
    apiserver: &Apiserver,
    pid: u32,
    ticks: f64,
) -> Result<Steady> {
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    let (calls0, writes0) = (sim.calls().await?, apiserver.writes().await?);
    let cpu0 = procs::cpu_seconds(pid, ticks)?;
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.steady_seconds)).await;
    let (end_calls, writes1) = (sim.calls().await?, apiserver.writes().await?);
    let cpu_seconds = procs::cpu_seconds(pid, ticks)? - cpu0;
    Ok(Steady {
        calls: diff(&end_calls, &calls0),
        writes: diff(&writes1, &writes0),
        end_calls,
        seconds: start.elapsed().as_secs_f64(),
        rss_kib: procs::status_kib(pid, "VmRSS")?,
        cpu_seconds,
    })
}

/// The run's settings, as stored in the JSON.
fn parameters(args: &Args) -> serde_json::Value {
    json!({
        "scenario": format!("{:?}", args.scenario).to_lowercase(),
        "n": args.n, "scale": args.scale, "latency_ms": args.latency_ms,
        "build_seconds": args.build_seconds,
        "steady_seconds": args.steady_seconds, "settle_seconds": args.settle_seconds,
        "rate": args.rate, "fast_poll_seconds": args.fast_poll_seconds,
        "slow_poll_seconds": args.slow_poll_seconds, "concurrency": args.concurrency,
        "resize_fraction": args.resize_fraction, "apply_concurrency": args.apply_concurrency,
        "operator_log": args.operator_log,
    })
}

/// A free loopback port for the operator's metrics (read by the restart phase).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The writes that can be the operator's: all but `leases`, which without `--leader-elect` are
/// only the apiserver's own heartbeat (the metric has no namespace or user label).
fn operator_writes(writes: &Counts) -> Counts {
    writes
        .iter()
        .filter(|(key, _)| !key.starts_with("leases "))
        .map(|(key, n)| (key.clone(), *n))
        .collect()
}

/// Whether a LunaVM is Ready at its current generation.
fn ready(vm: &LunaVM) -> bool {
    let generation = vm.metadata.generation;
    vm.status.as_ref().is_some_and(|status| {
        status.managed.conditions.iter().any(|c| {
            c.type_ == "Ready"
                && c.is_true()
                && c.observed_generation.or(status.managed.observed_generation) == generation
        })
    })
}

async fn run(args: &Args, mut harness: Harness) -> Result<()> {
    let machine = procs::machine();
    let ticks = procs::clock_ticks();
    let n = args.n;
    let rtt = args.latency_ms as f64 / 1000.0;
    let floor_convergence = n as f64 / args.rate + args.build_seconds + rtt;
    let timeout = |floor: f64| {
        Duration::from_secs(
            args.timeout_seconds
                .unwrap_or_else(|| (5.0 * floor).max(600.0) as u64),
        )
    };

    eprintln!("starting the control plane in {}", harness.dir.display());
    harness.control_plane_up().await?;
    let kubeconfig = Kubeconfig::read_from(harness.kubeconfig())?;
    let client = Client::try_from(
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?,
    )?;
    let apiserver = Apiserver::new(&harness.dir)?;
    install_crds(&client).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &named(NAMESPACE))
        .await?;
    let account = account();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("lunanode-credentials".into()),
            ..ObjectMeta::default()
        },
        data: Some(
            [
                (
                    "api_id".to_owned(),
                    ByteString(account.0.clone().into_bytes()),
                ),
                (
                    "api_key".to_owned(),
                    ByteString(account.1.clone().into_bytes()),
                ),
            ]
            .into(),
        ),
        ..Secret::default()
    };
    secrets.create(&PostParams::default(), &secret).await?;

    let base = harness.start_simulator(
        &account,
        &[
            "--latency-ms".into(),
            args.latency_ms.to_string(),
            "--build-seconds".into(),
            args.build_seconds.to_string(),
        ],
    )?;
    let sim = Sim::new(base.clone());
    let metrics_port = free_port()?;
    let operator_args = [
        "--endpoint".into(),
        format!("{base}/api/"),
        "--allow-insecure-endpoint".into(),
        "--namespace".into(),
        NAMESPACE.into(),
        "--rate".into(),
        args.rate.to_string(),
        "--fast-poll-seconds".into(),
        args.fast_poll_seconds.to_string(),
        "--slow-poll-seconds".into(),
        args.slow_poll_seconds.to_string(),
        "--concurrency".into(),
        args.concurrency.to_string(),
        "--metrics-addr".into(),
        format!("127.0.0.1:{metrics_port}"),
    ];
    let pid = harness.start_operator(&operator_args, &args.operator_log)?;
    harness.operator_started(Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rss = procs::status_kib(pid, "VmRSS")?;
    let idle_cpu = procs::cpu_seconds(pid, ticks)?;
    eprintln!("operator up (pid {pid}), idle RSS {idle_rss} KiB");

    if args.scenario != scenario::Scenario::Vms {
        let env = scenario::Env {
            args,
            client,
            apiserver,
            sim,
            api_id: account.0.clone(),
            pid,
            ticks,
            idle_rss_kib: idle_rss,
            idle_cpu,
            machine,
        };
        let results = scenario::run(env, &mut harness).await?;
        println!("{}", scenario::table(&results));
        write_json(args, &results)?;
        harness.ok = true;
        return Ok(());
    }

    // --- Convergence.
    let vms: Api<LunaVM> = Api::namespaced(client.clone(), NAMESPACE);
    let calls0 = sim.calls().await?;
    let writes0 = apiserver.writes().await?;
    let cpu0 = procs::cpu_seconds(pid, ticks)?;
    let start = Instant::now();
    let first_create = tokio::spawn({
        let sim = sim.clone();
        async move {
            loop {
                if let Ok(calls) = sim.calls().await
                    && calls.get("vm/create").copied().unwrap_or(0) >= 1
                {
                    return start.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    eprintln!("applying {n} LunaVMs");
    stream::iter(0..n)
        .map(|i| {
            let vms = vms.clone();
            async move {
                let name = format!("vm-{i:05}");
                let vm = LunaVM::new(&name, LunaVMSpec::new(&name, PLAN, IMAGE));
                counters::create(&vms, &vm).await
            }
        })
        .buffer_unordered(args.apply_concurrency)
        .try_collect::<Vec<_>>()
        .await
        .context("create the LunaVMs")?;
    let apply = start.elapsed();
    let all: Vec<String> = (0..n).map(|i| format!("vm-{i:05}")).collect();
    let every = poll_interval(n);
    let convergence =
        wait_ready(&vms, &all, None, start, timeout(floor_convergence), every).await?;
    let calls1 = sim.calls().await?;
    let writes1 = apiserver.writes().await?;
    let cpu1 = procs::cpu_seconds(pid, ticks)?;
    let first_create = if first_create.is_finished() {
        Some(first_create.await?)
    } else {
        first_create.abort();
        None
    };
    let conv_calls = diff(&calls1, &calls0);
    let conv_writes = diff(&writes1, &writes0);
    eprintln!("all {n} Ready after {:.1} s", convergence.as_secs_f64());

    // --- Steady state.
    eprintln!(
        "settling {} s, then a steady-state window of {} s",
        args.settle_seconds, args.steady_seconds
    );
    let steady = steady_window(args, &sim, &apiserver, pid, ticks).await?;
    let (steady_len, steady_rss) = (steady.seconds, steady.rss_kib);
    let (steady_calls, steady_writes) = (steady.calls, steady.writes);
    let steady_millicores = steady.cpu_seconds / steady_len * 1000.0;

    // --- Restart: the operator starts again over N converged objects; until it has reconciled
    // every one, it should make no cloud write and one list per kind and account.
    let first_peak = procs::status_kib(pid, "VmHWM")?;
    let first_cpu = procs::cpu_seconds(pid, ticks)?;
    harness.stop_operator();
    let list_start = Instant::now();
    let listed = retrying("list the LunaVMs", || async {
        Ok(vms.list(&ListParams::default()).await?)
    })
    .await?
    .items
    .len();
    let list_floor = list_start.elapsed().as_secs_f64();
    let calls_r0 = sim.calls().await?;
    let writes_r0 = apiserver.writes().await?;
    let restart_start = Instant::now();
    let pid = harness.start_operator(&operator_args, &args.operator_log)?;
    let reconciled = loop {
        let count = counters::reconciles(metrics_port, "LunaVM")
            .await
            .unwrap_or(0);
        if count >= n as u64 {
            break restart_start.elapsed();
        }
        if restart_start.elapsed() > timeout(list_floor.max(60.0)) {
            bail!("only {count}/{n} reconciled after the restart");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let calls_r1 = sim.calls().await?;
    let writes_r1 = apiserver.writes().await?;
    let restart_calls = diff(&calls_r1, &calls_r0);
    let restart_writes = operator_writes(&diff(&writes_r1, &writes_r0));
    eprintln!(
        "restart: {n} reconciled after {:.1} s",
        reconciled.as_secs_f64()
    );
    let calls3 = calls_r1;

    // --- Resize.
    let resized_count = ((n as f64 * args.resize_fraction).round() as usize).clamp(0, n);
    let resized: Vec<String> = all.iter().take(resized_count).cloned().collect();
    eprintln!("changing the plan of {resized_count} LunaVMs to {NEW_PLAN}");
    let resize_timing = sim.timing("resize").await?.unwrap_or(10.0);
    let floor_resize = resized_count as f64 / args.rate + resize_timing + rtt;
    let resize_start = Instant::now();
    stream::iter(resized.iter())
        .map(|name| {
            let vms = vms.clone();
            async move {
                let patch = Patch::Merge(json!({"spec": {"plan": NEW_PLAN}}));
                retrying("patch a plan", || async {
                    Ok(vms.patch(name, &PatchParams::default(), &patch).await?)
                })
                .await
            }
        })
        .buffer_unordered(args.apply_concurrency)
        .try_collect::<Vec<_>>()
        .await
        .context("patch the plans")?;
    let resize = wait_ready(
        &vms,
        &resized,
        Some(NEW_PLAN),
        resize_start,
        timeout(floor_resize),
        every,
    )
    .await?;
    let calls4 = sim.calls().await?;
    let resize_calls = diff(&calls4, &calls3);

    // --- Delete.
    eprintln!("deleting everything");
    let floor_delete = n as f64 / args.rate + rtt;
    let delete_start = Instant::now();
    stream::iter(all.iter())
        .map(|name| counters::delete(&vms, name))
        .buffer_unordered(args.apply_concurrency)
        .try_collect::<Vec<_>>()
        .await
        .context("delete the LunaVMs")?;
    let deadline = delete_start + timeout(floor_delete);
    let delete = loop {
        let left_cloud = sim.vm_count(&account.0).await?;
        let left_kube = retrying("list the LunaVMs", || async {
            Ok(vms
                .list_metadata(&ListParams::default().match_any())
                .await?)
        })
        .await?
        .items
        .len();
        if left_cloud == 0 && left_kube == 0 {
            break delete_start.elapsed();
        }
        if Instant::now() > deadline {
            bail!("{left_cloud} VMs and {left_kube} LunaVMs left after {deadline:?}");
        }
        tokio::time::sleep(every).await;
    };
    let calls5 = sim.calls().await?;
    let delete_calls = diff(&calls5, &calls4);
    let peak_rss = procs::status_kib(pid, "VmHWM")?.max(first_peak);
    let cpu_end = first_cpu + procs::cpu_seconds(pid, ticks)?;
    harness.stop_operator();

    // --- Report.
    let conv_total = total(&conv_calls);
    let lists_at_floor = (floor_convergence / args.fast_poll_seconds as f64).ceil();
    let operator_conv_writes = total(&operator_writes(&conv_writes)).saturating_sub(n as u64);
    let restart_cloud_writes: u64 = restart_calls
        .iter()
        .filter(|(action, _)| !action.ends_with("/list") && !action.ends_with("/info"))
        .map(|(_, n)| n)
        .sum();
    let results = json!({
        "scenario": "vms",
        "parameters": parameters(args),
        "machine": machine,
        "note": args.note,
        "apply_seconds": secs(apply),
        "first_create_seconds": first_create.map(secs),
        "convergence": {
            "seconds": secs(convergence),
            "floor_seconds": report::round2(floor_convergence),
            "ratio_to_floor": report::round2(convergence.as_secs_f64() / floor_convergence),
            "cloud_calls": conv_calls,
            "cloud_calls_total": conv_total,
            "cloud_calls_per_object": report::round2(conv_total as f64 / n as f64),
            "floor_calls_per_object": report::round2(1.0 + lists_at_floor / n as f64),
            "kube_writes": conv_writes,
            "kube_writes_total": total(&operator_writes(&conv_writes)),
            "operator_kube_writes_per_object": report::round2(operator_conv_writes as f64 / n as f64),
            "operator_cpu_seconds": report::round2(cpu1 - cpu0),
        },
        "steady": {
            "window_seconds": report::round2(steady_len),
            "cloud_calls": steady_calls,
            "cloud_calls_per_minute": per_minute(&steady_calls, steady_len),
            "cloud_calls_per_minute_total": report::round2(total(&steady_calls) as f64 * 60.0 / steady_len),
            "floor_cloud_calls_per_minute": report::round2(60.0 / args.slow_poll_seconds as f64),
            "kube_writes": steady_writes,
            "kube_writes_per_minute": per_minute(&steady_writes, steady_len),
            "kube_writes_per_minute_total": report::round2(total(&operator_writes(&steady_writes)) as f64 * 60.0 / steady_len),
            "kube_writes_note": "leases PUT are the kube-apiserver's own identity-lease heartbeat (kube-system, every 10 s); the operator runs without --leader-elect and holds no lease, so they are left out of the total",
            "operator_cpu_seconds": report::round2(steady.cpu_seconds),
            "operator_millicores": report::round2(steady_millicores),
            "operator_rss_mib": report::mib(steady_rss),
        },
        "restart": {
            "seconds_to_reconcile_all": secs(reconciled),
            "list_floor_seconds": report::round2(list_floor),
            "listed": listed,
            "ratio_to_list_floor": report::round2(reconciled.as_secs_f64() / list_floor),
            "floor": "one LIST of the N LunaVMs from the apiserver, timed by the benchmark",
            "cloud_calls": restart_calls,
            "cloud_writes": restart_cloud_writes,
            "kube_writes": restart_writes,
            "note": "'reconciled all' = the operator's reconciles counter for LunaVM reached N after the restart",
        },
        "resize": {
            "count": resized_count,
            "seconds": secs(resize),
            "floor_seconds": report::round2(floor_resize),
            "simulated_resize_seconds": resize_timing,
            "cloud_calls": resize_calls,
            "vm_resize_calls": resize_calls.get("vm/resize").copied().unwrap_or(0),
        },
        "delete": {
            "seconds": secs(delete),
            "floor_seconds": report::round2(floor_delete),
            "cloud_calls": delete_calls,
            "vm_delete_calls": delete_calls.get("vm/delete").copied().unwrap_or(0),
        },
        "memory": {
            "idle_rss_mib": report::mib(idle_rss),
            "steady_rss_mib": report::mib(steady_rss),
            "peak_rss_mib": report::mib(peak_rss),
            "steady_kib_per_object_above_idle": report::round2(steady_rss.saturating_sub(idle_rss) as f64 / n as f64),
            "peak_note": "the larger VmHWM of the two operator processes (before and after the restart, whose initial list is a full relist)",
        },
        "cpu": {
            "total_seconds": report::round2(cpu_end),
            "idle_start_seconds": report::round2(idle_cpu),
            "steady_millicores": report::round2(steady_millicores),
        },
    });
    println!("{}", report::table(&results));
    write_json(args, &results)?;
    harness.ok = true;
    Ok(())
}

fn write_json(args: &Args, results: &serde_json::Value) -> Result<()> {
    if let Some(path) = &args.json {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(results)? + "\n")?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Polls the LunaVM list once a second until every one of `names` is Ready at its current
/// generation (and, with `plan`, reports `status.appliedPlan == plan`); returns the time since
/// `start`.
async fn wait_ready(
    vms: &Api<LunaVM>,
    names: &[String],
    plan: Option<&str>,
    start: Instant,
    timeout: Duration,
    every: Duration,
) -> Result<Duration> {
    let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut last_report = Instant::now();
    loop {
        let list = retrying("list the LunaVMs", || async {
            Ok(vms.list(&ListParams::default().match_any()).await?)
        })
        .await?;
        let done = list
            .items
            .iter()
            .filter(|vm| wanted.contains(vm.name_any().as_str()))
            .filter(|vm| ready(vm))
            .filter(|vm| {
                plan.is_none_or(|plan| {
                    vm.status.as_ref().and_then(|s| s.applied_plan.as_deref()) == Some(plan)
                })
            })
            .count();
        if done == wanted.len() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            bail!("only {done}/{} ready after {timeout:?}", wanted.len());
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "  {:>6.1} s: {done}/{} ready",
                start.elapsed().as_secs_f64(),
                wanted.len()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(every).await;
    }
}

/// How often the benchmark lists the objects while it waits: once a second up to 1,000
/// objects, then one second more per thousand (at most ten). Each poll is a LIST of every
/// object from the apiserver's watch cache; polled every second, 5,000 of them cost the
/// apiserver more CPU than the operator's own writes on two cores.
fn poll_interval(objects: usize) -> Duration {
    Duration::from_secs((objects as u64 / 1000).clamp(1, 10))
}

fn named(name: &str) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// Installs every CRD (server-side apply) and waits until each is established.
async fn install_crds(client: &Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in lunanode_operator::api::crdgen::all() {
        let name = crd.name_any();
        crds.patch(
            &name,
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&crd),
        )
        .await?;
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .context("CRD established in time")??;
    }
    Ok(())
}
