//! `/api/v1/tenant`: the tenant the calling key belongs to, and its settings.

use axum::{Json, extract::State};
use herald_engine::model::{Permission, TenantOut, TenantPatch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
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

/// The calling key's tenant
#[utoipa::path(
    get,
    path = "/api/v1/tenant",
    tag = "Tenant",
    responses((status = 200, description = "The tenant and its settings.", body = TenantOut,
        example = json!(ex::tenant()))),
)]
async fn current(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TenantOut>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(Json(load(&state, &caller).await?))
}

/// Change the tenant's settings
///
/// Fields left out stay as they are; `null` turns payload dedup off, names
/// no operations endpoint or sets no dead-letter alert. Tenant settings are
/// configuration: they need the same scope as endpoints.
///
/// The operations endpoint (one of the tenant's endpoints) is sent Herald's
/// own events about the tenant, signed like any delivery and addressed to it
/// alone: `herald.endpoint.circuit_opened`, `herald.endpoint.circuit_closed`,
/// `herald.endpoint.disabled`, `herald.dlq.threshold_exceeded` (once each
/// time the dead-letter queue goes past `dlq_alert_threshold` entries) and
/// `herald.replay.completed` / `herald.replay.failed`.
///
/// Retention: `event_retention_days` (new tenants: 30) is how long events,
/// their deliveries and receipts are kept; an event with a delivery still
/// waiting or in the dead-letter queue is kept until it leaves.
/// `stats_retention_days` (new tenants: 400) is how long delivery statistics
/// are kept. `null` keeps them forever.
#[utoipa::path(
    patch,
    path = "/api/v1/tenant",
    tag = "Tenant",
    request_body(content = TenantPatch, example = json!({
        "payload_dedup_window_secs": 300, "operations_endpoint_id": ex::ENDPOINT, "dlq_alert_threshold": 100,
        "event_retention_days": 30, "stats_retention_days": 400
    })),
    responses(
        (status = 200, description = "The tenant as it is now.", body = TenantOut,
            example = json!(ex::tenant())),
        (status = 404, description = "endpoint 'ep_…' was not found."),
    ),
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(patch): ApiJson<TenantPatch>,
) -> Result<Json<TenantOut>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    state
        .engine
        .update_tenant(caller.tenant_id, patch, &caller.by())
        .await?;
    Ok(Json(load(&state, &caller).await?))
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(current, update))
}
