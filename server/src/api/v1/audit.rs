//! `GET /api/v1/audit`: the tenant's audit log, newest first.

use axum::Json;
use axum::extract::State;
use herald_engine::model::{AuditOut, AuditQuery, Page, Permission};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{Caller, ListOf, PageLimit};
use crate::error::ApiError;
use crate::state::AppState;

/// Read the audit log
///
/// Every change to the tenant (endpoints, policies, DLQ, replays, keys), newest
/// first, filtered by action, actor, target and time.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "Audit",
    params(AuditQuery, PageLimit),
    responses(
        (status = 200, description = "A page of audit entries, newest first.", body = Page<AuditOut>, example = json!(ex::page(vec![ex::audit_entry()]))),
        (status = 400, description = "until: must be later than since."),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ListOf { query, limit }: ListOf<AuditQuery>,
) -> Result<Json<Page<AuditOut>>, ApiError> {
    caller.require(Permission::ReadAudit)?;
    Ok(Json(
        state
            .store
            .list_audit(Some(caller.tenant_id), &query, limit)
            .await?,
    ))
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}
