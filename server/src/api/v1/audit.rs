//! `GET /api/v1/audit`: the tenant's audit log, newest first.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use herald_engine::model::{AuditFilter, AuditId, AuditOut, Page, Permission};
use serde::Deserialize;

use crate::api::extract::{ApiQuery, Caller, ListParams};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditOut>>, ApiError> {
    caller.require(Permission::ReadAudit)?;
    let page = ListParams {
        cursor: q.cursor,
        limit: q.limit,
    };
    let filter = AuditFilter {
        action: q.action.filter(|s| !s.is_empty()),
        actor: q.actor.filter(|s| !s.is_empty()),
        target: q.target.filter(|s| !s.is_empty()),
        since: q.since,
        until: q.until,
    };
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && until <= since
    {
        return Err(ApiError::bad_request("until must be later than since"));
    }
    Ok(Json(
        state
            .store
            .list_audit(
                Some(caller.tenant_id),
                &filter,
                page.cursor::<AuditId>()?,
                page.limit()?,
            )
            .await?,
    ))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list))
}
