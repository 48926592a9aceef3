//! The simulator and the operator as separate processes, as users run them: each test starts
//! its own, and dropping the handle kills the process.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

/// The project's binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_lunanode-operator")
}

/// The operator binary the tests run: this build, or `LUNANODE_OPERATOR_BINARY` (an older
/// build, to show that a test catches what it was written for).
pub fn operator_binary() -> String {
    std::env::var("LUNANODE_OPERATOR_BINARY").unwrap_or_else(|_| binary().to_owned())
}

/// A 16-character API ID and a 128-character key for a test account.
pub fn test_account(tag: char) -> (String, String) {
    let id: String = format!("testapiid{tag}")
        .chars()
        .chain(std::iter::repeat('0'))
        .take(16)
        .collect();
    let key: String = format!("key{tag}").chars().cycle().take(128).collect();
    (id, key)
}

/// A simulator process.
pub struct Simulator {
    _process: super::sim_process::SimProcess,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    http: reqwest::Client,
}

impl Simulator {
    /// Starts `lunanode-operator sim` on a free loopback port with one account and `extra`
    /// arguments, and waits for its `listening on` line.
    pub fn start(account: &(String, String), extra: &[&str]) -> Self {
        let mut args = vec![
            "--api-id",
            account.0.as_str(),
            "--api-key",
            account.1.as_str(),
        ];
        args.extend_from_slice(extra);
        let process = super::sim_process::SimProcess::start(binary(), &args);
        Self {
            base: process.base.trim_end_matches('/').to_owned(),
            _process: process,
            http: reqwest::Client::new(),
        }
    }

    /// The API endpoint to give a client: `http://127.0.0.1:PORT/api/`.
    pub fn endpoint(&self) -> String {
        format!("{}/api/", self.base)
    }

    /// `GET /_sim/<path>` as JSON.
    pub async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/_sim/{path}", self.base))
            .send()
            .await
            .expect("admin request")
            .json()
            .await
            .expect("admin JSON")
    }

    /// `POST /_sim/<path>` with a JSON body.
    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/_sim/{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("admin request");
        assert!(
            response.status().is_success(),
            "admin {path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    /// The simulator's whole state.
    pub async fn state(&self) -> Value {
        self.admin_get("state").await
    }

    /// Every VM the simulator holds, whatever account (from `/_sim/state`).
    pub async fn vms(&self) -> Vec<Value> {
        self.objects("vms").await
    }

    /// Every object of one kind the simulator holds, whatever account: `key` is the kind's
    /// field in `/_sim/state` (`vms`, `volumes`, `floating_ips`, `networks`, ...).
    pub async fn objects(&self, key: &str) -> Vec<Value> {
        fn collect(value: &Value, key: &str, found: &mut Vec<Value>) {
            match value {
                Value::Object(map) => {
                    if let Some(vms) = map.get(key) {
                        match vms {
                            Value::Array(items) => found.extend(items.iter().cloned()),
                            Value::Object(items) => found.extend(items.values().cloned()),
                            _ => {}
                        }
                        return;
                    }
                    map.values().for_each(|item| collect(item, key, found));
                }
                Value::Array(items) => items.iter().for_each(|item| collect(item, key, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        collect(&self.state().await, key, &mut found);
        found
    }

    /// The `name` of every object of collection `key` (see [`Self::objects`]), sorted.
    pub async fn names(&self, key: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .objects(key)
            .await
            .iter()
            .map(|object| object["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        names
    }

    /// The write calls the simulator answered so far, by action (everything but lists and
    /// reads).
    pub async fn writes(&self) -> std::collections::BTreeMap<String, u64> {
        let stats = self.admin_get("stats").await;
        stats["actions"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(action, _)| {
                let verb = action.rsplit('/').next().unwrap_or(action);
                !matches!(
                    verb,
                    "list" | "info" | "details" | "get" | "credit" | "usage" | "iplist"
                ) && !verb.ends_with("-list")
            })
            .map(|(action, counts)| (action.clone(), counts["calls"].as_u64().unwrap_or(0)))
            .collect()
    }

    /// How many calls of `category/action` the simulator answered.
    pub async fn calls(&self, action: &str) -> u64 {
        let stats = self.admin_get("stats").await;
        count_calls(&stats, action)
    }
}

/// A Luna Node client of `account` on the simulator at `endpoint`, without a rate limit: for
/// objects made outside the operator and for reading what the simulator holds.
pub fn cloud_client(
    endpoint: &str,
    account: &(String, String),
) -> lunanode_operator::lunanode::Client {
    super::sim_process::api_client(endpoint, &account.0, &account.1, |_| {})
}

/// The password of every VM of `account`, as the simulator reports it (`vm info` login
/// details): what the operator copies into connection Secrets and must show nowhere else.
pub async fn reported_passwords(endpoint: &str, account: &(String, String)) -> Vec<String> {
    use secrecy::ExposeSecret;
    let client = cloud_client(endpoint, account);
    let mut found = Vec::new();
    for vm in client.vm_list().await.expect("vm list") {
        let info = client.vm_info(&vm.vm_id).await.expect("vm info");
        if let Some(login) = info.info.login_details {
            for part in login.expose_secret().split(';') {
                if let Some((name, value)) = part.split_once(':') {
                    if name.trim() == "password" && !value.trim().is_empty() {
                        found.push(value.trim().to_owned());
                    }
                }
            }
        }
    }
    found
}

/// The number of calls of `action` in a `/_sim/stats` document
/// (`{"actions": {"vm/list": {"calls": 3, ...}}}`).
pub fn count_calls(stats: &Value, action: &str) -> u64 {
    stats["actions"][action]["calls"].as_u64().unwrap_or(0)
}

/// An operator process (`lunanode-operator run`).
pub struct Operator {
    child: Option<Child>,
    kubeconfig: PathBuf,
    endpoint: String,
    extra: Vec<String>,
    /// Its log file (standard error), for greps.
    pub log: PathBuf,
}

impl Operator {
    /// Starts the operator against the control plane in `kubeconfig` and the API at `endpoint`.
    pub fn start(kubeconfig: &Path, endpoint: &str, extra: &[&str]) -> Self {
        let log = tempfile::Builder::new()
            .prefix("lunanode-operator-log-")
            .tempfile()
            .expect("log file")
            .keep()
            .expect("keep log file")
            .1;
        let mut operator = Self {
            child: None,
            kubeconfig: kubeconfig.to_owned(),
            endpoint: endpoint.to_owned(),
            extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
            log,
        };
        operator.spawn();
        operator
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        // Quick polling for tests, unless the test chose its own.
        let mut defaults = Vec::new();
        for (flag, value) in [("--fast-poll-seconds", "1"), ("--slow-poll-seconds", "5")] {
            if !self.extra.iter().any(|arg| arg == flag) {
                defaults.extend([flag, value]);
            }
        }
        let child = Command::new(operator_binary())
            .args([
                "run",
                "--endpoint",
                &self.endpoint,
                "--allow-insecure-endpoint",
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .args(defaults)
            .args(&self.extra)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("LUNANODE_LOG", "info,lunanode_operator=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the operator");
        self.child = Some(child);
    }

    /// The operator's resident memory (`VmRSS`) in KiB, while it runs (Linux).
    #[allow(dead_code)]
    pub fn resident_kib(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Kills the operator at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the operator to stop (SIGTERM) and waits up to `timeout` for it to exit; returns
    /// its exit code (`None` if it had to be killed).
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Starts it again after [`Operator::kill`].
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The address of its current health and metrics server, read from its log.
    pub async fn metrics_address(&self) -> String {
        for _ in 0..300 {
            let logs = self.logs();
            // The last one: after a restart the log holds every run's address.
            if let Some(line) = logs
                .lines()
                .rev()
                .find(|line| line.contains("serving /healthz"))
            {
                let plain: String = strip_ansi(line);
                if let Some(address) = plain
                    .split_whitespace()
                    .find_map(|word| word.strip_prefix("address="))
                {
                    return address.to_owned();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the operator did not log its metrics address:\n{}",
            self.logs()
        );
    }

    /// The value of one series of its `/metrics`, written as it appears there (say
    /// `lunanode_accounts` or `lunanode_managed_objects{kind="LunaVM",ready="true"}`); `None`
    /// while it is not exported or the server does not answer.
    #[allow(dead_code)]
    pub async fn metric(&self, series: &str) -> Option<u64> {
        self.metric_value(series)
            .await
            .filter(|value| value.fract() == 0.0 && *value >= 0.0)
            .map(|value| value as u64)
    }

    /// The value of one series of its `/metrics`, as a number with a fraction (a gauge in
    /// dollars, say); see [`Self::metric`].
    #[allow(dead_code)]
    pub async fn metric_value(&self, series: &str) -> Option<f64> {
        let address = self.metrics_address().await;
        let text = reqwest::get(format!("http://{address}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let prefix = format!("{series} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|value| value.trim().parse().ok())
    }

    /// What it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        } else {
            eprintln!("operator log kept at {}", self.log.display());
        }
    }
}

/// Removes terminal colour codes from a log line.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Waits a little, for tests that must let time pass (never as an assertion of speed).
pub async fn pause(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}
