//! The canned HTTP server the client's HTTP-level tests run against: it answers from a queue of
//! canned responses on 127.0.0.1 and records what it received. No network beyond loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
};
use secrecy::SecretString;

use super::{Attempt, Client, ClientConfig, Credentials, RetryPolicy};

/// A canned answer: status, optional `Retry-After` and `Location`, body, and a delay before
/// answering.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub retry_after: Option<&'static str>,
    pub location: Option<String>,
    pub body: String,
    pub delay: Duration,
}

pub fn ok(body: &str) -> Canned {
    Canned {
        status: 200,
        retry_after: None,
        location: None,
        body: body.to_owned(),
        delay: Duration::ZERO,
    }
}

pub fn status(status: u16, body: &str) -> Canned {
    Canned { status, ..ok(body) }
}

/// What the server saw: path and form fields of each request.
#[derive(Default)]
pub struct Seen {
    pub requests: Vec<(String, Vec<(String, String)>)>,
}

#[derive(Clone, Default)]
pub struct Server {
    pub answers: Arc<Mutex<VecDeque<Canned>>>,
    pub seen: Arc<Mutex<Seen>>,
    pub echo: bool,
}

impl Server {
    pub fn requests(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.seen.lock().unwrap().requests.clone()
    }

    pub fn field(&self, index: usize, name: &str) -> Option<String> {
        self.requests()[index]
            .1
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }
}

async fn answer(
    State(server): State<Server>,
    uri: Uri,
    body: String,
) -> (StatusCode, HeaderMap, String) {
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    server
        .seen
        .lock()
        .unwrap()
        .requests
        .push((uri.path().to_owned(), form));
    if server.echo {
        let text = serde_json::json!({"success": "no", "error": format!("bad request: {body}")});
        return (StatusCode::OK, HeaderMap::new(), text.to_string());
    }
    let canned = server
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| ok(r#"{"success":"yes"}"#));
    tokio::time::sleep(canned.delay).await;
    let mut headers = HeaderMap::new();
    if let Some(after) = canned.retry_after {
        headers.insert("retry-after", after.parse().unwrap());
    }
    if let Some(location) = &canned.location {
        headers.insert("location", location.parse().unwrap());
    }
    (
        StatusCode::from_u16(canned.status).unwrap(),
        headers,
        canned.body,
    )
}

pub async fn start(answers: Vec<Canned>) -> (Server, String) {
    start_with(Server {
        answers: Arc::new(Mutex::new(answers.into())),
        ..Server::default()
    })
    .await
}

pub async fn start_with(server: Server) -> (Server, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().fallback(answer).with_state(server.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (server, format!("http://{address}/api/"))
}

pub const ID: &str = "abcdefghijklmnop";

pub fn key() -> String {
    "K9x".repeat(42) + "zz"
}

pub type Attempts = Arc<Mutex<Vec<(&'static str, &'static str, &'static str)>>>;

pub fn new_client(endpoint: &str, configure: impl FnOnce(&mut ClientConfig)) -> (Client, Attempts) {
    let attempts: Attempts = Arc::default();
    let log = attempts.clone();
    let mut config = ClientConfig {
        endpoint: endpoint.to_owned(),
        timeout: Duration::from_secs(5),
        requests_per_second: 0.0,
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
        },
        observer: Some(Arc::new(move |attempt: &Attempt| {
            log.lock()
                .unwrap()
                .push((attempt.category, attempt.action, attempt.outcome));
        })),
        // The canned server speaks plain http on loopback.
        allow_insecure: true,
        ..ClientConfig::default()
    };
    configure(&mut config);
    let credentials = Credentials::new(ID, SecretString::from(key())).unwrap();
    (Client::new(credentials, config).unwrap(), attempts)
}

pub fn outcomes(attempts: &Attempts) -> Vec<&'static str> {
    attempts
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, outcome)| *outcome)
        .collect()
}
