//! The printed table: one row per figure, with its target and the floor (or whether the target
//! is met), read from the same JSON document that is written to the file.

use serde_json::Value;

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn mib(kib: u64) -> f64 {
    round2(kib as f64 / 1024.0)
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn met(ok: bool) -> String {
    if ok { "met".into() } else { "MISSED".into() }
}

/// `a: 1, b: 2` from a JSON object of counts.
fn counts(v: &Value) -> String {
    match v.as_object() {
        Some(map) if !map.is_empty() => map
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".into(),
    }
}

pub fn table(r: &Value) -> String {
    let p = &r["parameters"];
    let n = p["n"].as_u64().unwrap_or(0);
    let (conv, steady, resize, delete) =
        (&r["convergence"], &r["steady"], &r["resize"], &r["delete"]);
    let (memory, cpu) = (&r["memory"], &r["cpu"]);
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut row = |figure: &str, value: String, target: &str, floor: String| {
        rows.push([figure.into(), value, target.into(), floor]);
    };
    row(
        "apply N LunaVMs (s)",
        format!("{}", r["apply_seconds"]),
        "",
        String::new(),
    );
    row(
        "apply -> first vm create (s)",
        format!("{}", r["first_create_seconds"]),
        "",
        format!("floor {} (one round trip)", num(&p["latency_ms"]) / 1000.0),
    );
    let ratio = num(&conv["ratio_to_floor"]);
    row(
        "convergence: all Ready (s)",
        format!("{} ({ratio} x floor)", conv["seconds"]),
        "<= 1.3 x floor (N=1000)",
        format!("floor {} {}", conv["floor_seconds"], met(ratio <= 1.3)),
    );
    let per_object = num(&conv["cloud_calls_per_object"]);
    row(
        "convergence: cloud calls per object",
        format!("{per_object} ({} calls)", conv["cloud_calls_total"]),
        "<= 1.05",
        format!(
            "floor {} {}",
            conv["floor_calls_per_object"],
            met(per_object <= 1.05)
        ),
    );
    row(
        "convergence: cloud calls by action",
        counts(&conv["cloud_calls"]),
        "",
        String::new(),
    );
    row(
        "convergence: Kubernetes writes",
        counts(&conv["kube_writes"]),
        "",
        String::new(),
    );
    let writes_per_object = num(&conv["operator_kube_writes_per_object"]);
    row(
        "convergence: operator Kubernetes writes per object",
        format!("{writes_per_object}"),
        "<= 4",
        met(writes_per_object <= 4.0),
    );
    let steady_calls = num(&steady["cloud_calls_per_minute_total"]);
    row(
        "steady: cloud calls per minute",
        format!("{steady_calls}"),
        "<= 30",
        format!(
            "floor {} {}",
            steady["floor_cloud_calls_per_minute"],
            met(steady_calls <= 30.0)
        ),
    );
    row(
        "steady: cloud calls/min by action",
        counts(&steady["cloud_calls_per_minute"]),
        "",
        String::new(),
    );
    let steady_writes = num(&steady["kube_writes_per_minute_total"]);
    row(
        "steady: Kubernetes writes/min (no leases)",
        format!("{steady_writes}"),
        "0",
        format!("floor 0 {}", met(steady_writes == 0.0)),
    );
    row(
        "steady: Kubernetes writes/min by resource",
        counts(&steady["kube_writes_per_minute"]),
        "",
        String::new(),
    );
    let restart = &r["restart"];
    let restart_ratio = num(&restart["ratio_to_list_floor"]);
    row(
        "restart: every LunaVM reconciled (s)",
        format!(
            "{} ({restart_ratio} x list floor)",
            restart["seconds_to_reconcile_all"]
        ),
        "<= 1.3 x list floor",
        format!(
            "floor {} {}",
            restart["list_floor_seconds"],
            met(restart_ratio <= 1.3)
        ),
    );
    row(
        "restart: cloud calls by action",
        counts(&restart["cloud_calls"]),
        "no write, one list per kind",
        met(restart["cloud_writes"].as_u64() == Some(0)),
    );
    let resize_ratio = num(&resize["seconds"]) / num(&resize["floor_seconds"]);
    row(
        &format!("resize {} VMs: all Ready again (s)", resize["count"]),
        format!("{} ({:.2} x floor)", resize["seconds"], resize_ratio),
        "<= 1.3 x floor",
        format!(
            "floor {} {}",
            resize["floor_seconds"],
            met(resize_ratio <= 1.3)
        ),
    );
    let infos = num(&resize["cloud_calls"]["vm/info"]).max(0.0);
    let infos = if infos.is_nan() { 0.0 } else { infos };
    let per_resized = infos / num(&resize["count"]).max(1.0);
    row(
        "resize: cloud calls by action",
        counts(&resize["cloud_calls"]),
        "<= 1.2 vm/info per resized VM",
        format!(
            "floor vm/resize: {}; {per_resized:.2} vm/info each {}",
            resize["count"],
            met(per_resized <= 1.2)
        ),
    );
    row(
        "delete all: nothing left (s)",
        format!("{}", delete["seconds"]),
        "",
        format!("floor {}", delete["floor_seconds"]),
    );
    row(
        "delete: cloud calls by action",
        counts(&delete["cloud_calls"]),
        "",
        format!("floor vm/delete: {n}"),
    );
    let idle = num(&memory["idle_rss_mib"]);
    row(
        "operator RSS idle (MiB)",
        format!("{idle}"),
        "<= 16",
        met(idle <= 16.0),
    );
    let steady_rss = num(&memory["steady_rss_mib"]);
    let steady_target = if n >= 10_000 {
        met(steady_rss <= 64.0)
    } else {
        "(target at N=10000)".into()
    };
    row(
        "operator RSS steady (MiB)",
        format!("{steady_rss}"),
        "<= 64 (N=10000)",
        steady_target,
    );
    let per_object = num(&memory["steady_kib_per_object_above_idle"]);
    row(
        "operator RSS per object above idle (KiB)",
        format!("{per_object}"),
        "<= 5",
        met(per_object <= 5.0),
    );
    let peak = num(&memory["peak_rss_mib"]);
    row(
        "operator RSS peak (MiB)",
        format!("{peak}"),
        "<= 128",
        met(peak <= 128.0),
    );
    row(
        "operator CPU total (s)",
        format!("{}", cpu["total_seconds"]),
        "",
        String::new(),
    );
    let millicores = num(&cpu["steady_millicores"]);
    let cpu_target = if n == 1000 {
        met(millicores <= 5.0)
    } else {
        "(target at N=1000)".into()
    };
    row(
        "operator CPU steady (millicores)",
        format!("{millicores}"),
        "<= 5 (N=1000)",
        cpu_target,
    );

    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0).max(6))
        .collect();
    let mut out = format!(
        "N = {n}, latency {} ms, build {} s, rate {} requests/s per account, fast poll {} s, \
         slow poll {} s, steady window {} s\n",
        p["latency_ms"],
        p["build_seconds"],
        p["rate"],
        p["fast_poll_seconds"],
        p["slow_poll_seconds"],
        steady["window_seconds"],
    );
    out += &format!(
        "floor: convergence = N / rate + build + one round trip = {n} / {} + {} + {} = {} s\n\n",
        p["rate"],
        p["build_seconds"],
        num(&p["latency_ms"]) / 1000.0,
        conv["floor_seconds"]
    );
    let header = ["figure", "value", "target", "floor / met?"].map(String::from);
    for r in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out += line.join(" | ").trim_end();
        out.push('\n');
    }
    out
}

/// A figure of the Markdown table: its name, its target, and how to read it from one run (the
/// cell, and whether the target is met when it applies to that run).
type Figure = (
    &'static str,
    &'static str,
    fn(&Value) -> (String, Option<bool>),
);

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

fn counts_cell(v: &Value) -> String {
    counts(v).replace(": ", " ")
}

const VM_FIGURES: &[Figure] = &[
    ("apply N LunaVMs (s)", "", |r| {
        (cell(&r["apply_seconds"]), None)
    }),
    ("convergence: all Ready", "≤ 1.3 × floor", |r| {
        let c = &r["convergence"];
        let ratio = num(&c["ratio_to_floor"]);
        (
            format!(
                "{} s = {ratio} × floor ({} s)",
                c["seconds"], c["floor_seconds"]
            ),
            Some(ratio <= 1.3),
        )
    }),
    ("cloud calls per converged object", "≤ 1.05", |r| {
        let c = &r["convergence"];
        let v = num(&c["cloud_calls_per_object"]);
        (
            format!("{v} (floor {})", c["floor_calls_per_object"]),
            Some(v <= 1.05),
        )
    }),
    ("convergence calls by action", "", |r| {
        (counts_cell(&r["convergence"]["cloud_calls"]), None)
    }),
    (
        "operator Kubernetes writes per converged object",
        "≤ 4",
        |r| {
            let v = num(&r["convergence"]["operator_kube_writes_per_object"]);
            (format!("{v}"), Some(v <= 4.0))
        },
    ),
    ("convergence writes by resource", "", |r| {
        (counts_cell(&r["convergence"]["kube_writes"]), None)
    }),
    (
        "steady: cloud calls per minute",
        "≤ 30, not growing with N",
        |r| {
            let s = &r["steady"];
            let v = num(&s["cloud_calls_per_minute_total"]);
            (
                format!("{v} ({})", counts_cell(&s["cloud_calls_per_minute"])),
                Some(v <= 30.0),
            )
        },
    ),
    ("steady: operator Kubernetes writes per minute", "0", |r| {
        let v = num(&r["steady"]["kube_writes_per_minute_total"]);
        (format!("{v}"), Some(v == 0.0))
    }),
    (
        "restart: every LunaVM reconciled",
        "≤ 1.3 × list floor (N = 10,000)",
        |r| {
            let x = &r["restart"];
            let ratio = num(&x["ratio_to_list_floor"]);
            let applies = r["parameters"]["n"].as_u64() == Some(10_000);
            (
                format!(
                    "{} s = {ratio} × list floor ({} s)",
                    x["seconds_to_reconcile_all"], x["list_floor_seconds"]
                ),
                applies.then_some(ratio <= 1.3),
            )
        },
    ),
    ("restart: cloud calls", "no write, one list per kind", |r| {
        let x = &r["restart"];
        (
            counts_cell(&x["cloud_calls"]),
            Some(x["cloud_writes"].as_u64() == Some(0)),
        )
    }),
    ("resize 10 %: all Ready again", "≤ 1.3 × floor", |r| {
        let x = &r["resize"];
        let ratio = round2(num(&x["seconds"]) / num(&x["floor_seconds"]));
        (
            format!(
                "{} s = {ratio} × floor ({} s)",
                x["seconds"], x["floor_seconds"]
            ),
            Some(ratio <= 1.3),
        )
    }),
    ("resize: `vm info` per resized VM", "≤ 1.2", |r| {
        let x = &r["resize"];
        let infos = x["cloud_calls"]["vm/info"].as_f64().unwrap_or(0.0);
        let per = round2(infos / num(&x["count"]).max(1.0));
        (
            format!("{per} ({})", counts_cell(&x["cloud_calls"])),
            Some(per <= 1.2),
        )
    }),
    ("delete all, nothing left", "", |r| {
        let x = &r["delete"];
        (
            format!(
                "{} s (floor {} s); {}",
                x["seconds"],
                x["floor_seconds"],
                counts_cell(&x["cloud_calls"])
            ),
            None,
        )
    }),
    ("operator RSS idle (MiB)", "≤ 16", |r| {
        let v = num(&r["memory"]["idle_rss_mib"]);
        (format!("{v}"), Some(v <= 16.0))
    }),
    ("operator RSS steady (MiB)", "≤ 64 at N = 10,000", |r| {
        let v = num(&r["memory"]["steady_rss_mib"]);
        let applies = r["parameters"]["n"].as_u64() == Some(10_000);
        (format!("{v}"), applies.then_some(v <= 64.0))
    }),
    ("RSS per object above idle (KiB)", "≤ 5", |r| {
        let v = num(&r["memory"]["steady_kib_per_object_above_idle"]);
        (format!("{v}"), Some(v <= 5.0))
    }),
    ("operator RSS peak, with a relist (MiB)", "≤ 128", |r| {
        let v = num(&r["memory"]["peak_rss_mib"]);
        (format!("{v}"), Some(v <= 128.0))
    }),
    (
        "operator CPU steady (millicores)",
        "≤ 5 at N = 1000",
        |r| {
            let v = num(&r["cpu"]["steady_millicores"]);
            let applies = r["parameters"]["n"].as_u64() == Some(1000);
            (format!("{v}"), applies.then_some(v <= 5.0))
        },
    ),
];

const MIXED_FIGURES: &[Figure] = &[
    ("objects", "", |r| {
        (counts_cell(&r["objects_by_kind"]), None)
    }),
    ("convergence: all Ready", "", |r| {
        let c = &r["convergence"];
        (
            format!(
                "{} s = {} × floor ({} s)",
                c["seconds"], c["ratio_to_floor"], c["floor_seconds"]
            ),
            None,
        )
    }),
    ("convergence calls by action", "", |r| {
        (counts_cell(&r["convergence"]["cloud_calls"]), None)
    }),
    ("cloud writes at the floor", "", |r| {
        (counts_cell(&r["convergence"]["floor_cloud_writes"]), None)
    }),
    ("operator Kubernetes writes per object", "≤ 4", |r| {
        let v = num(&r["convergence"]["operator_kube_writes_per_object"]);
        (format!("{v}"), Some(v <= 4.0))
    }),
    (
        "steady: cloud calls per minute",
        "not growing with N",
        |r| {
            let s = &r["steady"];
            (
                format!(
                    "{} ({})",
                    s["cloud_calls_per_minute_total"],
                    counts_cell(&s["cloud_calls_per_minute"])
                ),
                None,
            )
        },
    ),
    ("steady: operator Kubernetes writes per minute", "0", |r| {
        let v = num(&r["steady"]["kube_writes_per_minute_total"]);
        (format!("{v}"), Some(v == 0.0))
    }),
    ("delete all, nothing left", "", |r| {
        let x = &r["delete"];
        (
            format!("{} s; {}", x["seconds"], counts_cell(&x["cloud_calls"])),
            None,
        )
    }),
    ("RSS steady / peak (MiB)", "", |r| {
        let m = &r["memory"];
        (
            format!("{} / {}", m["steady_rss_mib"], m["peak_rss_mib"]),
            None,
        )
    }),
    ("RSS per object above idle (KiB)", "≤ 5", |r| {
        let v = num(&r["memory"]["steady_kib_per_object_above_idle"]);
        (format!("{v}"), Some(v <= 5.0))
    }),
];

fn markdown_table(
    runs: &[&Value],
    heading: impl Fn(&Value) -> String,
    figures: &[Figure],
) -> String {
    let mut out = String::from("| Figure |");
    for run in runs {
        out += &format!(" {} |", heading(run));
    }
    out += " Target | Met? |\n|---|";
    out += &"---|".repeat(runs.len() + 2);
    out.push('\n');
    for (name, target, read) in figures {
        let cells: Vec<(String, Option<bool>)> = runs.iter().map(|run| read(run)).collect();
        let verdicts: Vec<String> = cells
            .iter()
            .zip(runs)
            .filter_map(|((_, met), run)| met.map(|met| (met, heading(run))))
            .map(|(met, run)| format!("{} {run}", if met { "yes" } else { "**no**" }))
            .collect();
        out += &format!("| {name} |");
        for (value, _) in &cells {
            out += &format!(" {value} |");
        }
        let met = if target.is_empty() {
            String::new()
        } else {
            verdicts.join(", ")
        };
        out += &format!(" {target} | {met} |\n");
    }
    out
}

/// The Markdown tables of a set of runs: the LunaVM runs by N, then the mixed scenarios.
pub fn markdown(runs: &[Value]) -> String {
    let mut vms: Vec<&Value> = runs.iter().filter(|r| r["scenario"] == "vms").collect();
    vms.sort_by_key(|r| r["parameters"]["n"].as_u64().unwrap_or(0));
    let mixed: Vec<&Value> = runs.iter().filter(|r| r["scenario"] != "vms").collect();
    let mut out = String::new();
    if !vms.is_empty() {
        out += &markdown_table(
            &vms,
            |r| format!("N = {}", r["parameters"]["n"]),
            VM_FIGURES,
        );
    }
    if !mixed.is_empty() {
        out.push('\n');
        out += &markdown_table(
            &mixed,
            |r| format!("`{}`", r["scenario"].as_str().unwrap_or("?")),
            MIXED_FIGURES,
        );
    }
    out
}
