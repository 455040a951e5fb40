//! `/api/v1/endpoints`: where a tenant's events are delivered.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use herald_engine::model::{EndpointId, EndpointIn, EndpointOut, EndpointPatch, Page, Permission};
use herald_engine::service::Rotated;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::{ApiJson, ApiQuery, Caller, ListParams, optional_json};
use crate::error::ApiError;
use crate::state::AppState;

/// The new endpoint's listing plus its signing secret, shown this once.
#[derive(Serialize)]
struct EndpointCreated {
    #[serde(flatten)]
    endpoint: EndpointOut,
    secret: String,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointCreated>), ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let (endpoint, secret) = state
        .engine
        .create_endpoint(caller.tenant_id, input)
        .await?;
    caller
        .audit(
            &state,
            "endpoint.create",
            endpoint.id,
            format!("created endpoint {} for {}", endpoint.id, endpoint.url),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(EndpointCreated { endpoint, secret }),
    ))
}

fn endpoint_id(id: &str) -> Result<EndpointId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("endpoint '{id}' was not found")))
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EndpointOut>, ApiError> {
    caller.require(Permission::Read)?;
    let endpoint = state
        .store
        .get_endpoint(caller.tenant_id, endpoint_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("endpoint '{id}' was not found")))?;
    Ok(Json(endpoint))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<EndpointOut>>, ApiError> {
    caller.require(Permission::Read)?;
    let after = params.cursor::<EndpointId>()?;
    Ok(Json(
        state
            .store
            .list_endpoints(caller.tenant_id, after, params.limit()?)
            .await?,
    ))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<EndpointPatch>,
) -> Result<Json<EndpointOut>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let summary = herald_engine::audit::changed_fields(&patch);
    let endpoint = state
        .engine
        .update_endpoint(caller.tenant_id, endpoint_id(&id)?, patch)
        .await?;
    caller
        .audit(&state, "endpoint.update", endpoint.id, summary)
        .await;
    Ok(Json(endpoint))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    if state
        .store
        .delete_endpoint(caller.tenant_id, endpoint_id(&id)?)
        .await?
    {
        tracing::info!(endpoint = %id, "endpoint deleted");
        caller
            .audit(&state, "endpoint.delete", &id, "deleted the endpoint")
            .await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "endpoint '{id}' was not found"
        )))
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DisableIn {
    #[serde(default)]
    reason: Option<String>,
}

async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EndpointOut>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let input: DisableIn = optional_json(&body)?;
    let endpoint = state
        .engine
        .set_endpoint_enabled(caller.tenant_id, endpoint_id(&id)?, false, input.reason)
        .await?;
    let reason = endpoint.disabled_reason.clone().unwrap_or_default();
    caller
        .audit(
            &state,
            "endpoint.disable",
            endpoint.id,
            format!("disabled: {reason}"),
        )
        .await;
    Ok(Json(endpoint))
}

async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EndpointOut>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let endpoint = state
        .engine
        .set_endpoint_enabled(caller.tenant_id, endpoint_id(&id)?, true, None)
        .await?;
    caller
        .audit(&state, "endpoint.enable", endpoint.id, "enabled")
        .await;
    Ok(Json(endpoint))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateIn {
    /// How long the old secret keeps signing alongside the new one (default 24 h).
    #[serde(default)]
    grace_period_secs: Option<u64>,
    /// A `whsec_…` secret to switch to; generated when absent.
    #[serde(default)]
    secret: Option<String>,
}

async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Rotated>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let input: RotateIn = optional_json(&body)?;
    let rotated = state
        .engine
        .rotate_secret(
            caller.tenant_id,
            endpoint_id(&id)?,
            input.grace_period_secs,
            input.secret,
        )
        .await?;
    caller
        .audit(
            &state,
            "endpoint.rotate_secret",
            &id,
            format!(
                "rotated the signing secret; the previous one signs until {}",
                rotated.previous_secret_valid_until.to_rfc3339()
            ),
        )
        .await;
    Ok(Json(rotated))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TestEventIn {
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    payload: Option<serde_json::Value>,
}

/// Sends an event to this endpoint alone (whatever its patterns), so a team can
/// check its receiver; the event page shows what happened.
async fn send_test_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    caller.require(Permission::SendTestEvent)?;
    let input: TestEventIn = optional_json(&body)?;
    let event_id = state
        .engine
        .send_test_event(
            caller.tenant_id,
            endpoint_id(&id)?,
            input.event_type,
            input.payload,
        )
        .await?;
    caller
        .audit(
            &state,
            "endpoint.test_event",
            &id,
            format!("sent test event {event_id}"),
        )
        .await;
    Ok((StatusCode::ACCEPTED, Json(json!({ "event_id": event_id }))))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/endpoints", get(list).post(create))
        .route("/endpoints/{id}", get(get_one).patch(update).delete(delete))
        .route("/endpoints/{id}/disable", post(disable))
        .route("/endpoints/{id}/enable", post(enable))
        .route("/endpoints/{id}/rotate-secret", post(rotate_secret))
        .route("/endpoints/{id}/test", post(send_test_event))
}
