//! Call counters for `/_sim/stats`: every API call is counted once, under its `category/action`
//! (unknown actions under `(invalid)`, so a caller cannot grow the table without bound), with
//! its outcome, plus totals and a breakdown of the faults injected.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::clock::{Millis, real_now_ms, rfc3339};

/// The key under which calls to unknown actions are counted.
pub(crate) const INVALID_ACTION_KEY: &str = "(invalid)";

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `success:"yes"`.
    Ok,
    /// `success:"no"` from the action (bad parameter, bad reference, unknown action).
    ApiError,
    /// Authentication failed, or the request could not be read.
    AuthError,
    /// A fault was injected; the name says which.
    Fault(&'static str),
}

impl Outcome {
    /// The label used in logs.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ApiError => "api_error",
            Self::AuthError => "auth_error",
            Self::Fault(kind) => kind,
        }
    }
}

/// Counts per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    /// Every call.
    pub calls: u64,
    /// Successes.
    pub ok: u64,
    /// API errors.
    pub api_error: u64,
    /// Authentication failures and unreadable requests.
    pub auth_error: u64,
    /// Injected faults.
    pub fault: u64,
}

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        self.calls += 1;
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::ApiError => self.api_error += 1,
            Outcome::AuthError => self.auth_error += 1,
            Outcome::Fault(_) => self.fault += 1,
        }
    }
}

/// The counters.
#[derive(Debug)]
pub(crate) struct Stats {
    since: Millis,
    totals: Counts,
    actions: BTreeMap<String, Counts>,
    faults: BTreeMap<&'static str, u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            since: real_now_ms(),
            totals: Counts::default(),
            actions: BTreeMap::new(),
            faults: BTreeMap::new(),
        }
    }
}

impl Stats {
    /// Counts one call.
    pub(crate) fn record(&mut self, path: &str, outcome: Outcome) {
        self.totals.add(outcome);
        match self.actions.get_mut(path) {
            Some(counts) => counts.add(outcome),
            None => {
                let mut counts = Counts::default();
                counts.add(outcome);
                self.actions.insert(path.to_owned(), counts);
            }
        }
        if let Outcome::Fault(kind) = outcome {
            *self.faults.entry(kind).or_default() += 1;
        }
    }

    /// Adds `n` to a fault counter without counting a call: the list faults thin answers that
    /// are still successes (`list_omit` counts entries, `list_empty` answers).
    pub(crate) fn add_fault(&mut self, kind: &'static str, n: u64) {
        if n > 0 {
            *self.faults.entry(kind).or_default() += n;
        }
    }

    /// The `/_sim/stats` document.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "since": rfc3339(self.since),
            "since_unix_ms": self.since,
            "totals": self.totals,
            "actions": self.actions,
            "faults": self.faults,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_action_and_in_total() {
        let mut stats = Stats::default();
        stats.record("vm/list", Outcome::Ok);
        stats.record("vm/list", Outcome::Fault("http_5xx"));
        stats.record("vm/info", Outcome::ApiError);
        let doc = stats.to_json();
        assert_eq!(doc["totals"]["calls"], 3);
        assert_eq!(doc["actions"]["vm/list"]["calls"], 2);
        assert_eq!(doc["actions"]["vm/list"]["fault"], 1);
        assert_eq!(doc["faults"]["http_5xx"], 1);
        assert_eq!(doc["actions"]["vm/info"]["api_error"], 1);
    }

    #[test]
    fn list_fault_counters_do_not_count_calls() {
        let mut stats = Stats::default();
        stats.record("vm/list", Outcome::Ok);
        stats.add_fault("list_omit", 3);
        stats.add_fault("list_empty", 0);
        let doc = stats.to_json();
        assert_eq!(doc["totals"]["calls"], 1);
        assert_eq!(doc["totals"]["fault"], 0);
        assert_eq!(doc["faults"]["list_omit"], 3);
        assert!(doc["faults"].get("list_empty").is_none());
    }
}
