//! The [`Client`]: checks a request against the action catalog, waits for the account's rate
//! limiter, sends it, and retries what is safe to retry.
//!
//! Retry rules (the crash-safety half of "never create twice"):
//! - only [`Error::Throttled`] and [`Error::Transient`] are retried, with jittered exponential
//!   backoff, never longer than the policy's `max_delay`;
//! - a throttled request was refused, so it is retried for every action (after at least the
//!   server's `Retry-After`);
//! - a transient failure is retried for an idempotent action (reads, deletes by ID, "set"
//!   actions), but for a create only when the connection was never made. A timeout, a dropped
//!   connection or a 5xx after a `vm/create` goes back to the caller, whose controller looks the
//!   object up before creating again.

use std::{num::NonZeroU32, sync::Arc, time::Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use super::{
    actions::{self, ActionSpec},
    config::{
        Attempt, ClientConfig, Observer, RetryPolicy, legacy_endpoint, normalize_endpoint,
        require_tls,
    },
    credentials::Credentials,
    error::Error,
    transport::Transport,
};

/// A Luna Node API client for one account. Cheap to clone: clones share the connection pool,
/// the nonce counter and the rate limiter.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    limiter: Option<DefaultDirectRateLimiter>,
    retry: RetryPolicy,
    observer: Option<Arc<dyn Observer>>,
    legacy: bool,
    /// A planning client's record of the writes it did not send.
    planned: Option<Arc<Planned>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_id", &self.api_id())
            .field("endpoint", &self.endpoint())
            .field("legacy", &self.inner.legacy)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `credentials` with `config`. Fails only on an unusable configuration
    /// (endpoint URL, rate).
    pub fn new(credentials: Credentials, config: ClientConfig) -> Result<Self, Error> {
        Self::build(credentials, config, None)
    }

    /// A client that sends reads (see [`ActionSpec::is_read`]) and sends no write: each write is
    /// recorded in the returned [`Planned`] and answered [`Error::InvalidRequest`] (refused,
    /// nothing happened). What `lunanode-operator plan` calls the cloud with.
    pub fn planning(
        credentials: Credentials,
        config: ClientConfig,
    ) -> Result<(Self, Arc<Planned>), Error> {
        let planned = Arc::new(Planned::default());
        let client = Self::build(credentials, config, Some(planned.clone()))?;
        Ok((client, planned))
    }

    fn build(
        credentials: Credentials,
        config: ClientConfig,
        planned: Option<Arc<Planned>>,
    ) -> Result<Self, Error> {
        let ClientConfig {
            endpoint,
            timeout,
            requests_per_second,
            burst,
            retry,
            legacy,
            observer,
            allow_insecure,
        } = config;
        let invalid = |message: String| Error::InvalidConfig { message };
        let endpoint = normalize_endpoint(&endpoint).map_err(invalid)?;
        require_tls(&endpoint, allow_insecure).map_err(invalid)?;
        let limiter = rate_limiter(requests_per_second, burst).map_err(invalid)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // Idle connections are dropped well before a typical server-side keep-alive limit,
            // so a poll rarely lands on a connection the server is closing.
            .pool_idle_timeout(std::time::Duration::from_secs(20))
            // A request is signed for its endpoint: a redirect would resend the signature (and
            // in legacy mode the key) to wherever the answer points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lunanode-operator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| invalid(format!("unable to build the http client: {error}")))?;
        let legacy_url = legacy.then(|| legacy_endpoint(&endpoint));
        Ok(Self {
            inner: Arc::new(Inner {
                transport: Transport::new(http, endpoint, legacy_url, credentials),
                limiter,
                retry,
                observer,
                legacy,
                planned,
            }),
        })
    }

    /// The account's API ID.
    pub fn api_id(&self) -> &str {
        self.inner.transport.api_id()
    }

    /// The signed API's base URL this client uses.
    pub fn endpoint(&self) -> &str {
        self.inner.transport.endpoint()
    }

    /// Calls any catalogued action and returns the whole response object (`success` included).
    ///
    /// Before anything is sent: the action must be in [`actions::ACTIONS`], parameters with an
    /// empty value are dropped (unset optionals are never sent as `""`), `api_id` and
    /// `api_partialkey` are refused as parameter names, and every required parameter must be
    /// present ("vm_id not set"). Parameters the catalog does not list are passed through, since
    /// some actions take type-specific ones (`monitor/check-add`).
    pub async fn request(
        &self,
        category: &str,
        action: &str,
        parameters: &[(&str, &str)],
    ) -> Result<Value, Error> {
        let spec = actions::find(category, action)
            .ok_or_else(|| Error::invalid_request(format!("unknown action {category}/{action}")))?;
        let parameters = check_parameters(spec, parameters)?;
        if let Some(planned) = &self.inner.planned {
            if !spec.is_read() {
                planned.record(spec, &parameters);
                return Err(Error::invalid_request(format!(
                    "{} not sent: a plan makes no change",
                    spec.path()
                )));
            }
        }
        let span = tracing::debug_span!("lunanode", category = spec.category, action = spec.action);
        self.send_with_retries(spec, &parameters)
            .instrument(span)
            .await
    }

    /// Like [`Client::request`], and decodes the response into `T`.
    pub async fn request_as<T: DeserializeOwned>(
        &self,
        category: &str,
        action: &str,
        parameters: &[(&str, &str)],
    ) -> Result<T, Error> {
        let value = self.request(category, action, parameters).await?;
        decode_response(category, action, value)
    }

    async fn send_with_retries(
        &self,
        spec: &'static ActionSpec,
        parameters: &[(&str, &str)],
    ) -> Result<Value, Error> {
        let policy = &self.inner.retry;
        // backon computes the jittered exponential schedule (a well-tested, tiny crate already in
        // the tree); the loop stays ours because the decision needs the action's idempotency, the
        // error's class and the server's Retry-After, and every attempt must pass the limiter.
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(policy.base_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
            .build();
        let mut attempt = 1u32;
        loop {
            if let Some(limiter) = &self.inner.limiter {
                limiter.until_ready().await;
            }
            let started = Instant::now();
            let result = self.inner.transport.send(spec, parameters).await;
            let outcome = result.as_ref().map_or_else(Error::category, |_| "ok");
            if let Some(observer) = &self.inner.observer {
                observer.observe(&Attempt {
                    category: spec.category,
                    action: spec.action,
                    outcome,
                    duration: started.elapsed(),
                });
            }
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !should_retry(spec, &error) {
                return Err(error);
            }
            let Some(mut delay) = delays.next() else {
                return Err(error);
            };
            if let Some(after) = error.retry_after() {
                if after > policy.max_delay {
                    // A long wait belongs to the caller's requeue, not a sleeping task.
                    return Err(error);
                }
                delay = delay.max(after);
            }
            tracing::debug!(attempt, ?delay, %error, "retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// The writes a [planning](Client::planning) client was asked to make, in order.
#[derive(Debug, Default)]
pub struct Planned {
    calls: std::sync::Mutex<Vec<PlannedCall>>,
}

impl Planned {
    fn record(&self, spec: &ActionSpec, parameters: &[(&str, &str)]) {
        let call = PlannedCall {
            category: spec.category,
            action: spec.action,
            parameters: parameters
                .iter()
                .map(|(name, value)| ((*name).to_owned(), shown(name, value)))
                .collect(),
        };
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(call);
    }

    /// The calls recorded since the last take.
    pub fn take(&self) -> Vec<PlannedCall> {
        std::mem::take(
            &mut *self
                .calls
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// How a parameter value is shown in a plan: secrets never (their length neither); a script's
/// content (it may come from a Secret), long or multi-line values (a key) by their size.
fn shown(name: &str, value: &str) -> String {
    if actions::SECRET_PARAMETERS.contains(&name) {
        "[redacted]".to_owned()
    } else if name == "content" || value.len() > 64 || value.contains('\n') {
        format!("<{} bytes>", value.len())
    } else {
        value.to_owned()
    }
}

/// One write a plan would make: `vm resize vm_id=… plan_id=m.4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCall {
    /// The category label (`vm`).
    pub category: &'static str,
    /// The action label (`resize`).
    pub action: &'static str,
    /// The parameters as sent (empty ones dropped), values shown as [`shown`] says.
    pub parameters: Vec<(String, String)>,
}

impl std::fmt::Display for PlannedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.category, self.action)?;
        for (name, value) in &self.parameters {
            if value.contains(char::is_whitespace) {
                write!(f, " {name}={value:?}")?;
            } else {
                write!(f, " {name}={value}")?;
            }
        }
        Ok(())
    }
}

/// Whether the client may resend after `error` (see the module documentation).
pub fn should_retry(spec: &ActionSpec, error: &Error) -> bool {
    match error {
        Error::Throttled { .. } => true,
        Error::Transient { request_sent, .. } => !request_sent || spec.is_idempotent(),
        _ => false,
    }
}

/// Drops empty values and checks names and required parameters.
pub fn check_parameters<'a>(
    spec: &ActionSpec,
    parameters: &[(&'a str, &'a str)],
) -> Result<Vec<(&'a str, &'a str)>, Error> {
    let kept: Vec<(&str, &str)> = parameters
        .iter()
        .copied()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    if let Some((name, _)) = kept.iter().find(|(name, _)| {
        matches!(*name, "api_id" | "api_partialkey" | "api_key") || name.is_empty()
    }) {
        return Err(Error::invalid_request(format!(
            "parameter name {name:?} is reserved"
        )));
    }
    let missing: Vec<&str> = spec
        .required
        .iter()
        .copied()
        .filter(|required| !kept.iter().any(|(name, _)| name == required))
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid_request(format!(
            "{} not set",
            missing.join(", ")
        )));
    }
    Ok(kept)
}

/// Decodes a successful response into a typed struct. The error names the action and serde's
/// reason, never the body.
pub fn decode_response<T: DeserializeOwned>(
    category: &str,
    action: &str,
    value: Value,
) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|error| {
        let reason = super::error::decode_reason(&error);
        Error::decode(format!("unexpected {category}/{action} response: {reason}"))
    })
}

fn rate_limiter(per_second: f64, burst: u32) -> Result<Option<DefaultDirectRateLimiter>, String> {
    if per_second == 0.0 {
        return Ok(None);
    }
    if !per_second.is_finite() || per_second < 0.0 {
        return Err(format!(
            "requests per second must be positive, not {per_second}"
        ));
    }
    let period = std::time::Duration::try_from_secs_f64(1.0 / per_second)
        .map_err(|_| format!("requests per second {per_second} is out of range"))?;
    let quota = Quota::with_period(period)
        .ok_or_else(|| format!("requests per second {per_second} is out of range"))?
        .allow_burst(NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN));
    Ok(Some(RateLimiter::direct(quota)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_planning_client_records_writes_and_sends_none() {
        let credentials = Credentials::new(
            "abcdefghijklmnop".to_owned(),
            secrecy::SecretString::from("k".repeat(128)),
        )
        .unwrap_or_else(|error| panic!("{error}"));
        // Nothing listens there: a write that went out would fail as transient.
        let config = ClientConfig {
            endpoint: "http://127.0.0.1:9/api/".into(),
            allow_insecure: true,
            ..ClientConfig::default()
        };
        let (client, planned) =
            Client::planning(credentials, config).unwrap_or_else(|error| panic!("{error}"));
        let written = client
            .request(
                "email",
                "user-add",
                &[
                    ("domain_id", "3"),
                    ("username", "ann"),
                    ("password", "hunter2"),
                ],
            )
            .await;
        assert_eq!(
            written.map_err(|error| error.category()),
            Err("invalid_request")
        );
        let read = client.request("vm", "list", &[]).await;
        assert_eq!(read.map_err(|error| error.category()), Err("transient"));
        let calls = planned.take();
        assert_eq!(calls.len(), 1, "the read is sent, not recorded");
        assert_eq!(
            calls[0].to_string(),
            "email user-add domain_id=3 username=ann password=[redacted]"
        );
        assert!(planned.take().is_empty());
    }

    #[test]
    fn empty_values_are_dropped_and_required_ones_checked() {
        let Some(spec) = actions::find("vm", "create") else {
            panic!("vm/create is catalogued");
        };
        let kept = check_parameters(
            spec,
            &[
                ("hostname", "web"),
                ("plan_id", "m.1"),
                ("net_id", ""),
                ("region", "toronto"),
            ],
        );
        assert_eq!(
            kept,
            Ok(vec![
                ("hostname", "web"),
                ("plan_id", "m.1"),
                ("region", "toronto")
            ])
        );
        let missing = check_parameters(spec, &[("hostname", "web"), ("plan_id", "")]);
        assert_eq!(missing, Err(Error::invalid_request("plan_id not set")));
        let reserved = check_parameters(spec, &[("api_id", "x")]);
        assert_eq!(
            reserved.map_err(|error| error.category()),
            Err("invalid_request")
        );
    }

    #[test]
    fn retry_decisions_follow_idempotency() {
        let create = actions::find("vm", "create");
        let list = actions::find("vm", "list");
        let (Some(create), Some(list)) = (create, list) else {
            panic!("catalogued");
        };
        let after_send = Error::Transient {
            message: "timeout".into(),
            status: None,
            request_sent: true,
        };
        let refused = Error::Transient {
            message: "refused".into(),
            status: None,
            request_sent: false,
        };
        assert!(!should_retry(create, &after_send));
        assert!(should_retry(create, &refused));
        assert!(should_retry(
            create,
            &Error::Throttled { retry_after: None }
        ));
        assert!(should_retry(list, &after_send));
        assert!(!should_retry(list, &Error::from_api_text("invalid vm")));
        assert!(!should_retry(list, &Error::decode("x")));
    }

    #[test]
    fn rate_limiter_settings() {
        assert!(matches!(rate_limiter(0.0, 1), Ok(None)));
        assert!(matches!(rate_limiter(10.0, 5), Ok(Some(_))));
        assert!(matches!(rate_limiter(0.5, 0), Ok(Some(_))));
        assert!(rate_limiter(-1.0, 1).is_err());
        assert!(rate_limiter(f64::NAN, 1).is_err());
        assert!(rate_limiter(1e-300, 1).is_err());
    }
}
