//! Client settings: endpoint, timeout, rate limit, retry policy, legacy mode and the metrics hook.

use std::{fmt, sync::Arc, time::Duration};

/// The public API's base URL.
pub const DEFAULT_ENDPOINT: &str = "https://dynamic.lunanode.com/api/";

/// One HTTP attempt, as an [`Observer`] sees it: no parameters, IDs or secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// The action's (static) category, e.g. `vm`.
    pub category: &'static str,
    /// The action's name, e.g. `list`.
    pub action: &'static str,
    /// `"ok"` or [`super::Error::category`].
    pub outcome: &'static str,
    /// How long the attempt took.
    pub duration: Duration,
}

/// Called after every HTTP attempt, for metrics. It runs on the request's task, so it must be
/// quick.
pub trait Observer: Send + Sync {
    /// One HTTP attempt finished.
    fn observe(&self, attempt: &Attempt);
}

impl<F: Fn(&Attempt) + Send + Sync> Observer for F {
    fn observe(&self, attempt: &Attempt) {
        self(attempt);
    }
}

/// When and how often the client retries on its own.
///
/// Only throttled and transient failures are retried, with jittered exponential backoff, and a
/// transient failure of an action that is not safe to repeat (a create) only when the request
/// certainly never reached the server (see [`super::actions::ActionSpec::is_idempotent`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 disables retries).
    pub max_attempts: u32,
    /// Delay before the first retry; it doubles on every further one.
    pub base_delay: Duration,
    /// Longest delay between two attempts. A server that asks for a longer wait than this gets
    /// its `Throttled` error handed to the caller instead of a sleeping task.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries at all: one attempt per call.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// How a [`super::Client`] talks to the API.
#[derive(Clone)]
pub struct ClientConfig {
    /// Base URL of the API, with the `/api/` path (default [`DEFAULT_ENDPOINT`]); requests go to
    /// `{endpoint}{category}/{action}/`. A URL without a path (`http://127.0.0.1:8080`) gets
    /// `/api/` appended, and a missing trailing slash is added.
    pub endpoint: String,
    /// Time limit of one HTTP attempt, connection included.
    pub timeout: Duration,
    /// Requests per second allowed for this client and all its clones (a token bucket); `0`
    /// means no limit.
    pub requests_per_second: f64,
    /// How many requests may go at once after a quiet spell (the bucket's size).
    pub burst: u32,
    /// Automatic retries.
    pub retry: RetryPolicy,
    /// Use the legacy API: POST to `{base}api.php` with `api_id`, **the whole `api_key` in clear**,
    /// `category`, `action` and the parameters as form fields. Off by default; only for keys
    /// that have legacy access and for what the signed API cannot do. TLS is then the only
    /// protection of the key.
    pub legacy: bool,
    /// The metrics hook, if any.
    pub observer: Option<Arc<dyn Observer>>,
    /// Accept a plain `http://` endpoint. Off by default: every signed request carries the API
    /// ID and the first half of the API key (`api_partialkey`), and a legacy one the whole key,
    /// so only a local simulator or a test server should be reached without TLS.
    pub allow_insecure: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            timeout: Duration::from_secs(30),
            requests_per_second: 5.0,
            burst: 10,
            retry: RetryPolicy::default(),
            legacy: false,
            observer: None,
            allow_insecure: false,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::debug_fields!(f, self, "ClientConfig" {
            endpoint, timeout, requests_per_second, burst, retry, legacy, allow_insecure,
            observer: self.observer.as_ref().map(|_| "set"),
        })
    }
}

/// The signed API's base URL from a configured endpoint: `/api/` added to a bare host, and a
/// trailing slash ensured.
pub(crate) fn normalize_endpoint(endpoint: &str) -> Result<String, String> {
    let trimmed = endpoint.trim();
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("the endpoint {trimmed:?} must start with http:// or https://"))?;
    let host_end = rest.find('/').unwrap_or(rest.len());
    if host_end == 0 {
        return Err(format!("the endpoint {trimmed:?} has no host"));
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "the endpoint {trimmed:?} must not have a query or fragment"
        ));
    }
    let path = &rest[host_end..];
    Ok(match path {
        "" | "/" => format!("{}/api/", trimmed.trim_end_matches('/')),
        _ if trimmed.ends_with('/') => trimmed.to_owned(),
        _ => format!("{trimmed}/"),
    })
}

/// Refuses a plain `http://` endpoint unless `allow_insecure` (see
/// [`ClientConfig::allow_insecure`]).
pub(crate) fn require_tls(endpoint: &str, allow_insecure: bool) -> Result<(), String> {
    if allow_insecure || !endpoint.starts_with("http://") {
        return Ok(());
    }
    Err(format!(
        "the endpoint {endpoint} is plain http: every request would carry the API ID and half of the API key in clear; use https, or allow it explicitly (--allow-insecure-endpoint) for a local simulator"
    ))
}

/// The largest answer the client reads, in bytes. A list of 10,000 VMs is a few MB; an answer
/// beyond this is refused (a decode error) instead of being held in memory.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// The legacy endpoint next to a signed-API base URL: `https://host/api/` becomes
/// `https://host/api.php`.
pub(crate) fn legacy_endpoint(base: &str) -> String {
    let trimmed = base.trim_end_matches('/');
    match trimmed.strip_suffix("/api") {
        Some(parent) => format!("{parent}/api.php"),
        None => format!("{trimmed}/api.php"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn endpoints_are_normalized() {
        assert_eq!(
            normalize_endpoint(DEFAULT_ENDPOINT).as_deref(),
            Ok(DEFAULT_ENDPOINT)
        );
        assert_eq!(
            normalize_endpoint("http://127.0.0.1:8080").as_deref(),
            Ok("http://127.0.0.1:8080/api/")
        );
        assert_eq!(
            normalize_endpoint("http://127.0.0.1:8080/").as_deref(),
            Ok("http://127.0.0.1:8080/api/")
        );
        assert_eq!(
            normalize_endpoint("http://sim:1/custom/api").as_deref(),
            Ok("http://sim:1/custom/api/")
        );
        assert!(normalize_endpoint("dynamic.lunanode.com").is_err());
        assert!(normalize_endpoint("https:///api/").is_err());
        assert!(normalize_endpoint("https://h/api/?x=1").is_err());
    }

    #[test]
    fn plain_http_needs_an_explicit_yes() {
        let refused = require_tls("http://sim:8080/api/", false).unwrap_err();
        assert!(refused.contains("--allow-insecure-endpoint"), "{refused}");
        assert!(require_tls("http://sim:8080/api/", true).is_ok());
        assert!(require_tls(DEFAULT_ENDPOINT, false).is_ok());
    }

    #[test]
    fn legacy_endpoint_sits_next_to_the_api_path() {
        assert_eq!(
            legacy_endpoint(DEFAULT_ENDPOINT),
            "https://dynamic.lunanode.com/api.php"
        );
        assert_eq!(legacy_endpoint("http://h:1/x/"), "http://h:1/x/api.php");
    }

    #[test]
    fn debug_mentions_the_observer_without_printing_it() {
        let config = ClientConfig {
            observer: Some(Arc::new(|_: &Attempt| {})),
            ..ClientConfig::default()
        };
        assert!(format!("{config:?}").contains("observer: Some(\"set\")"));
    }
}
