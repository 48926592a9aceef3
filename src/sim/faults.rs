//! Fault injection: what `/_sim/faults` sets and how each API call rolls against it.
//!
//! Order in a call: latency (every API call) → HTTP 5xx / timeout / throttle rolls (before
//! authentication, like a proxy in front of the API) → authentication → the per-account token
//! bucket → `api_error_rate` → the action → `drop_after_commit_rate` → the list faults
//! (`list_empty_rate`, `list_omit_rate`), which thin a successful list answer without touching
//! the objects. Every fault except latency honours the `actions` filter.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::list_faults::{self, Hidden};
use crate::lunanode::actions;

/// The fault settings; `POST /_sim/faults` replaces them whole (missing fields take defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every API call before it is answered.
    pub latency_ms: u64,
    /// A uniformly random extra `0..=latency_jitter_ms` per call.
    pub latency_jitter_ms: u64,
    /// Share of calls answered HTTP 500/502/503 with an HTML body; the action is not performed.
    pub http_5xx_rate: f64,
    /// Share of calls answered `success:no` `internal error, please try again`; not performed.
    pub api_error_rate: f64,
    /// Share of calls held for `timeout_ms`, then answered HTTP 504; not performed.
    pub timeout_rate: f64,
    /// How long a timed-out call is held (default 60000).
    pub timeout_ms: u64,
    /// Share of calls answered HTTP 429 with `Retry-After: <retry_after>`; not performed.
    pub throttle_rate: f64,
    /// The `Retry-After` header of every HTTP 429 (default `1`). Any text a header can carry,
    /// to show what a client does with a huge or malformed value.
    pub retry_after: String,
    /// A real token bucket per account: calls beyond it get HTTP 429.
    pub throttle_burst: Option<ThrottleBurst>,
    /// Share of calls whose action IS performed but whose connection is then closed without
    /// any response (the client sees a transport error).
    pub drop_after_commit_rate: f64,
    /// Share of calls answered `success` without being performed: what Luna Node does with
    /// some changes it cannot make (a resize, by its own docs). Meant for updates, with
    /// `actions`; a create answered so names no ID.
    pub noop_rate: f64,
    /// Share of the entries of a list answer left out, each rolled on its own (an eventually
    /// consistent or truncated list); the objects still exist.
    pub list_omit_rate: f64,
    /// Share of list answers that come back with no entry at all; the objects still exist.
    pub list_empty_rate: f64,
    /// Share of VM builds (`vm/create`) that end in `ERROR` instead of `Online`.
    pub vm_build_error_rate: f64,
    /// Share of VM builds that stay in `BUILD` for ever.
    pub vm_build_stuck_rate: f64,
    /// The next N VM builds end in `ERROR` (counts down as builds start; before the rates).
    pub vm_build_error_next: u32,
    /// The next N VM builds stay in `BUILD` for ever (counts down; before the rates).
    pub vm_build_stuck_next: u32,
    /// How long a deleted VM stays listed, being deleted (`task_state` `deleting`), in
    /// seconds; 0 (the default) deletes at once.
    pub vm_delete_seconds: u64,
    /// How long volume/attach and volume/detach take, in seconds (`attaching`, `detaching`);
    /// 0 (the default) at once.
    pub volume_attach_seconds: u64,
    /// volume/attach is refused while the VM builds or is in another transition, is shelved, or
    /// is in `ERROR`.
    pub vm_attach_rules: bool,
    /// How long a new object stays out of the list answers of its kind, in seconds (an
    /// eventually consistent list behind its writes); info calls see it at once. 0 (the
    /// default) lists it at once. Honours `actions` (the list actions it applies to).
    pub list_lag_seconds: u64,
    /// Share of own images (snapshots, fetched, replicas) that end in `error` instead of
    /// `active`.
    pub image_error_rate: f64,
    /// The next N own images end in `error` (counts down as images are made; before the rate).
    pub image_error_next: u32,
    /// Share of volume creates that end in `error` instead of `available`.
    pub volume_error_rate: f64,
    /// The next N volume creates end in `error` (counts down; before the rate).
    pub volume_error_next: u32,
    /// `category/action` paths the faults apply to; `None` means all. The cloud's own
    /// behaviours (the VM build faults, `vm_delete_seconds`, `volume_attach_seconds`,
    /// `vm_attach_rules`, the image and volume error faults) concern their actions alone and
    /// ignore it.
    pub actions: Option<Vec<String>>,
    /// Re-seeds the fault rolls when set, so a sequence of faults is repeatable.
    pub seed: Option<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            latency_jitter_ms: 0,
            http_5xx_rate: 0.0,
            api_error_rate: 0.0,
            timeout_rate: 0.0,
            timeout_ms: 60_000,
            throttle_rate: 0.0,
            retry_after: "1".to_owned(),
            throttle_burst: None,
            drop_after_commit_rate: 0.0,
            noop_rate: 0.0,
            list_omit_rate: 0.0,
            list_empty_rate: 0.0,
            vm_build_error_rate: 0.0,
            vm_build_stuck_rate: 0.0,
            vm_build_error_next: 0,
            vm_build_stuck_next: 0,
            vm_delete_seconds: 0,
            volume_attach_seconds: 0,
            vm_attach_rules: false,
            list_lag_seconds: 0,
            image_error_rate: 0.0,
            image_error_next: 0,
            volume_error_rate: 0.0,
            volume_error_next: 0,
            actions: None,
            seed: None,
        }
    }
}

/// How a VM build ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuildFate {
    /// `Online` after the build time.
    Online,
    /// `ERROR` after the build time.
    Error,
    /// `BUILD` for ever.
    Stuck,
}

/// Token bucket settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleBurst {
    /// Refill rate, calls per second (> 0).
    pub per_second: f64,
    /// Bucket size; defaults to `per_second` (at least 1).
    #[serde(default)]
    pub burst: Option<f64>,
}

/// A fault setting that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid faults: {0}")]
pub struct FaultsError(pub String);

/// `[("field", owner.field), ...]`: fields of `owner` paired with their names, each name
/// written once.
macro_rules! named_fields {
    ($owner:ident: $($field:ident),+ $(,)?) => {
        [$((stringify!($field), $owner.$field)),+]
    };
}

/// Upper bound for the millisecond settings (ten minutes).
const MAX_MS: u64 = 600_000;

/// The longest list lag, in simulated milliseconds.
pub(crate) const MAX_LIST_LAG_MS: i64 = 600_000;

impl Faults {
    /// Checks ranges: rates in `0..=1`, durations at most ten minutes, known actions.
    pub fn validate(&self) -> Result<(), FaultsError> {
        let rates = named_fields!(self:
            http_5xx_rate, api_error_rate, timeout_rate, throttle_rate, drop_after_commit_rate,
            noop_rate, list_omit_rate, list_empty_rate, vm_build_error_rate, vm_build_stuck_rate,
            image_error_rate, volume_error_rate,
        );
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(FaultsError(format!("{name} must be between 0 and 1")));
            }
        }
        for (name, ms) in named_fields!(self: latency_ms, latency_jitter_ms, timeout_ms) {
            if ms > MAX_MS {
                return Err(FaultsError(format!("{name} must be at most {MAX_MS}")));
            }
        }
        let seconds =
            named_fields!(self: vm_delete_seconds, volume_attach_seconds, list_lag_seconds);
        for (name, seconds) in seconds {
            if seconds > MAX_MS / 1000 {
                return Err(FaultsError(format!(
                    "{name} must be at most {}",
                    MAX_MS / 1000
                )));
            }
        }
        if self.retry_after.len() > 64
            || axum::http::HeaderValue::from_str(&self.retry_after).is_err()
        {
            return Err(FaultsError(
                "retry_after must be a header value of at most 64 characters".into(),
            ));
        }
        if let Some(burst) = &self.throttle_burst {
            if !(burst.per_second.is_finite() && burst.per_second > 0.0) {
                return Err(FaultsError("throttle_burst.per_second must be > 0".into()));
            }
            if burst.burst.is_some_and(|b| !(b.is_finite() && b >= 1.0)) {
                return Err(FaultsError("throttle_burst.burst must be >= 1".into()));
            }
        }
        for path in self.actions.iter().flatten() {
            let known = path
                .split_once('/')
                .and_then(|(category, action)| actions::find(category, action));
            if known.is_none() {
                return Err(FaultsError(format!("unknown action in actions: {path:?}")));
            }
        }
        Ok(())
    }

    fn applies_to(&self, path: &str) -> bool {
        self.actions
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| p == path))
    }
}

/// A fault decided before authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EarlyFault {
    /// Answer with this 5xx status.
    Http(u16),
    /// Hold, then 504.
    Timeout(Duration),
    /// 429.
    Throttle,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// The current faults plus their random source and token buckets.
#[derive(Debug)]
pub(crate) struct FaultEngine {
    faults: Faults,
    rng: StdRng,
    buckets: HashMap<String, Bucket>,
}

impl FaultEngine {
    /// Starts with these faults (assumed valid).
    pub(crate) fn new(faults: Faults, seed: Option<u64>) -> Self {
        let seed = faults.seed.or(seed);
        Self {
            faults,
            rng: seed.map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64),
            buckets: HashMap::new(),
        }
    }

    /// The current settings.
    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replaces the settings (and the token buckets).
    pub(crate) fn replace(&mut self, faults: Faults) -> Result<(), FaultsError> {
        faults.validate()?;
        if let Some(seed) = faults.seed {
            self.rng = StdRng::seed_from_u64(seed);
        }
        self.faults = faults;
        self.buckets.clear();
        Ok(())
    }

    fn roll(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.rng.random::<f64>() < rate
    }

    /// How the VM build starting now ends: the "next N" counters first, then the rates.
    pub(crate) fn build_fate(&mut self) -> BuildFate {
        if self.faults.vm_build_error_next > 0 {
            self.faults.vm_build_error_next -= 1;
            return BuildFate::Error;
        }
        if self.faults.vm_build_stuck_next > 0 {
            self.faults.vm_build_stuck_next -= 1;
            return BuildFate::Stuck;
        }
        if self.roll(self.faults.vm_build_error_rate) {
            return BuildFate::Error;
        }
        if self.roll(self.faults.vm_build_stuck_rate) {
            return BuildFate::Stuck;
        }
        BuildFate::Online
    }

    /// Whether the own image made now ends in `error`: the "next N" counter first, then the
    /// rate.
    pub(crate) fn image_fails(&mut self) -> bool {
        if self.faults.image_error_next > 0 {
            self.faults.image_error_next -= 1;
            return true;
        }
        self.roll(self.faults.image_error_rate)
    }

    /// Whether the volume created now ends in `error`: the "next N" counter first, then the
    /// rate.
    pub(crate) fn volume_fails(&mut self) -> bool {
        if self.faults.volume_error_next > 0 {
            self.faults.volume_error_next -= 1;
            return true;
        }
        self.roll(self.faults.volume_error_rate)
    }

    /// How long a new object of the list `path` stays out of its answers, in milliseconds.
    /// `actions` limits it when it names list actions; `actions` naming writes alone (a lost
    /// answer of `dns2/record-add`) leaves every list lagging, so that a write fault and a
    /// lagging list can be set together.
    pub(crate) fn list_lag_ms(&self, path: &str) -> i64 {
        let names_lists = self.faults.actions.as_ref().is_some_and(|actions| {
            actions
                .iter()
                .any(|action| super::list_faults::shape(action).is_some())
        });
        let applies = !names_lists || self.faults.applies_to(path);
        if self.faults.list_lag_seconds == 0 || !applies {
            return 0;
        }
        i64::try_from(self.faults.list_lag_seconds.saturating_mul(1000)).unwrap_or(MAX_LIST_LAG_MS)
    }

    /// How long a VM deleted now stays listed, being deleted.
    pub(crate) fn vm_delete_time(&self) -> Duration {
        Duration::from_secs(self.faults.vm_delete_seconds)
    }

    /// How long a volume attach or detach takes.
    pub(crate) fn volume_attach_time(&self) -> Duration {
        Duration::from_secs(self.faults.volume_attach_seconds)
    }

    /// Whether volume/attach checks the VM's state.
    pub(crate) fn attach_rules(&self) -> bool {
        self.faults.vm_attach_rules
    }

    /// The latency to add to this call.
    pub(crate) fn latency(&mut self) -> Duration {
        let jitter = match self.faults.latency_jitter_ms {
            0 => 0,
            max => self.rng.random_range(0..=max),
        };
        Duration::from_millis(self.faults.latency_ms.saturating_add(jitter))
    }

    /// Rolls the faults that strike before authentication.
    pub(crate) fn early(&mut self, path: &str) -> Option<EarlyFault> {
        if !self.faults.applies_to(path) {
            return None;
        }
        if self.roll(self.faults.http_5xx_rate) {
            let status = [500, 502, 503][self.rng.random_range(0..3)];
            return Some(EarlyFault::Http(status));
        }
        if self.roll(self.faults.timeout_rate) {
            return Some(EarlyFault::Timeout(Duration::from_millis(
                self.faults.timeout_ms,
            )));
        }
        if self.roll(self.faults.throttle_rate) {
            return Some(EarlyFault::Throttle);
        }
        None
    }

    /// Takes a token from the account's bucket; `false` means throttle.
    /// The `Retry-After` header value of a throttled answer.
    pub(crate) fn retry_after(&self) -> String {
        self.faults.retry_after.clone()
    }

    /// Takes a token from the account's bucket; `false` means throttle.
    pub(crate) fn take_token(&mut self, api_id: &str, path: &str, now: Instant) -> bool {
        let Some(limit) = self.faults.throttle_burst else {
            return true;
        };
        if !self.faults.applies_to(path) {
            return true;
        }
        let capacity = limit.burst.unwrap_or(limit.per_second.max(1.0));
        let bucket = self.buckets.entry(api_id.to_owned()).or_insert(Bucket {
            tokens: capacity,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(capacity);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Rolls `api_error_rate`.
    pub(crate) fn api_error(&mut self, path: &str) -> bool {
        self.faults.applies_to(path) && self.roll(self.faults.api_error_rate)
    }

    /// Rolls `noop_rate`.
    pub(crate) fn noop(&mut self, path: &str) -> bool {
        self.faults.applies_to(path) && self.roll(self.faults.noop_rate)
    }

    /// Rolls `drop_after_commit_rate`.
    pub(crate) fn drop_after_commit(&mut self, path: &str) -> bool {
        self.faults.applies_to(path) && self.roll(self.faults.drop_after_commit_rate)
    }

    /// Rolls `list_empty_rate` once and `list_omit_rate` for each entry of a list answer, and
    /// takes the losers out of `data`; other answers are left alone.
    pub(crate) fn thin_list(&mut self, path: &str, data: &mut Map<String, Value>) -> Hidden {
        let (empty_rate, omit_rate) = (self.faults.list_empty_rate, self.faults.list_omit_rate);
        if (empty_rate <= 0.0 && omit_rate <= 0.0) || !self.faults.applies_to(path) {
            return Hidden::default();
        }
        let Some(shape) = list_faults::shape(path) else {
            return Hidden::default();
        };
        if self.roll(empty_rate) {
            return list_faults::thin(path, shape, data, true, |_| true);
        }
        let rng = &mut self.rng;
        list_faults::thin(path, shape, data, false, |_| {
            omit_rate > 0.0 && rng.random::<f64>() < omit_rate
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rejects_bad_rates_and_actions() {
        assert!(Faults::default().validate().is_ok());
        let bad_rate = Faults {
            http_5xx_rate: 1.5,
            ..Faults::default()
        };
        assert!(bad_rate.validate().is_err());
        let nan = Faults {
            timeout_rate: f64::NAN,
            ..Faults::default()
        };
        assert!(nan.validate().is_err());
        let unknown = Faults {
            actions: Some(vec!["vm/explode".into()]),
            ..Faults::default()
        };
        assert!(unknown.validate().is_err());
        let known = Faults {
            actions: Some(vec!["vm/create".into()]),
            ..Faults::default()
        };
        assert!(known.validate().is_ok());
    }

    /// An engine (seed 1) with the default faults changed by `set` and limited to `action`.
    fn engine_on(action: &str, set: impl FnOnce(&mut Faults)) -> FaultEngine {
        let mut faults = Faults {
            actions: Some(vec![action.to_owned()]),
            ..Faults::default()
        };
        set(&mut faults);
        FaultEngine::new(faults, Some(1))
    }

    #[test]
    fn rates_of_one_always_fire_and_respect_the_filter() {
        let mut engine = engine_on("vm/create", |faults| faults.http_5xx_rate = 1.0);
        assert!(matches!(
            engine.early("vm/create"),
            Some(EarlyFault::Http(_))
        ));
        assert_eq!(engine.early("vm/list"), None);
    }

    #[test]
    fn list_rates_are_validated() {
        for faults in [
            Faults {
                list_omit_rate: f64::NAN,
                ..Faults::default()
            },
            Faults {
                list_omit_rate: -0.5,
                ..Faults::default()
            },
            Faults {
                list_empty_rate: 1.01,
                ..Faults::default()
            },
            Faults {
                list_empty_rate: f64::INFINITY,
                ..Faults::default()
            },
        ] {
            assert!(faults.validate().is_err(), "{faults:?}");
        }
        let parsed: Faults =
            serde_json::from_str(r#"{"list_omit_rate": 0.2, "list_empty_rate": 0.05}"#)
                .unwrap_or_default();
        assert_eq!(parsed.list_omit_rate, 0.2);
        assert_eq!(parsed.list_empty_rate, 0.05);
        assert!(parsed.validate().is_ok());
    }

    fn vm_list(n: usize) -> Map<String, Value> {
        let vms: Vec<Value> = (0..n)
            .map(|i| serde_json::json!({"vm_id": i.to_string()}))
            .collect();
        let mut data = Map::new();
        data.insert("vms".into(), Value::Array(vms));
        data
    }

    #[test]
    fn list_faults_thin_only_list_answers_and_respect_the_filter() {
        let mut engine = engine_on("vm/list", |faults| faults.list_omit_rate = 1.0);
        let mut data = vm_list(3);
        let hidden = engine.thin_list("vm/list", &mut data);
        assert_eq!(hidden.omitted, 3);
        assert_eq!(data["vms"], serde_json::json!([]));
        // Filtered out, and not a list: untouched.
        let mut data = vm_list(3);
        assert_eq!(
            engine.thin_list("volume/list", &mut data),
            Hidden::default()
        );
        let mut data = vm_list(3);
        assert_eq!(engine.thin_list("vm/info", &mut data), Hidden::default());
        assert_eq!(data, vm_list(3));
    }

    #[test]
    fn list_omissions_roll_each_entry() {
        let faults = Faults {
            list_omit_rate: 0.5,
            ..Faults::default()
        };
        let mut engine = FaultEngine::new(faults, Some(7));
        let mut data = vm_list(400);
        let hidden = engine.thin_list("vm/list", &mut data);
        let left = data["vms"].as_array().map_or(0, Vec::len);
        assert_eq!(hidden.omitted as usize + left, 400);
        assert!((120..=280).contains(&left), "{left} of 400 left");

        let faults = Faults {
            list_empty_rate: 1.0,
            list_omit_rate: 1.0,
            ..Faults::default()
        };
        let mut engine = FaultEngine::new(faults, Some(7));
        let mut data = vm_list(4);
        let hidden = engine.thin_list("vm/list", &mut data);
        assert_eq!(
            hidden,
            Hidden {
                omitted: 0,
                emptied: true
            }
        );
    }

    #[test]
    fn token_bucket_refills_over_time() {
        let faults = Faults {
            throttle_burst: Some(ThrottleBurst {
                per_second: 2.0,
                burst: None,
            }),
            ..Faults::default()
        };
        let mut engine = FaultEngine::new(faults, Some(1));
        let start = Instant::now();
        assert!(engine.take_token("a", "vm/list", start));
        assert!(engine.take_token("a", "vm/list", start));
        assert!(!engine.take_token("a", "vm/list", start));
        // Another account has its own bucket.
        assert!(engine.take_token("b", "vm/list", start));
        assert!(engine.take_token("a", "vm/list", start + Duration::from_millis(500)));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let parsed: Result<Faults, _> = serde_json::from_str(r#"{"latency": 5}"#);
        assert!(parsed.is_err());
        let parsed: Result<Faults, _> = serde_json::from_str(r#"{"latency_ms": 5}"#);
        assert_eq!(parsed.map(|f| f.latency_ms).ok(), Some(5));
    }
}
