//! Liveness and readiness probes.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process is up and serving. No I/O.
pub async fn live() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Readiness: every dependency answers. 503, naming the failing one, otherwise.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let mut checks = serde_json::Map::new();

    let started = Instant::now();
    let database = match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
    };
    checks.insert("database".into(), check_json("database", database, started));

    if let Some(redis) = &state.redis {
        let started = Instant::now();
        checks.insert(
            "redis".into(),
            check_json("redis", redis.ping(CHECK_TIMEOUT).await, started),
        );
    }

    let all_up = checks.values().all(|c| c["status"] == "up");
    let status = if all_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if all_up { "ready" } else { "unavailable" },
        "checks": checks,
    });
    (status, Json(body))
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
