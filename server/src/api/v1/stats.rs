//! `GET /api/v1/stats`: delivery statistics for a time range.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use herald_engine::model::{Permission, StatsOut, StatsQuery};
use herald_engine::stats::Asked;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::extract::{Caller, Filters};
use crate::error::ApiError;
use crate::state::AppState;

/// Delivery statistics
///
/// Attempts, successes, failures by error class, DLQ additions and removals,
/// and latency histograms with p50/p95/p99, per minute, hour or day, for the
/// whole tenant or split by endpoint or event type. Read from rollups kept as
/// attempts are recorded, so a week costs the same with millions of attempts.
/// `dlq_depth` gives the DLQ's size at the end of each bucket; `acked` and
/// `ack_timeouts` count receivers' acknowledgements and missed deadlines
/// (effectively-once endpoints).
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "Statistics",
    params(StatsQuery),
    responses(
        (status = 200, description = "Series of buckets (only those with attempts) and totals.", body = StatsOut, example = json!(stats_example())),
        (status = 400, description = "granularity: 'week' is not a granularity; expected one of: minute, hour, day"),
        (status = 422, description = "granularity: 10080 buckets of a minute are too many for one query (at most 1440); choose a coarser granularity or a shorter range."),
    ),
)]
async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Filters(query): Filters<StatsQuery>,
) -> Result<Json<StatsOut>, ApiError> {
    caller.require(Permission::Read)?;
    match herald_engine::stats::resolve(&query, Utc::now()) {
        Asked::Empty(out) => Ok(Json(out)),
        Asked::Read(scope) => Ok(Json(state.store.stats(caller.tenant_id, &scope).await?)),
    }
}

fn stats_example() -> Value {
    // One hour's bucket; the total is two of them.
    let point = |start: &str, n: u64| {
        json!({"start": start, "attempts": 60 * n, "succeeded": 57 * n, "failed": 3 * n,
            "dlq_added": n, "dlq_removed": 0, "acked": 0, "ack_timeouts": 0, "errors": {"http_status": 2 * n, "timeout": n},
            "latency_histogram": {"38": 20 * n, "40": 20 * n, "88": 18 * n, "232": 2 * n},
            "latency_sum_ms": 3630 * n, "latency_p50_ms": 40, "latency_p95_ms": 89, "latency_p99_ms": 235})
    };
    json!({
        "granularity": "hour", "from": "2026-11-30T08:00:00Z", "to": "2026-11-30T10:00:00Z", "group_by": "none",
        "series": [{
            "points": [point("2026-11-30T08:00:00Z", 1), point("2026-11-30T09:00:00Z", 1)],
            "total": point("2026-11-30T08:00:00Z", 2),
        }],
        "total": point("2026-11-30T08:00:00Z", 2),
        "dlq_depth": [{"end": "2026-11-30T09:00:00Z", "depth": 4}, {"end": "2026-11-30T10:00:00Z", "depth": 5}],
    })
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stats))
}
