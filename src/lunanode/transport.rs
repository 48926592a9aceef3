//! One HTTP attempt: sign (or, in legacy mode, spell out) the request, POST it, and classify the
//! answer. Retries and rate limiting live in the client, one level up.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use secrecy::ExposeSecret;
use serde_json::Value;

use super::{
    actions::ActionSpec, config::MAX_RESPONSE_BYTES, credentials::Credentials, error::Error,
    response, sign,
};

/// The nonce source of one key: Unix seconds, never lower than the previous nonce. Equal nonces
/// in the same second are normal (LunaNode's own clients send them); running ahead of the clock
/// is not, so it never adds one.
#[derive(Debug, Default)]
pub struct NonceCounter {
    last: AtomicU64,
}

impl NonceCounter {
    /// The next nonce, from the system clock.
    pub fn next(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(0);
        self.next_at(now)
    }

    /// The next nonce given the current time `now` (a clock stepping back is absorbed).
    pub fn next_at(&self, now: u64) -> u64 {
        let previous = self.last.fetch_max(now, Ordering::SeqCst);
        previous.max(now)
    }
}

/// The HTTP side of a client.
#[derive(Debug)]
pub struct Transport {
    http: reqwest::Client,
    /// Signed API base URL, ending in `/`.
    endpoint: String,
    /// Where legacy requests go, when legacy mode is on.
    legacy_endpoint: Option<String>,
    credentials: Credentials,
    nonce: NonceCounter,
}

impl Transport {
    /// A transport for `credentials`; `legacy_endpoint` switches to the legacy API.
    pub fn new(
        http: reqwest::Client,
        endpoint: String,
        legacy_endpoint: Option<String>,
        credentials: Credentials,
    ) -> Self {
        Self {
            http,
            endpoint,
            legacy_endpoint,
            credentials,
            nonce: NonceCounter::default(),
        }
    }

    /// The signed API base URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The API ID.
    pub fn api_id(&self) -> &str {
        &self.credentials.api_id
    }

    /// Sends one request (parameters already checked and without empty values).
    pub async fn send(
        &self,
        spec: &ActionSpec,
        parameters: &[(&str, &str)],
    ) -> Result<Value, Error> {
        let request = match &self.legacy_endpoint {
            Some(url) => self.legacy_request(url, spec, parameters),
            None => self.signed_request(spec, parameters),
        };
        let result = self.exchange(request).await;
        result.map_err(|error| {
            // A server that echoes the request back (an HTML error page, a proxy) would put a
            // password or a private key into the error text: as sent (inside the JSON of `req`,
            // form-encoded) or as given.
            let sent: Vec<String> = parameters
                .iter()
                .filter(|(name, _)| crate::lunanode::actions::SECRET_PARAMETERS.contains(name))
                .flat_map(|(_, value)| encodings(value))
                .collect();
            let mut secrets = vec![
                self.credentials.api_key.expose_secret(),
                self.credentials.partial_key(),
            ];
            secrets.extend(sent.iter().map(String::as_str));
            error.redact(&secrets)
        })
    }

    fn signed_request(
        &self,
        spec: &ActionSpec,
        parameters: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let handler = sign::handler(spec.category, spec.action);
        let req = sign::request_json(
            &self.credentials.api_id,
            self.credentials.partial_key(),
            parameters.iter().copied(),
        );
        let nonce = self.nonce.next().to_string();
        let signature = sign::signature(
            self.credentials.api_key.expose_secret().as_bytes(),
            &handler,
            &req,
            &nonce,
        );
        let url = format!("{}{handler}", self.endpoint);
        self.http.post(url).form(&[
            ("req", req.as_str()),
            ("signature", signature.as_str()),
            ("nonce", nonce.as_str()),
        ])
    }

    /// The legacy form: everything, the whole key included, as plain form fields.
    fn legacy_request(
        &self,
        url: &str,
        spec: &ActionSpec,
        parameters: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut form: Vec<(&str, &str)> = vec![
            ("api_id", self.credentials.api_id.as_str()),
            ("api_key", self.credentials.api_key.expose_secret()),
            ("category", spec.category),
            ("action", spec.action),
        ];
        form.extend(parameters.iter().copied());
        self.http.post(url).form(&form)
    }

    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<Value, Error> {
        let response = request.send().await.map_err(|error| http_error(&error))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = read_capped(response).await?;
        response::interpret(status, retry_after.as_deref(), &body)
    }
}

/// The body of `response`, refused once it passes [`MAX_RESPONSE_BYTES`] (announced or read).
async fn read_capped(mut response: reqwest::Response) -> Result<String, Error> {
    let too_large = || Error::Decode {
        message: format!(
            "the answer is larger than {} MiB; it was not read",
            MAX_RESPONSE_BYTES / (1024 * 1024)
        ),
        snippet: String::new(),
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| http_error(&error))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Classifies a failure below HTTP: a connection that was never made means the request never
/// reached the server; anything later (timeouts, resets, closed connections, body errors) may
/// have come after the server received it.
fn http_error(error: &reqwest::Error) -> Error {
    let request_sent = !error.is_connect();
    let what = if error.is_timeout() {
        "request timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "connection broke while reading the response"
    } else {
        "connection error"
    };
    // The causes say "connection refused", "connection reset by peer" and the like; the URL is
    // left out (it is in the logs' span already and adds nothing).
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    let message = if causes.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {}", causes.join(": "))
    };
    Error::Transient {
        message,
        status: None,
        request_sent,
    }
}

/// The forms a secret value can take in a request: as given, escaped inside the JSON of `req`,
/// and both of those form-encoded.
fn encodings(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned();
    let form = |text: &str| {
        serde_urlencoded::to_string([("", text)])
            .unwrap_or_default()
            .trim_start_matches('=')
            .to_owned()
    };
    let mut forms = vec![value.to_owned(), form(value), form(&json), json];
    forms.sort();
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_never_go_back() {
        let counter = NonceCounter::default();
        assert_eq!(counter.next_at(100), 100);
        assert_eq!(counter.next_at(100), 100);
        assert_eq!(
            counter.next_at(90),
            100,
            "a clock stepping back keeps the last nonce"
        );
        assert_eq!(counter.next_at(101), 101);
        assert!(counter.next() >= 101);
        let now = counter.next();
        assert!(
            now > 1_600_000_000,
            "seconds since the epoch, not milliseconds: {now}"
        );
        assert!(now < 100_000_000_000);
    }
}
