//! The HTTP side: routes, body limits, and the life of one API call (latency → early faults →
//! authentication → token bucket → API-error fault → action → drop-after-commit → list faults),
//! each call counted once in the stats.
//!
//! Responses mimic the PHP server: HTTP 200 for API errors and authentication failures,
//! `Content-Type: text/html; charset=UTF-8` (PHP's default; no client looks at it), and HTML
//! pages for injected 5xx answers.

use std::{future::Future, io, sync::Arc, time::Instant};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use tokio::{net::TcpListener, sync::watch};

use super::{
    admin,
    auth::{self, AUTH_FAILURE, Authenticated, Rejected},
    encode::php_json,
    faults::EarlyFault,
    simulator::Simulator,
    stats::{INVALID_ACTION_KEY, Outcome},
};
use crate::lunanode::actions;

/// Largest request body accepted (1 MiB); larger ones get `success:no`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Bodies beyond the limit are still read (and discarded) up to this size so the client gets
/// its answer instead of a reset connection; beyond it the connection is closed.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

const PHP_CONTENT_TYPE: &str = "text/html; charset=UTF-8";

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The simulator.
    pub sim: Arc<Simulator>,
    /// Set to `true` when the server shuts down, so held (timed-out) calls end early.
    pub closing: Arc<watch::Sender<bool>>,
}

impl AppState {
    /// Sleeps, unless the server is shutting down.
    async fn hold(&self, duration: std::time::Duration) {
        let mut closing = self.closing.subscribe();
        tokio::select! {
            () = tokio::time::sleep(duration) => {}
            _ = closing.wait_for(|closing| *closing) => {}
        }
    }
}

/// The simulator's routes (API, legacy API and `/_sim/` admin), for embedding in another
/// server. Held calls end only when their time is up; [`serve_with_shutdown`] ends them early.
pub fn router(sim: Arc<Simulator>) -> Router {
    build(AppState {
        sim,
        closing: Arc::new(watch::channel(false).0),
    })
}

fn build(state: AppState) -> Router {
    Router::new()
        .route("/api/{category}/{action}/", post(signed_call))
        .route("/api/{category}/{action}", post(signed_call))
        .route("/api.php", get(legacy_call).post(legacy_call))
        .route("/api", get(legacy_call).post(legacy_call))
        .merge(admin::routes())
        .with_state(state)
}

/// Serves the simulator on `listener` until the process ends.
pub async fn serve(listener: TcpListener, sim: Arc<Simulator>) -> io::Result<()> {
    serve_with_shutdown(listener, sim, std::future::pending()).await
}

/// Serves the simulator on `listener` until `shutdown` completes, then finishes the calls in
/// flight (held calls are cut short) and returns.
pub async fn serve_with_shutdown<F>(
    listener: TcpListener,
    sim: Arc<Simulator>,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let closing = Arc::new(watch::channel(false).0);
    let app = build(AppState {
        sim,
        closing: closing.clone(),
    });
    let signal = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .await
}

/// Why a body could not be used.
enum BodyError {
    TooLarge,
    Unreadable,
}

async fn read_body(body: Body) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        total = total.saturating_add(chunk.len());
        if total > DRAIN_LIMIT {
            return Err(BodyError::TooLarge);
        }
        if total <= MAX_BODY_BYTES {
            buffer.extend_from_slice(&chunk);
        }
    }
    if total > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge);
    }
    Ok(Bytes::from(buffer))
}

fn body_failure(state: &AppState, error: &BodyError) -> Response {
    let message = match error {
        BodyError::TooLarge => format!("request too large (limit {MAX_BODY_BYTES} bytes)"),
        BodyError::Unreadable => String::from("could not read the request body"),
    };
    finish(
        state,
        INVALID_ACTION_KEY,
        None,
        Outcome::AuthError,
        php_error(&message),
    )
}

async fn signed_call(
    State(state): State<AppState>,
    Path((category, action)): Path<(String, String)>,
    body: Body,
) -> Response {
    match read_body(body).await {
        Ok(body) => {
            let caller = Caller::Signed(body);
            api_call(&state, &category, &action, caller).await
        }
        Err(error) => body_failure(&state, &error),
    }
}

async fn legacy_call(State(state): State<AppState>, uri: Uri, body: Body) -> Response {
    match read_body(body).await {
        Ok(body) => {
            let call = auth::legacy(&state.sim, uri.query().unwrap_or(""), &body);
            let caller = Caller::Checked(call.caller);
            api_call(&state, &call.category, &call.action, caller).await
        }
        Err(error) => body_failure(&state, &error),
    }
}

/// The caller of an API call, checked or still to check.
enum Caller {
    /// A signed-API body, checked after the early faults.
    Signed(Bytes),
    /// Already checked (legacy API).
    Checked(Result<Authenticated, Rejected>),
}

async fn api_call(state: &AppState, category: &str, action: &str, caller: Caller) -> Response {
    let sim = &state.sim;
    let spec = actions::find(category, action);
    let path = spec.map_or_else(|| INVALID_ACTION_KEY.to_owned(), |spec| spec.path());
    // Every answer below is counted and logged against this action.
    let done = |api_id: Option<&str>, outcome: Outcome, response: Response| {
        finish(state, &path, api_id, outcome, response)
    };
    let (latency, early) = {
        let mut engine = sim.fault_engine();
        (engine.latency(), engine.early(&path))
    };
    if !latency.is_zero() {
        state.hold(latency).await;
    }
    match early {
        Some(EarlyFault::Http(status)) => {
            return done(None, Outcome::Fault("http_5xx"), html_error(status));
        }
        Some(EarlyFault::Timeout(hold)) => {
            sim.record(&path, Outcome::Fault("timeout"));
            state.hold(hold).await;
            return html_error(504);
        }
        Some(EarlyFault::Throttle) => {
            let response = throttled(&sim.fault_engine().retry_after());
            return done(None, Outcome::Fault("throttle"), response);
        }
        None => {}
    }
    let Some(spec) = spec else {
        return done(None, Outcome::ApiError, php_error("invalid action"));
    };
    let caller = match caller {
        Caller::Signed(body) => auth::signed(sim, category, action, &body),
        Caller::Checked(result) => result,
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(Rejected::Auth) => {
            return done(None, Outcome::AuthError, php_error(AUTH_FAILURE));
        }
        Err(Rejected::Malformed(message)) => {
            return done(None, Outcome::AuthError, php_error(message));
        }
    };
    let api_id = Some(caller.api_id.as_str());
    if !sim
        .fault_engine()
        .take_token(&caller.api_id, &path, Instant::now())
    {
        let response = throttled(&sim.fault_engine().retry_after());
        return done(api_id, Outcome::Fault("throttle_burst"), response);
    }
    if sim.fault_engine().api_error(&path) {
        let response = php_error("internal error, please try again");
        return done(api_id, Outcome::Fault("api_error"), response);
    }
    if sim.fault_engine().noop(&path) {
        return done(api_id, Outcome::Fault("noop"), php_ok(Map::new()));
    }
    let result = caller
        .params
        .and_then(|params| sim.perform(&caller.api_id, spec, &params));
    if sim.fault_engine().drop_after_commit(&path) {
        return done(api_id, Outcome::Fault("drop_after_commit"), dropped());
    }
    match result {
        Ok(mut data) => {
            sim.thin_list(&path, &mut data);
            done(api_id, Outcome::Ok, php_ok(data))
        }
        Err(error) => done(api_id, Outcome::ApiError, php_error(error.message())),
    }
}

/// Counts and logs a call (never its parameters or keys), and passes the response through.
fn finish(
    state: &AppState,
    path: &str,
    api_id: Option<&str>,
    outcome: Outcome,
    response: Response,
) -> Response {
    state.sim.record(path, outcome);
    tracing::debug!(
        action = path,
        api_id = api_id.unwrap_or("-"),
        outcome = outcome.label(),
        "api call"
    );
    response
}

fn php_response(status: StatusCode, value: &Value) -> Response {
    let mut response = (status, php_json(value)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PHP_CONTENT_TYPE),
    );
    response
}

fn php_ok(mut data: Map<String, Value>) -> Response {
    data.insert("success".into(), json!("yes"));
    php_response(StatusCode::OK, &Value::Object(data))
}

fn php_error(message: &str) -> Response {
    php_response(StatusCode::OK, &json!({"success": "no", "error": message}))
}

fn throttled(retry_after: &str) -> Response {
    let mut response = php_response(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"success": "no", "error": "too many requests; please slow down"}),
    );
    // The faults endpoint checked the value; a bad one falls back to one second.
    let value = HeaderValue::from_str(retry_after).unwrap_or(HeaderValue::from_static("1"));
    response.headers_mut().insert(header::RETRY_AFTER, value);
    response
}

/// An nginx-style error page, as a proxy in front of PHP would send.
fn html_error(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = code.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = (code, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

/// A response whose body fails at once: the server closes the connection without a complete
/// answer, so the client sees a transport error although the action was performed.
fn dropped() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, io::Error>(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "response dropped by fault injection",
        ))
    });
    let mut response = Response::new(Body::from_stream(failing));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PHP_CONTENT_TYPE),
    );
    response
}
