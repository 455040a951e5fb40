//! `/api/v1/endpoints`: where a tenant's events are delivered.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use herald_engine::model::{
    EndpointId, EndpointIn, EndpointOut, EndpointPatch, EventIn, Page, Permission,
};
use herald_engine::sign::Secret;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::{ApiJson, ApiQuery, Caller, ListParams, optional_json};
use crate::error::ApiError;
use crate::state::AppState;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

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
    let endpoint = herald_engine::validate::endpoint(input)?;
    let secret = endpoint.secret.expose();
    let endpoint = state
        .store
        .create_endpoint(caller.tenant_id, endpoint)
        .await?;
    tracing::info!(endpoint = %endpoint.id, "endpoint created");
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
    let patch = herald_engine::validate::endpoint_patch(patch)?;
    let endpoint = state
        .store
        .update_endpoint(caller.tenant_id, endpoint_id(&id)?, patch)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("endpoint '{id}' was not found")))?;
    tracing::info!(endpoint = %endpoint.id, "endpoint updated");
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
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "endpoint '{id}' was not found"
        )))
    }
}

/// Loads the caller's endpoint or answers 404.
async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<EndpointOut, ApiError> {
    state
        .store
        .get_endpoint(caller.tenant_id, endpoint_id(id)?)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("endpoint '{id}' was not found")))
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
    let endpoint = owned(&state, &caller, &id).await?;
    let reason = input
        .reason
        .unwrap_or_else(|| "disabled by an operator".into());
    if reason.chars().count() > 200 {
        return Err(invalid("reason: at most 200 characters"));
    }
    state
        .store
        .set_endpoint_enabled(endpoint.id, false, Some(&reason))
        .await?;
    Ok(Json(owned(&state, &caller, &id).await?))
}

async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EndpointOut>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let endpoint = owned(&state, &caller, &id).await?;
    state
        .store
        .set_endpoint_enabled(endpoint.id, true, None)
        .await?;
    Ok(Json(owned(&state, &caller, &id).await?))
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

const DEFAULT_GRACE_SECS: u64 = 24 * 3_600;
const MAX_GRACE_SECS: u64 = 30 * 24 * 3_600;

async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let input: RotateIn = optional_json(&body)?;
    let grace = input.grace_period_secs.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > MAX_GRACE_SECS {
        return Err(invalid(format!(
            "grace_period_secs: at most {MAX_GRACE_SECS} (30 days)"
        )));
    }
    let secret = match input.secret {
        Some(text) => Secret::parse(&text).map_err(|e| invalid(format!("secret: {e}")))?,
        None => Secret::generate(),
    };
    let shown = secret.expose();
    let old_valid_until =
        Utc::now() + chrono::Duration::seconds(i64::try_from(grace).unwrap_or(i64::MAX));
    if !state
        .store
        .rotate_secret(caller.tenant_id, endpoint_id(&id)?, secret, old_valid_until)
        .await?
    {
        return Err(ApiError::not_found(format!(
            "endpoint '{id}' was not found"
        )));
    }
    tracing::info!(endpoint = %id, grace_secs = grace, "endpoint secret rotated");
    Ok(Json(
        json!({ "secret": shown, "previous_secret_valid_until": old_valid_until }),
    ))
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
    let endpoint = owned(&state, &caller, &id).await?;
    if !endpoint.enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "endpoint_disabled",
            format!("endpoint '{id}' is disabled; enable it to send a test event"),
        ));
    }
    // The same checks as any published event, then addressed to this endpoint only.
    let test = EventIn {
        event_type: input.event_type.unwrap_or_else(|| "herald.test".into()),
        payload: input.payload.unwrap_or_else(
            || json!({"test": true, "message": "A test event sent from Herald", "endpoint_id": endpoint.id}),
        ),
        idempotency_key: None,
        correlation_id: None,
        entity_id: None,
        metadata: Some(json!({"herald_test_event": true})),
    };
    let mut event = herald_engine::validate::event(test, None, "", state.limits.max_payload_bytes)?;
    event.only_endpoint = Some(endpoint.id);
    let ingested = state
        .store
        .ingest(caller.tenant_id, vec![event], Utc::now())
        .await?;
    state.dispatcher.wake();
    let event_id = ingested.first().map(|i| i.event().id);
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
