//! `/api/v1/tenant`: the tenant the calling key belongs to, and its settings.

use axum::routing::get;
use axum::{Json, Router, extract::State};
use herald_engine::model::{Permission, TenantOut, TenantPatch};

use crate::api::extract::{ApiJson, Caller};
use crate::error::ApiError;
use crate::state::AppState;

async fn load(state: &AppState, caller: &Caller) -> Result<TenantOut, ApiError> {
    state
        .store
        .tenant_by_slug(&caller.tenant_slug)
        .await?
        .ok_or_else(|| ApiError::internal(format!("tenant of key {} is missing", caller.key_id)))
}

async fn current(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TenantOut>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(Json(load(&state, &caller).await?))
}

/// Tenant settings are configuration: the same permission as endpoints.
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(patch): ApiJson<TenantPatch>,
) -> Result<Json<TenantOut>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let summary = herald_engine::audit::changed_fields(&patch);
    state
        .engine
        .update_tenant(caller.tenant_id, patch.clone())
        .await?;
    caller
        .audit(&state, "tenant.update", caller.tenant_id, summary)
        .await;
    Ok(Json(load(&state, &caller).await?))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/tenant", get(current).patch(update))
}
