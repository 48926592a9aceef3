//! The admin endpoints under `/_sim/` (no signature; the simulator binds to loopback by
//! default): state dump, counters, faults and the clock. Plain JSON, not PHP-style.

use std::time::Duration;

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

use super::{clock::rfc3339, faults::Faults, server::AppState};

/// The `/_sim/` routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sim/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/_sim/state", get(state))
        .route("/_sim/stats", get(stats))
        .route("/_sim/stats/reset", post(reset_stats))
        .route("/_sim/faults", get(get_faults).post(set_faults))
        .route("/_sim/clock", get(get_clock).post(advance_clock))
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.into()})),
    )
        .into_response()
}

async fn state(State(app): State<AppState>) -> Response {
    Json(app.sim.state()).into_response()
}

async fn stats(State(app): State<AppState>) -> Response {
    Json(app.sim.stats()).into_response()
}

async fn reset_stats(State(app): State<AppState>) -> Response {
    app.sim.reset_stats();
    Json(app.sim.stats()).into_response()
}

async fn get_faults(State(app): State<AppState>) -> Response {
    Json(app.sim.faults()).into_response()
}

async fn set_faults(State(app): State<AppState>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(faults) => faults,
        Err(error) => return bad_request(format!("invalid faults JSON: {error}")),
    };
    match app.sim.set_faults(faults) {
        Ok(()) => Json(app.sim.faults()).into_response(),
        Err(error) => bad_request(error.to_string()),
    }
}

fn clock_json(app: &AppState) -> Response {
    let offset = app.sim.clock_offset();
    let now = crate::sim::clock::real_now_ms()
        .saturating_add(i64::try_from(offset.as_millis()).unwrap_or(i64::MAX));
    Json(json!({
        "offset_seconds": offset.as_secs_f64(),
        "now": rfc3339(now),
        "now_unix_ms": now,
    }))
    .into_response()
}

async fn get_clock(State(app): State<AppState>) -> Response {
    clock_json(&app)
}

/// `{"advance_seconds": N}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    advance_seconds: f64,
}

async fn advance_clock(State(app): State<AppState>, body: Bytes) -> Response {
    let advance: Advance = match serde_json::from_slice(&body) {
        Ok(advance) => advance,
        Err(error) => return bad_request(format!("invalid clock JSON: {error}")),
    };
    // Ten years is plenty; time never goes backwards.
    let seconds = advance.advance_seconds;
    if !(seconds.is_finite() && (0.0..=315_360_000.0).contains(&seconds)) {
        return bad_request("advance_seconds must be between 0 and 315360000");
    }
    app.sim.advance_clock(Duration::from_secs_f64(seconds));
    clock_json(&app)
}
