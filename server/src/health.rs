//! Liveness and readiness probes.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness
///
/// The process is up and serving. Touches nothing else, so it stays cheap.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "Operations",
    responses((status = 200, description = "Herald is serving.", body = Object,
        example = json!({"status": "ok", "version": "0.1.0"}))),
)]
pub async fn live() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Readiness
///
/// The database answers: this node can take events and deliver them (503
/// when it does not). Redis, when configured, is reported too, but a node
/// without it still serves (its rate limits and live feed fall back to this
/// node alone), so Redis down makes the status `degraded`, still 200: a load
/// balancer keeps sending traffic. The database check names the backend and
/// this node. Why a check failed goes to the log, not to the caller.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Operations",
    responses(
        (status = 200, description = "The database answered (`ready`); Redis too, or it did not (`degraded`).", body = Object,
            example = json!({"status": "ready", "checks": {"database": {"status": "up", "latency_ms": 0.4, "backend": "postgres", "node": "node_01JD…"}, "redis": {"status": "up", "latency_ms": 0.2}}})),
        (status = 503, description = "The database did not answer in 2 s.", body = Object,
            example = json!({"status": "unavailable", "checks": {"database": {"status": "down", "latency_ms": 2000.1, "backend": "postgres", "node": "node_01JD…"}}})),
    ),
)]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let mut checks = serde_json::Map::new();

    let started = Instant::now();
    let database = match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
    };
    let database_up = database.is_ok();
    let mut database = check_json("database", database, started);
    database["backend"] = json!(if state.store.capabilities().single_node {
        "sqlite"
    } else {
        "postgres"
    });
    database["node"] = json!(state.store.node());
    checks.insert("database".into(), database);

    let mut redis_up = true;
    if let Some(redis) = &state.redis {
        let started = Instant::now();
        let answered = redis.ping(CHECK_TIMEOUT).await;
        redis_up = answered.is_ok();
        checks.insert("redis".into(), check_json("redis", answered, started));
    }

    let (status, word) = match (database_up, redis_up) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, false) => (StatusCode::OK, "degraded"),
        (true, true) => (StatusCode::OK, "ready"),
    };
    (status, Json(json!({ "status": word, "checks": checks })))
}

/// The probes' part of the OpenAPI document.
pub fn docs() -> Vec<utoipa::openapi::OpenApi> {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(live, ready, crate::metrics::scrape))]
    struct Doc;
    vec![<Doc as utoipa::OpenApi>::openapi()]
}

/// A dependency's status for the probe. Why it is down goes to the log (with the
/// correlation id), not into the 503: probes can be public, causes are internal.
fn check_json(name: &str, result: Result<(), String>, started: Instant) -> Value {
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
    match result {
        Ok(()) => json!({ "status": "up", "latency_ms": latency_ms }),
        Err(error) => {
            tracing::warn!(dependency = name, %error, "readiness check failed");
            json!({ "status": "down", "latency_ms": latency_ms })
        }
    }
}
