//! The small HTTP server for probes and scraping: `/healthz` (the process is alive), `/readyz`
//! (the CRDs were found and the controllers are running) and `/metrics` (Prometheus text).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, routing::get};

use super::metrics::Metrics;

/// What the server reports.
#[derive(Debug, Clone)]
pub struct Health {
    /// Exported metrics.
    pub metrics: Arc<Metrics>,
    /// Set once the controllers run; cleared when shutting down.
    pub ready: Arc<AtomicBool>,
}

/// The routes.
pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn readyz(State(health): State<Health>) -> (StatusCode, &'static str) {
    if health.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics(State(health): State<Health>) -> ([(&'static str, &'static str); 1], String) {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        health.metrics.render(),
    )
}

/// Binds `address` and serves until `shutdown` completes; returns the bound address.
pub async fn serve(
    address: SocketAddr,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let served = axum::serve(listener, router(health))
            .with_graceful_shutdown(shutdown)
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the health server stopped");
        }
    });
    Ok(bound)
}
