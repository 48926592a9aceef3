//! Prometheus metrics: cloud API requests, reconciles, list-cache refreshes. Label values are
//! static strings (catalogued category/action names, error categories, kind names), so the
//! number of series is bounded whatever the objects are called.

use std::{sync::atomic::AtomicU64, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::lunanode::{Attempt, Observer};

/// Declares label sets: structs whose every label is a `&'static str` (so the number of series
/// stays bounded), with what a metric family needs derived.
///
/// ```ignore
/// label_sets! {
///     /// Labels of a kind.
///     KindLabels {
///         /// The kind.
///         kind,
///     }
/// }
/// ```
macro_rules! label_sets {
    ($($(#[$attr:meta])* $name:ident { $($(#[$label_attr:meta])* $label:ident,)* })*) => {$(
        $(#[$attr])*
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        pub struct $name {
            $($(#[$label_attr])* pub $label: &'static str,)*
        }
    )*};
}

label_sets! {
    /// Labels of a cloud API request.
    RequestLabels {
        /// The API category, e.g. `vm`.
        category,
        /// The action, e.g. `list`.
        action,
        /// `ok` or the error category (`api`, `auth`, `throttled`, `transient`, `decode`, ...).
        outcome,
    }

    /// Labels of a request's latency.
    ActionLabels {
        /// The API category.
        category,
        /// The action.
        action,
    }

    /// Labels of a reconcile.
    ReconcileLabels {
        /// The kind, e.g. `LunaVM`.
        kind,
        /// `ok` or the error category.
        outcome,
    }

    /// Labels of a kind.
    KindLabels {
        /// The kind.
        kind,
    }

    /// Labels of the managed-objects gauge.
    ManagedLabels {
        /// The kind.
        kind,
        /// `true` or `false`: the Ready condition.
        ready,
    }

    /// Labels of a list cache.
    CacheLabels {
        /// The list, e.g. `vm list`.
        cache,
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<ActionLabels, Histogram, fn() -> Histogram>,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_seconds: Family<KindLabels, Histogram, fn() -> Histogram>,
    refreshes: Family<CacheLabels, Counter>,
    managed: Family<ManagedLabels, Gauge>,
    recreated: Family<KindLabels, Counter>,
    suspect_lists: Family<CacheLabels, Counter>,
    capped_retry_after: Family<KindLabels, Counter>,
    credential_watches: Gauge,
    accounts: Gauge,
    monthly_cost: Family<KindLabels, Gauge<f64, AtomicU64>>,
    credit: Family<AccountLabels, Gauge<f64, AtomicU64>>,
    credit_days: Family<AccountLabels, Gauge<f64, AtomicU64>>,
}

/// Labels of an account: the short hash logs name it by (one series per account in use).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccountLabels {
    /// The first 8 hex digits of the SHA-256 of the API ID.
    pub account: String,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("lunanode");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds =
            Family::<ActionLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let reconcile_seconds =
            Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let refreshes = Family::<CacheLabels, Counter>::default();
        let managed = Family::<ManagedLabels, Gauge>::default();
        let recreated = Family::<KindLabels, Counter>::default();
        let suspect_lists = Family::<CacheLabels, Counter>::default();
        let capped_retry_after = Family::<KindLabels, Counter>::default();
        let credential_watches = Gauge::default();
        let accounts = Gauge::default();
        let monthly_cost = Family::<KindLabels, Gauge<f64, AtomicU64>>::default();
        let credit = Family::<AccountLabels, Gauge<f64, AtomicU64>>::default();
        let credit_days = Family::<AccountLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "account_credit_usd",
            "The account's credit in USD (billing credit, read hourly), by account hash",
            credit.clone(),
        );
        registry.register(
            "account_credit_days",
            "How many days the account's credit covers at what its managed VMs cost, by account hash",
            credit_days.clone(),
        );
        registry.register(
            "monthly_cost_usd",
            "What the managed cloud objects cost together, in USD a month (their plans' prices), by kind",
            monthly_cost.clone(),
        );
        registry.register(
            "credential_watches",
            "Credentials Secrets watched: the ones objects name, until the sweep drops the unused",
            credential_watches.clone(),
        );
        registry.register(
            "accounts",
            "Luna Node accounts held (a client, its rate limiter and list caches each)",
            accounts.clone(),
        );
        registry.register(
            "retry_after_capped",
            "Throttled answers whose Retry-After was longer than the operator waits, by kind",
            capped_retry_after.clone(),
        );
        registry.register(
            "recreated",
            "Cloud objects created again because the one an object held was confirmed gone, by kind",
            recreated.clone(),
        );
        registry.register(
            "suspect_list_answers",
            "List answers set aside because they lacked most of the known objects",
            suspect_lists.clone(),
        );
        registry.register(
            "managed_objects",
            "Objects the operator manages, by kind and Ready condition",
            managed.clone(),
        );
        registry.register(
            "api_requests",
            "Luna Node API requests by category, action and outcome",
            requests.clone(),
        );
        registry.register(
            "api_request_duration_seconds",
            "Luna Node API request latency",
            request_seconds.clone(),
        );
        registry.register(
            "reconciles",
            "Reconciles by kind and outcome",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration by kind",
            reconcile_seconds.clone(),
        );
        registry.register(
            "list_cache_refreshes",
            "List calls made by the shared list caches",
            refreshes.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            reconciles,
            reconcile_seconds,
            refreshes,
            managed,
            recreated,
            suspect_lists,
            capped_retry_after,
            credential_watches,
            accounts,
            monthly_cost,
            credit,
            credit_days,
        }
    }
}

impl Metrics {
    /// Records one reconcile.
    pub fn reconciled(&self, kind: &'static str, outcome: &'static str, duration: Duration) {
        self.reconciles
            .get_or_create(&ReconcileLabels { kind, outcome })
            .inc();
        self.reconcile_seconds
            .get_or_create(&KindLabels { kind })
            .observe(duration.as_secs_f64());
    }

    /// Sets how many objects of `kind` are Ready and not.
    pub fn managed(&self, kind: &'static str, ready: usize, not_ready: usize) {
        let set = |ready_label, value: usize| {
            self.managed
                .get_or_create(&ManagedLabels {
                    kind,
                    ready: ready_label,
                })
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set("true", ready);
        set("false", not_ready);
    }

    /// Sets how many credentials Secrets are watched.
    pub fn credential_watches(&self, watches: usize) {
        self.credential_watches
            .set(i64::try_from(watches).unwrap_or(i64::MAX));
    }

    /// Sets what the managed objects of `kind` cost together, in USD a month.
    pub fn monthly_cost(&self, kind: &'static str, usd: f64) {
        self.monthly_cost
            .get_or_create(&KindLabels { kind })
            .set(usd);
    }

    /// Sets the credit of the account `account` (its log hash), in USD.
    pub fn credit(&self, account: &str, usd: f64) {
        let labels = AccountLabels {
            account: account.to_owned(),
        };
        self.credit.get_or_create(&labels).set(usd);
    }

    /// Sets how many days the credit of the account `account` covers.
    pub fn credit_days(&self, account: &str, days: f64) {
        let labels = AccountLabels {
            account: account.to_owned(),
        };
        self.credit_days.get_or_create(&labels).set(days);
    }

    /// Sets how many accounts are held.
    pub fn accounts(&self, accounts: usize) {
        self.accounts
            .set(i64::try_from(accounts).unwrap_or(i64::MAX));
    }

    /// Records a cloud object created again after the one an object held was confirmed gone.
    pub fn recreated(&self, kind: &'static str) {
        self.recreated.get_or_create(&KindLabels { kind }).inc();
    }

    /// Records a throttled answer whose `Retry-After` was cut to the longest wait the operator
    /// accepts.
    pub fn retry_after_capped(&self, kind: &'static str) {
        self.capped_retry_after
            .get_or_create(&KindLabels { kind })
            .inc();
    }

    /// Records a list answer set aside as suspect.
    pub fn suspect_list(&self, cache: &'static str) {
        self.suspect_lists
            .get_or_create(&CacheLabels { cache })
            .inc();
    }

    /// Records one list-cache refresh.
    pub fn refreshed(&self, cache: &'static str) {
        self.refreshes.get_or_create(&CacheLabels { cache }).inc();
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Observer for Metrics {
    fn observe(&self, attempt: &Attempt) {
        let Attempt {
            category,
            action,
            outcome,
            duration,
        } = *attempt;
        self.requests
            .get_or_create(&RequestLabels {
                category,
                action,
                outcome,
            })
            .inc();
        self.request_seconds
            .get_or_create(&ActionLabels { category, action })
            .observe(duration.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_static_labels() {
        let metrics = Metrics::default();
        metrics.observe(&Attempt {
            category: "vm",
            action: "list",
            outcome: "ok",
            duration: Duration::from_millis(20),
        });
        metrics.reconciled("LunaVM", "ok", Duration::from_millis(5));
        metrics.refreshed("vm list");
        metrics.managed("LunaVM", 3, 1);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"lunanode_api_requests_total{category="vm",action="list",outcome="ok"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"lunanode_reconciles_total{kind="LunaVM",outcome="ok"} 1"#));
        assert!(text.contains(r#"lunanode_list_cache_refreshes_total{cache="vm list"} 1"#));
        assert!(text.contains("lunanode_api_request_duration_seconds_bucket"));
        assert!(text.contains(r#"lunanode_managed_objects{kind="LunaVM",ready="true"} 3"#));
    }
}
