//! `GET /api/v1/stats`: delivery statistics for a time range.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use herald_engine::model::{EndpointId, Granularity, GroupBy, Permission, StatsOut};
use herald_engine::store::{StatsQuery, default_granularity};
use serde::Deserialize;

use crate::api::extract::{ApiQuery, Caller};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    /// Default: 24 hours before `to`.
    from: Option<DateTime<Utc>>,
    /// Default: now.
    to: Option<DateTime<Utc>>,
    /// minute, hour or day; default: by the range (minutes up to 6 h, hours up to 14 days).
    granularity: Option<Granularity>,
    /// none (default), endpoint or event_type.
    group_by: Option<GroupBy>,
    endpoint_id: Option<String>,
    event_type: Option<String>,
}

async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<StatsParams>,
) -> Result<Json<StatsOut>, ApiError> {
    caller.require(Permission::Read)?;
    let to = p.to.unwrap_or_else(Utc::now);
    let from = p.from.unwrap_or(to - chrono::Duration::hours(24));
    let endpoint_id = p
        .endpoint_id
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.parse::<EndpointId>()
                .map_err(|err| ApiError::bad_request(format!("endpoint_id: {err}")))
        })
        .transpose()?;
    let query = StatsQuery {
        from,
        to,
        granularity: p
            .granularity
            .unwrap_or_else(|| default_granularity(from, to)),
        group_by: p.group_by.unwrap_or_default(),
        endpoint_id,
        event_type: p.event_type.filter(|t| !t.is_empty()),
    };
    Ok(Json(state.store.stats(caller.tenant_id, &query).await?))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/stats", get(stats))
}
