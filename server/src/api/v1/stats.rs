//! `GET /api/v1/stats`: delivery statistics for a time range.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use herald_engine::model::{
    Counts, EndpointId, Granularity, GroupBy, Permission, StatsOut, StatsPoint, StatsSeries,
};
use herald_engine::store::StatsQuery;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::extract::{ApiQuery, Caller};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    /// Default: 24 hours before `to`. The range is clipped to the years 1970
    /// to 9999; a range wholly outside them has no buckets.
    from: Option<DateTime<Utc>>,
    /// Default: now.
    to: Option<DateTime<Utc>>,
    /// minute, hour or day; default: by the range (minutes up to 6 h, hours up to 14 days).
    granularity: Option<Granularity>,
    /// none (default), endpoint or event_type.
    group_by: Option<GroupBy>,
    /// Only this endpoint's attempts.
    #[param(value_type = Option<EndpointId>)]
    endpoint_id: Option<String>,
    /// Only this event type's attempts.
    event_type: Option<String>,
}

/// Delivery statistics
///
/// Attempts, successes, failures by error class, DLQ additions and removals,
/// and latency histograms with p50/p95/p99, per minute, hour or day, for the
/// whole tenant or split by endpoint or event type. Read from rollups kept as
/// attempts are recorded, so a week costs the same with millions of attempts.
/// `dlq_depth` gives the DLQ's size at the end of each bucket.
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "Statistics",
    params(StatsParams),
    responses(
        (status = 200, description = "Series of buckets (only those with attempts) and totals.", body = StatsOut, example = json!(stats_example())),
        (status = 400, description = "query string: unknown variant `week`, expected one of `minute`, `hour`, `day`."),
        (status = 422, description = "granularity: 10080 buckets of a minute are too many for one query (at most 1440); choose a coarser granularity or a shorter range."),
    ),
)]
async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<StatsParams>,
) -> Result<Json<StatsOut>, ApiError> {
    caller.require(Permission::Read)?;
    let asked_to = p.to.unwrap_or_else(Utc::now);
    let asked_from = p.from.unwrap_or_else(|| {
        asked_to
            .checked_sub_signed(chrono::Duration::hours(24))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    });
    let endpoint_id = p
        .endpoint_id
        .map(|e| {
            e.parse::<EndpointId>()
                .map_err(|err| ApiError::bad_request(format!("endpoint_id: {err}")))
        })
        .transpose()?;
    // Herald keeps no statistics outside 1970..=9999: the range is clipped to
    // those years, and a range wholly outside them is an empty answer.
    let to = asked_to.min(stats_end());
    let from = asked_from.max(stats_epoch());
    let granularity = p
        .granularity
        .unwrap_or_else(|| Granularity::for_range(from, to));
    let group_by = p.group_by.unwrap_or_default();
    // (Without `from`, the range is the day before `to`, however early.)
    if (p.from.is_none() || asked_from < asked_to) && to <= from {
        // Shaped as the store answers a range without attempts.
        let total = StatsPoint::new(asked_from, Counts::default());
        let series = match group_by {
            GroupBy::None => vec![StatsSeries {
                endpoint_id: None,
                event_type: None,
                points: Vec::new(),
                total: total.clone(),
            }],
            GroupBy::Endpoint | GroupBy::EventType => Vec::new(),
        };
        return Ok(Json(StatsOut {
            granularity,
            from: asked_from,
            to: asked_to,
            group_by,
            series,
            total,
            dlq_depth: Vec::new(),
        }));
    }
    let query = StatsQuery {
        from,
        to,
        granularity,
        group_by,
        endpoint_id,
        event_type: p.event_type.filter(|t| !t.is_empty()),
        totals_only: false,
    };
    Ok(Json(state.store.stats(caller.tenant_id, &query).await?))
}

fn stats_epoch() -> chrono::DateTime<Utc> {
    chrono::DateTime::UNIX_EPOCH
}

fn stats_end() -> chrono::DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map_or(chrono::DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
}

fn stats_example() -> Value {
    // One hour's bucket; the total is two of them.
    let point = |start: &str, n: u64| {
        let mut latency_buckets = vec![0; 13];
        latency_buckets[3] = 40 * n;
        latency_buckets[4] = 18 * n;
        latency_buckets[5] = 2 * n;
        json!({"start": start, "attempts": 60 * n, "succeeded": 57 * n, "failed": 3 * n,
            "dlq_added": n, "dlq_removed": 0, "errors": {"http_status": 2 * n, "timeout": n},
            "latency_buckets": latency_buckets, "latency_sum_ms": 2710 * n,
            "latency_p50_ms": 50, "latency_p95_ms": 100, "latency_p99_ms": 250})
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
