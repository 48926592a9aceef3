//! `lunanode-operator run`: connect to Kubernetes, check the CRDs, start every controller and
//! the health/metrics server, and shut down gracefully on SIGTERM or Ctrl-C.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use clap::Args;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{Api, runtime::events::Reporter};

use super::{
    Context, OperatorConfig, accounts::Accounts, leader::Election, list_cache::CacheTiming,
    managed::scope::Scope,
};
use crate::{
    lunanode::ClientConfig,
    telemetry::{health::Health, metrics::Metrics},
};

/// Arguments of `lunanode-operator run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Base URL of the Luna Node API (point it at a simulator for tests).
    #[arg(long, env = "LUNANODE_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Accept a plain `http://` endpoint. Requests then carry the API ID and half of the API
    /// key without TLS: only for a simulator or a test server on a trusted network.
    #[arg(long, env = "LUNANODE_ALLOW_INSECURE_ENDPOINT")]
    pub allow_insecure_endpoint: bool,
    /// Run a Luna Node API simulator in this process and use it (a demo, never a real account).
    #[arg(long, conflicts_with = "endpoint")]
    pub simulator: bool,
    /// The simulator's account as `API_ID:API_KEY` (with --simulator); defaults to the demo
    /// account that `examples/credentials-secret.yaml` holds.
    #[arg(long, env = "LUNANODE_SIMULATOR_ACCOUNT", hide_env_values = true)]
    pub simulator_account: Option<String>,
    /// Address of the in-process simulator (with --simulator), so that the `api` command can
    /// talk to it too.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub simulator_listen: SocketAddr,
    /// Seconds a simulated VM stays in BUILD (with --simulator).
    #[arg(long, default_value_t = 20)]
    pub simulator_build_seconds: u64,
    /// Cloud API requests per second allowed per account.
    #[arg(long, env = "LUNANODE_RATE", default_value_t = 10.0)]
    pub rate: f64,
    /// List-cache poll interval while something is in transition, in seconds.
    #[arg(long, default_value_t = 5)]
    pub fast_poll_seconds: u64,
    /// List-cache poll interval when everything is converged, in seconds.
    #[arg(long, default_value_t = 60)]
    pub slow_poll_seconds: u64,
    /// The longest an object waits when the API throttles it, whatever the answer's
    /// `Retry-After` says (a longer one is cut and counted in `lunanode_retry_after_capped`).
    #[arg(long, default_value_t = 300)]
    pub max_retry_after_seconds: u64,
    /// The most the managed VMs may cost together, in USD a month (their plans' prices): a
    /// create or a resize that would go over it waits with `BudgetExceeded`. Default: no limit.
    #[arg(long, env = "LUNANODE_MAX_MONTHLY_COST", value_parser = positive_amount)]
    pub max_monthly_cost: Option<f64>,
    /// Warn (a `LowCredit` Warning Event on a LunaVM of the account, at most hourly) when an
    /// account's credit covers fewer days than this at what its managed VMs cost; 0: never.
    #[arg(long, env = "LUNANODE_MIN_CREDIT_DAYS", default_value_t = 7.0)]
    pub min_credit_days: f64,
    /// How many objects of one kind are reconciled at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// Address of the health and metrics server (`/healthz`, `/readyz`, `/metrics`).
    #[arg(long, env = "LUNANODE_METRICS_ADDR", default_value = "127.0.0.1:8081")]
    pub metrics_addr: SocketAddr,
    /// Serve only these namespaces (repeat the flag, or separate them with commas; default:
    /// every namespace). Each is watched on its own, so that a Role in each is all the rights
    /// the operator needs.
    #[arg(long, env = "LUNANODE_NAMESPACE", value_delimiter = ',')]
    pub namespace: Vec<String>,
    /// Run only while holding a `coordination.k8s.io` Lease, so that two replicas can run
    /// safely (the standby takes over when the leader stops or fails to renew).
    #[arg(long, env = "LUNANODE_LEADER_ELECT")]
    pub leader_elect: bool,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "lunanode-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (default: the first served namespace, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Seconds a Lease stays valid without renewal: the longest a failed leader holds on.
    #[arg(long, default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// Name of this replica, for Events (defaults to the host name).
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
}

/// An amount of money: a finite number above zero.
fn positive_amount(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(amount) if amount.is_finite() && amount > 0.0 => Ok(amount),
        _ => Err(format!("{text:?} is not an amount above zero")),
    }
}

/// The demo account of the in-process simulator (it matches `examples/credentials-secret.yaml`).
pub const DEMO_API_ID: &str = "demoapiid0000001";

/// The demo account's key: not a secret, it only opens the local simulator.
pub fn demo_api_key() -> String {
    "demo".repeat(32)
}

impl RunArgs {
    /// Runs the operator until SIGTERM or Ctrl-C; returns the process exit code.
    pub async fn run(self) -> anyhow::Result<i32> {
        let kube = kube::Client::try_default()
            .await
            .context("unable to connect to Kubernetes (KUBECONFIG or in-cluster config)")?;
        check_crds(&kube).await?;

        let metrics = Arc::new(Metrics::default());
        let ready = Arc::new(AtomicBool::new(false));
        let mut client_config = ClientConfig {
            observer: Some(metrics.clone()),
            ..ClientConfig::default()
        };
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        if self.simulator {
            let endpoint = start_simulator(&self, shutdown_rx.clone()).await?;
            tracing::warn!(%endpoint, "using the in-process simulator: nothing reaches a real account");
            client_config.endpoint = endpoint;
            // The in-process simulator listens on plain http; no real key goes there.
            client_config.allow_insecure = true;
        } else if let Some(endpoint) = &self.endpoint {
            client_config.endpoint = endpoint.clone();
            client_config.allow_insecure = self.allow_insecure_endpoint;
        }
        client_config.requests_per_second = self.rate;

        let timing = CacheTiming {
            fast_interval: Duration::from_secs(self.fast_poll_seconds.max(1)),
            slow_interval: Duration::from_secs(self.slow_poll_seconds.max(1)),
            ..CacheTiming::default()
        };
        let instance = self
            .instance
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "lunanode-operator".into());
        let health_shutdown = {
            let mut shutdown_rx = shutdown_rx.clone();
            async move {
                let _ = shutdown_rx.wait_for(|stop| *stop).await;
            }
        };
        let health = Health {
            metrics: metrics.clone(),
            ready: ready.clone(),
        };
        let bound = crate::telemetry::health::serve(self.metrics_addr, health, health_shutdown)
            .await
            .with_context(|| {
                format!(
                    "unable to serve health and metrics on {}",
                    self.metrics_addr
                )
            })?;
        tracing::info!(address = %bound, "serving /healthz, /readyz and /metrics");
        let context = Arc::new(Context::new(
            kube.clone(),
            Accounts::new(kube.clone(), client_config, timing, metrics.clone()),
            Reporter {
                controller: "lunanode-operator".into(),
                instance: Some(instance.clone()),
            },
            OperatorConfig {
                concurrency: self.concurrency,
                scope: Scope::new(&self.namespace),
                max_retry_after: Duration::from_secs(self.max_retry_after_seconds.max(1)),
                max_monthly_cost: self.max_monthly_cost,
                min_credit_days: self.min_credit_days,
            },
            metrics,
        ));

        let shutdown_tx = Arc::new(shutdown_tx);
        let signals = {
            let shutdown_tx = shutdown_tx.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down: finishing in-flight reconciles");
                let _ = shutdown_tx.send(true);
            })
        };
        // A standby replica is healthy and ready; it just does not reconcile.
        ready.store(true, Ordering::SeqCst);
        let mut leadership = None;
        if self.leader_elect {
            let election = Election {
                lease_name: self.lease_name.clone(),
                namespace: self
                    .lease_namespace
                    .clone()
                    .or_else(|| Scope::new(&self.namespace).first().map(str::to_owned))
                    .unwrap_or_else(|| "default".into()),
                identity: instance.clone(),
                duration: Duration::from_secs(self.lease_duration_seconds),
            };
            match election.acquire(kube.clone(), shutdown_rx.clone()).await? {
                Some(held) => leadership = Some(held),
                None => return Ok(0),
            }
        }

        let shutdown = {
            let mut shutdown_rx = shutdown_rx.clone();
            async move {
                let _ = shutdown_rx.wait_for(|stop| *stop).await;
            }
        };
        // Ready again once the controllers' caches have synced.
        ready.store(false, Ordering::SeqCst);
        let controllers = super::kinds::run_all(context.clone(), shutdown, ready.clone());
        tokio::pin!(controllers);
        let mut code = 0;
        match leadership.as_mut() {
            None => controllers.await,
            Some(held) => {
                tokio::select! {
                    () = &mut controllers => {}
                    () = held.lost() => {
                        tracing::error!("lost leadership: stopping the controllers and exiting");
                        code = 1;
                        let _ = shutdown_tx.send(true);
                        controllers.await;
                    }
                }
            }
        }
        ready.store(false, Ordering::SeqCst);
        if let Some(held) = leadership {
            held.release().await;
        }
        signals.abort();
        Ok(code)
    }
}

async fn check_crds(kube: &kube::Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(kube.clone());
    for crd in crate::api::crdgen::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.get_opt(&name)
            .await
            .with_context(|| format!("unable to check that CRD {name} is installed"))?
            .with_context(|| {
                format!("CRD {name} is not installed: kubectl apply --server-side -f crds/")
            })?;
    }
    Ok(())
}

async fn start_simulator(
    args: &RunArgs,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<String> {
    let (api_id, api_key) = match &args.simulator_account {
        Some(account) => {
            let (id, key) = account
                .split_once(':')
                .context("--simulator-account must be API_ID:API_KEY")?;
            (id.to_owned(), key.to_owned())
        }
        None => (DEMO_API_ID.to_owned(), demo_api_key()),
    };
    let mut config = crate::sim::SimConfig::default().with_account(api_id, api_key);
    config.timing.build = Duration::from_secs(args.simulator_build_seconds);
    let listener = tokio::net::TcpListener::bind(args.simulator_listen)
        .await
        .with_context(|| format!("unable to bind the simulator to {}", args.simulator_listen))?;
    let address = listener.local_addr()?;
    let simulator = crate::sim::Simulator::new(config);
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(error) = crate::sim::serve_with_shutdown(listener, simulator, stop).await {
            tracing::error!(%error, "the simulator stopped");
        }
    });
    Ok(format!("http://{address}/api/"))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
