//! The controllers, one per kind, and the machinery they share: the account pool with its list
//! caches, error classes and backoff, status and Event reporting.

pub mod accounts;
pub mod caches;
pub mod cost;
pub mod credentials;
pub mod dnszone;
pub mod dynamicrecord;
pub mod emailalias;
pub mod emaildomain;
pub mod emailuser;
pub mod error;
pub mod floating;
pub mod image;
pub mod kinds;
pub mod leader;
pub mod list_cache;
pub mod loadbalancer;
pub mod managed;
pub mod monitorcheck;
pub mod monitorcontact;
pub mod network;
pub mod plan;
pub mod prelude;
pub mod reason;
pub mod report;
pub mod run;
pub mod schedule;
pub mod secret;
pub mod securitygroup;
pub mod sshkey;
pub mod startupscript;
pub mod vm;
pub mod volume;
pub mod volumesnapshot;

use std::sync::Arc;

use kube::runtime::events::{Recorder, Reporter};

use self::{accounts::Accounts, error::Backoff};

/// Settings that are not per account.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// How many objects of one kind are reconciled at once.
    pub concurrency: u16,
    /// The namespaces served: every one, or a list.
    pub scope: managed::scope::Scope,
    /// The longest a throttled object waits, whatever the API's `Retry-After` says.
    pub max_retry_after: std::time::Duration,
    /// The most the managed VMs may cost together, in USD a month (see [`cost`]).
    pub max_monthly_cost: Option<f64>,
    /// A Warning Event when an account's credit covers fewer days than this (0: never).
    pub min_credit_days: f64,
}

/// What every reconcile shares.
pub struct Context {
    /// The Kubernetes client.
    pub kube: kube::Client,
    /// Accounts, their clients and list caches.
    pub accounts: Arc<Accounts>,
    /// Publishes Events.
    pub recorder: Recorder,
    /// Per-object retry state.
    pub backoff: Backoff,
    /// Global settings.
    pub config: OperatorConfig,
    /// Exported metrics.
    pub metrics: Arc<crate::telemetry::metrics::Metrics>,
    /// The running controllers' object caches and wake-ups, by kind.
    pub registry: managed::Registry,
    /// Updates repeated while the cloud does not show them (see [`managed::update`]).
    pub repeats: managed::Repeats,
    /// The monthly budget of the VMs, and what it let each have.
    pub budget: cost::Budget,
    /// The object versions this process's writes replaced (see [`managed::Superseded`]).
    pub superseded: managed::Superseded,
}

impl Context {
    /// A context for the controllers.
    pub fn new(
        kube: kube::Client,
        accounts: Arc<Accounts>,
        reporter: Reporter,
        config: OperatorConfig,
        metrics: Arc<crate::telemetry::metrics::Metrics>,
    ) -> Self {
        Self {
            recorder: Recorder::new(kube.clone(), reporter),
            kube,
            accounts,
            backoff: Backoff::new(config.max_retry_after),
            budget: cost::Budget::new(config.max_monthly_cost),
            config,
            metrics,
            registry: managed::Registry::default(),
            repeats: managed::Repeats::default(),
            superseded: managed::Superseded::default(),
        }
    }
}
