//! `GET /api/v1/tenant`: the tenant the calling key belongs to.

use axum::routing::get;
use axum::{Json, Router, extract::State};
use herald_engine::model::{Permission, TenantOut};

use crate::api::extract::Caller;
use crate::error::ApiError;
use crate::state::AppState;

async fn current(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TenantOut>, ApiError> {
    caller.require(Permission::Read)?;
    let tenant = state
        .store
        .tenant_by_slug(&caller.tenant_slug)
        .await?
        .ok_or_else(|| ApiError::internal(format!("tenant of key {} is missing", caller.key_id)))?;
    Ok(Json(tenant))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/tenant", get(current))
}
