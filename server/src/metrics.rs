//! `GET /metrics`: Prometheus text format. Counters come from the engine's
//! in-memory metrics; queue, DLQ, endpoint and replay gauges are read from the
//! store on each scrape, and so are the nodes sharing the database (from
//! their heartbeats) with the leases each holds. No authentication: it carries aggregate counts and
//! replay job ids only, no tenant data; restrict it at the network if needed.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;

use crate::error::ApiError;
use crate::state::AppState;

/// Prometheus metrics
///
/// Counters, histograms and gauges in the Prometheus text format: events
/// ingested, delivery attempts by outcome and error class, attempt latency,
/// due and in-flight queue depth, DLQ depth, endpoints by state, replay
/// progress, and the nodes sharing the database with the leases each holds
/// (`herald_node_leases`). No key needed; keep the port private or scrape through a proxy.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "Operations",
    responses(
        (status = 200, description = "The metrics, Prometheus text format 0.0.4.", content_type = "text/plain", body = String,
         example = "# TYPE herald_delivery_attempts_total counter\nherald_delivery_attempts_total{outcome=\"succeeded\",error_class=\"\"} 1042\n"),
        (status = 500, description = "The store could not be read."),
    ),
)]
pub async fn scrape(State(state): State<AppState>) -> Response {
    let gauges = match state.store.gauges(chrono::Utc::now()).await {
        Ok(mut gauges) => herald_engine::membership::nodes(state.store.as_ref())
            .await
            .map(|nodes| {
                gauges.nodes = nodes;
                gauges
            }),
        Err(e) => Err(e),
    };
    match gauges {
        Ok(gauges) => (
            [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            state.engine.metrics.render(&gauges),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
