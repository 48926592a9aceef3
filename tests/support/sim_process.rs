//! Helpers for tests that talk to the Luna Node simulator over HTTP: start it in-process or as
//! the real binary, and sign requests exactly as the wire reference describes (with the
//! library's `sign` module, not the API client).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use lunanode_operator::{
    lunanode::sign,
    sim::{self, SimConfig, Simulator},
};
use serde_json::Value;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// The reference's test API ID.
pub const API_ID: &str = "abcdefghijklmnop";

/// The reference's test key: the alphabet four times, then `a..x` (128 characters).
pub fn api_key() -> String {
    let mut key = "abcdefghijklmnopqrstuvwxyz".repeat(4);
    key.push_str("abcdefghijklmnopqrstuvwx");
    key
}

/// A second, unrelated account.
pub const OTHER_ID: &str = "ponmlkjihgfedcba";

/// The second account's key.
pub fn other_key() -> String {
    "Z9".repeat(64)
}

/// A config with both test accounts, a 20 s build and a fixed seed.
pub fn config() -> SimConfig {
    SimConfig {
        seed: Some(42),
        ..SimConfig::default()
    }
    .with_account(API_ID, api_key())
    .with_account(OTHER_ID, other_key())
}

/// Now, in whole seconds, as a nonce.
pub fn nonce() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

/// A simulator served in-process on a free loopback port.
pub struct InProcess {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The simulator, for direct inspection.
    pub sim: Arc<Simulator>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl InProcess {
    /// Starts one.
    pub async fn start(config: SimConfig) -> Self {
        let sim = Simulator::try_new(config).expect("valid config");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(sim::serve_with_shutdown(listener, sim.clone(), async {
            let _ = rx.await;
        }));
        Self {
            base,
            sim,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// A signing client for the first account.
    pub fn client(&self) -> SignedClient {
        SignedClient::new(&self.base, API_ID, &api_key())
    }

    /// A signing client for the second account.
    pub fn other_client(&self) -> SignedClient {
        SignedClient::new(&self.base, OTHER_ID, &other_key())
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap(),
            None => Ok(()),
        }
    }

    /// `GET /_sim/<path>` as JSON.
    pub async fn admin_get(&self, path: &str) -> Value {
        let body = reqwest::get(format!("{}/_sim/{path}", self.base))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// `POST /_sim/<path>` with a JSON body; returns the status and the JSON answer.
    pub async fn admin_post(&self, path: &str, body: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/_sim/{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sets the faults (panics when refused).
    pub async fn set_faults(&self, faults: Value) {
        let (status, answer) = self.admin_post("faults", &faults.to_string()).await;
        assert_eq!(
            status, 200,
            "the simulator refused the faults {faults}: {answer}"
        );
    }

    /// Moves the simulated clock forward.
    pub async fn advance(&self, seconds: u64) {
        let (status, answer) = self
            .admin_post("clock", &format!(r#"{{"advance_seconds": {seconds}}}"#))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
}

/// The project's API client of one account for the simulator's API at `endpoint`
/// (`http://ADDR/api/`), without a rate limit; `adjust` changes the rest of its configuration
/// (timeout, retry policy).
pub fn api_client(
    endpoint: &str,
    api_id: &str,
    key: &str,
    adjust: impl FnOnce(&mut lunanode_operator::lunanode::ClientConfig),
) -> lunanode_operator::lunanode::Client {
    use lunanode_operator::lunanode::{Client, ClientConfig, Credentials};
    let credentials =
        Credentials::new(api_id.to_owned(), key.to_owned().into()).expect("test credentials");
    let mut config = ClientConfig {
        endpoint: endpoint.to_owned(),
        requests_per_second: 0.0,
        allow_insecure: true,
        ..ClientConfig::default()
    };
    adjust(&mut config);
    Client::new(credentials, config).expect("a client")
}

/// Signs and sends API calls.
#[derive(Clone)]
pub struct SignedClient {
    base: String,
    api_id: String,
    key: String,
    http: reqwest::Client,
    /// When set, `call` goes through the project's client instead of signing here.
    rust_client: Option<lunanode_operator::lunanode::Client>,
}

/// A raw answer.
#[derive(Debug)]
pub struct Raw {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// `Retry-After`, if any.
    pub retry_after: Option<String>,
    /// Body text.
    pub body: String,
}

impl Raw {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl SignedClient {
    /// A client for one account.
    pub fn new(base: &str, api_id: &str, key: &str) -> Self {
        Self {
            base: base.to_owned(),
            api_id: api_id.to_owned(),
            key: key.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            rust_client: None,
        }
    }

    /// The same account, with `call` (and so `ok` and `error`) made through
    /// `lunanode::Client`: its signing, transport and decoding.
    pub fn through_rust_client(mut self) -> Self {
        let endpoint = format!("{}/api/", self.base);
        self.rust_client = Some(api_client(&endpoint, &self.api_id, &self.key, |_| {}));
        self
    }

    /// The `req` JSON for these parameters (compact, strings, api_* last).
    pub fn req(&self, params: &[(&str, &str)]) -> String {
        sign::request_json(
            &self.api_id,
            &self.key[..sign::PARTIAL_KEY_LEN.min(self.key.len())],
            params.iter().copied(),
        )
    }

    /// Sends a raw form body to `/api/{category}/{action}/`.
    pub async fn send_form(&self, category: &str, action: &str, form: &[(&str, &str)]) -> Raw {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send_body(
            category,
            action,
            body.into_bytes(),
            "application/x-www-form-urlencoded",
        )
        .await
    }

    /// Sends any body to `/api/{category}/{action}/`.
    pub async fn send_body(
        &self,
        category: &str,
        action: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Raw {
        let response = self
            .http
            .post(format!("{}/api/{category}/{action}/", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        raw(response).await
    }

    /// Signs `req` with `nonce` and sends it.
    pub async fn send_signed(&self, category: &str, action: &str, req: &str, nonce: &str) -> Raw {
        let signature = sign::signature(
            self.key.as_bytes(),
            &sign::handler(category, action),
            req,
            nonce,
        );
        self.send_form(
            category,
            action,
            &[("req", req), ("signature", &signature), ("nonce", nonce)],
        )
        .await
    }

    /// Calls an action; returns the decoded answer (success or not).
    pub async fn call(&self, category: &str, action: &str, params: &[(&str, &str)]) -> Value {
        if let Some(client) = &self.rust_client {
            use lunanode_operator::lunanode::Error;
            return match client.request(category, action, params).await {
                Ok(value) => value,
                Err(Error::Api { message }) => {
                    serde_json::json!({"success": "no", "error": message})
                }
                Err(other) => panic!("{category}/{action}: {other}"),
            };
        }
        let req = self.req(params);
        self.send_signed(category, action, &req, &nonce())
            .await
            .json()
    }

    /// Calls an action that must succeed.
    pub async fn ok(&self, category: &str, action: &str, params: &[(&str, &str)]) -> Value {
        let answer = self.call(category, action, params).await;
        assert_eq!(answer["success"], "yes", "{category}/{action}: {answer}");
        answer
    }

    /// Calls an action that must fail; returns the error text.
    pub async fn error(&self, category: &str, action: &str, params: &[(&str, &str)]) -> String {
        let answer = self.call(category, action, params).await;
        assert_eq!(answer["success"], "no", "{category}/{action}: {answer}");
        answer["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// Reads a response into a [`Raw`].
pub async fn raw(response: reqwest::Response) -> Raw {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let body = response.text().await.unwrap();
    Raw {
        status,
        content_type,
        retry_after,
        body,
    }
}

/// The simulator binary running as a child process; killed when dropped.
pub struct SimProcess {
    child: Child,
    /// `http://ADDR` from the `listening on` line.
    pub base: String,
}

impl SimProcess {
    /// Starts `lunanode-operator sim --listen 127.0.0.1:0 <extra args>` (logging warnings
    /// only) and waits for its `listening on` line, which must come first.
    pub fn start(binary: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(binary)
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("LUNANODE_API_ID")
            .env_remove("LUNANODE_API_KEY")
            .env("LUNANODE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the simulator binary");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).expect("read the first line");
        // Keep draining its standard output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Self { child, base }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
