//! The `sim` subcommand: run the simulator as its own process.
//!
//! It prints exactly one line on standard output, `listening on http://ADDR`, once it accepts
//! connections (with `--listen 127.0.0.1:0` the line carries the real port), logs through
//! `tracing` on standard error, and stops cleanly on Ctrl-C or SIGTERM.

use std::{fmt, io::Write, net::SocketAddr, time::Duration};

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;

use super::{Faults, SimConfig, Simulator, Timing, serve_with_shutdown};

/// Arguments of `lunanode-operator sim`.
#[derive(Args)]
pub struct SimArgs {
    /// Address to listen on. Loopback by default: the `/_sim/` admin endpoints have no
    /// authentication.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// API ID of an account; repeat with `--api-key` for several accounts.
    #[arg(long = "api-id", env = "LUNANODE_API_ID", hide_env_values = true)]
    api_id: Vec<String>,
    /// API key of an account, in the same order as `--api-id`.
    #[arg(long = "api-key", env = "LUNANODE_API_KEY", hide_env_values = true)]
    api_key: Vec<String>,
    /// Seconds a new (or reimaged) VM stays in `BUILD`.
    #[arg(long, default_value_t = 20.0)]
    build_seconds: f64,
    /// Latency added to every API call, in milliseconds (changeable at run time through
    /// `POST /_sim/faults`).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// How far a nonce may be from the real clock, in seconds.
    #[arg(long, default_value_t = 300)]
    nonce_window_seconds: u64,
    /// Reject exact replays of an accepted request.
    #[arg(long)]
    reject_replays: bool,
    /// Seed for IDs, passwords and fault rolls (random when absent).
    #[arg(long)]
    seed: Option<u64>,
}

impl fmt::Debug for SimArgs {
    // The keys are secrets: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::lunanode::debug_fields!(f, self, "SimArgs" {
            listen, api_id,
            api_key: format_args!("[{} redacted]", self.api_key.len()),
            build_seconds, latency_ms, nonce_window_seconds, reject_replays, seed,
        })
    }
}

impl SimArgs {
    /// Runs the simulator until interrupted; returns the process exit code.
    pub async fn run(self) -> anyhow::Result<i32> {
        let Self {
            listen,
            api_id,
            api_key,
            build_seconds,
            latency_ms,
            nonce_window_seconds,
            reject_replays,
            seed,
        } = self;
        if api_id.is_empty() {
            anyhow::bail!(
                "at least one account is needed: --api-id ID --api-key KEY \
                 (or LUNANODE_API_ID and LUNANODE_API_KEY)"
            );
        }
        if api_id.len() != api_key.len() {
            anyhow::bail!(
                "--api-id and --api-key must come in pairs ({} IDs, {} keys)",
                api_id.len(),
                api_key.len()
            );
        }
        if !(build_seconds.is_finite() && (0.0..=86_400.0).contains(&build_seconds)) {
            anyhow::bail!("--build-seconds must be between 0 and 86400");
        }
        for (id, key) in api_id.iter().zip(&api_key) {
            if id.len() != crate::lunanode::sign::API_ID_LEN
                || key.len() != crate::lunanode::sign::API_KEY_LEN
            {
                tracing::warn!(
                    api_id = %id,
                    "the real service uses 16-character API IDs and 128-character keys"
                );
            }
        }
        let config = SimConfig {
            accounts: api_id.into_iter().zip(api_key).collect(),
            timing: Timing {
                build: Duration::from_secs_f64(build_seconds),
                ..Timing::default()
            },
            nonce_window: Duration::from_secs(nonce_window_seconds),
            reject_replays,
            faults: Faults {
                latency_ms,
                ..Faults::default()
            },
            seed,
        };
        let accounts = config.accounts.len();
        let sim = Simulator::try_new(config)?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("failed to listen on {listen}"))?;
        let address = listener.local_addr()?;
        if !address.ip().is_loopback() {
            tracing::warn!(
                %address,
                "listening beyond loopback: anyone who can reach it can use the unauthenticated /_sim/ endpoints"
            );
        }
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on http://{address}")?;
        stdout.flush()?;
        tracing::info!(%address, accounts, "simulator ready");
        serve_with_shutdown(listener, sim, shutdown_signal()).await?;
        tracing::info!("simulator stopped");
        Ok(0)
    }
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
