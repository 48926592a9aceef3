//! The processes under test: the local control plane (`tools/testenv/up.sh`), the simulator and
//! the operator, each its own process; and what `/proc` says about the operator.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result, bail};

/// The repository root (where `Cargo.toml` is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The release binary: `$CARGO_TARGET_DIR/release/lunanode-operator` (default `target/`).
pub fn operator_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                repo_root().join(dir)
            }
        })
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("release").join("lunanode-operator")
}

/// Builds the operator binary in release mode (a no-op when it is up to date).
pub async fn build_release() -> Result<()> {
    eprintln!("building the release binary (cargo build --release --bin lunanode-operator)");
    let status = tokio::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["build", "--release", "--bin", "lunanode-operator"])
        .current_dir(repo_root())
        .kill_on_drop(true)
        .status()
        .await
        .context("run cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed: {status}");
    }
    Ok(())
}

/// Everything the benchmark started. Dropping it stops the operator and the simulator (by their
/// PIDs) and the control plane (`down.sh`, which removes its folder), on success, on error and
/// on Ctrl-C alike.
pub struct Harness {
    /// The control plane's folder (kubeconfig, certificates, logs).
    pub dir: PathBuf,
    pub sim: Option<Child>,
    pub operator: Option<Child>,
    /// Set once the run finished; otherwise the end of the operator's log is printed.
    pub ok: bool,
    /// Where to copy the logs before the folder is removed.
    pub keep_logs: Option<PathBuf>,
    /// A program (and its arguments) the operator runs under, e.g. a heap profiler.
    pub wrapper: Vec<String>,
}

impl Harness {
    pub fn new(keep_logs: Option<PathBuf>, wrapper: Vec<String>) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("lunanode-bench-")
            .tempdir()?
            .keep();
        Ok(Self {
            dir,
            sim: None,
            operator: None,
            ok: false,
            keep_logs,
            wrapper,
        })
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// Starts etcd, kube-apiserver and kube-controller-manager with `up.sh` and waits until they
    /// are ready.
    pub async fn control_plane_up(&self) -> Result<()> {
        let log = std::fs::File::create(self.dir.join("up.log"))?;
        let status = tokio::process::Command::new(repo_root().join("tools/testenv/up.sh"))
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .status()
            .await
            .context("run tools/testenv/up.sh")?;
        if !status.success() {
            let log = std::fs::read_to_string(self.dir.join("up.log")).unwrap_or_default();
            bail!("the control plane did not start:\n{log}");
        }
        Ok(())
    }

    /// Starts the simulator and returns its base URL (`http://127.0.0.1:PORT`).
    pub fn start_simulator(
        &mut self,
        account: &(String, String),
        extra: &[String],
    ) -> Result<String> {
        let log = std::fs::File::create(self.dir.join("sim.log"))?;
        let mut child = Command::new(operator_binary())
            .args(["sim", "--listen", "127.0.0.1:0", "--api-id", &account.0])
            .args(["--api-key", &account.1])
            .args(extra)
            .env("LUNANODE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("start the simulator")?;
        let stdout = child.stdout.take().context("simulator stdout")?;
        self.sim = Some(child);
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .context("the simulator exited before printing its address")??;
            if let Some(address) = line.trim().strip_prefix("listening on ") {
                break address.trim_end_matches('/').to_owned();
            }
        };
        // Keep draining its standard output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(base)
    }

    /// Starts the operator; returns its PID.
    pub fn start_operator(&mut self, args: &[String], log_filter: &str) -> Result<u32> {
        let log = std::fs::File::create(self.operator_log())?;
        // `--operator-wrapper "heaptrack -o FILE"` runs the operator under a profiler.
        let mut command = match self.wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(operator_binary());
                command
            }
            None => Command::new(operator_binary()),
        };
        let child = command
            .arg("run")
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("LUNANODE_LOG", log_filter)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start the operator")?;
        let pid = child.id();
        self.operator = Some(child);
        Ok(pid)
    }

    pub fn operator_log(&self) -> PathBuf {
        self.dir.join("operator.log")
    }

    /// Waits until the operator logs that it serves `/healthz` (it is then watching).
    pub async fn operator_started(&mut self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let log = std::fs::read_to_string(self.operator_log()).unwrap_or_default();
            if log.contains("serving /healthz") {
                return Ok(());
            }
            if let Some(child) = self.operator.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("the operator exited ({status}):\n{log}");
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the operator did not start in {timeout:?}:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks the operator to stop (SIGTERM), waiting up to ten seconds before killing it.
    pub fn stop_operator(&mut self) {
        let Some(mut child) = self.operator.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if !self.ok {
            let log = std::fs::read_to_string(self.operator_log()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            if !tail.is_empty() {
                eprintln!("--- last lines of the operator's log");
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        for child in [self.operator.take(), self.sim.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(keep) = &self.keep_logs {
            let _ = std::fs::create_dir_all(keep);
            for name in ["operator.log", "sim.log", "up.log"] {
                let _ = std::fs::copy(self.dir.join(name), keep.join(name));
            }
        }
        let _ = Command::new(repo_root().join("tools/testenv/down.sh"))
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("{field} in /proc/{pid}/status"))
}

/// User + system CPU seconds of a process (`/proc/PID/stat` fields 14 and 15).
pub fn cpu_seconds(pid: u32, ticks_per_second: f64) -> Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = text.rsplit_once(')').context("/proc/PID/stat format")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state), so field 14 is index 11.
    let utime: f64 = fields.get(11).context("utime")?.parse()?;
    let stime: f64 = fields.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / ticks_per_second)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The machine, for the record: cores, memory, kernel, load when the run started.
pub fn machine() -> serde_json::Value {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    serde_json::json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_gib": (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "kernel": read("/proc/sys/kernel/osrelease"),
        "loadavg_at_start": read("/proc/loadavg"),
    })
}

/// Whether a path exists (for a clearer message than the spawn error).
pub fn require(path: &Path, what: &str) -> Result<()> {
    if !path.exists() {
        bail!("{what} not found at {}", path.display());
    }
    Ok(())
}
