//! `GET /api/v1/audit`: the tenant's audit log, newest first.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use herald_engine::model::{AuditFilter, AuditId, AuditOut, Page, Permission};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{ApiQuery, Caller, ListParams};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// An exact action (`endpoint.update`) or a prefix ending in `.` (`endpoint.`).
    action: Option<String>,
    /// Part of the actor (`ops@`, `key_01J…`).
    actor: Option<String>,
    /// An exact target id or email.
    target: Option<String>,
    /// Entries at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Entries before this time (RFC 3339).
    until: Option<DateTime<Utc>>,
    /// `next_cursor` from the previous page.
    #[param(pattern = "^[a-z]+_[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    cursor: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Read the audit log
///
/// Every change to the tenant (endpoints, policies, DLQ, replays, keys), newest
/// first, filtered by action, actor, target and time.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "Audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit entries, newest first.", body = Page<AuditOut>, example = json!(ex::page(vec![ex::audit_entry()]))),
        (status = 400, description = "until must be later than since."),
    ),
)]
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

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}
