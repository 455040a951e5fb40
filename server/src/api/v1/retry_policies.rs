//! `/api/v1/retry-policies`: named retry policies endpoints can follow, and a
//! schedule preview for any policy.

use axum::Json;
use axum::extract::{Path, State};
use herald_engine::model::{
    Page, Permission, RetryPolicyId, RetryPolicyIn, RetryPolicyOut, RetryPolicyPatch,
};
use herald_engine::retry::RetryPolicy;
use http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{ApiJson, ApiQuery, Caller, ListParams};
use crate::error::ApiError;
use crate::state::AppState;

fn policy_id(id: &str) -> Result<RetryPolicyId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("retry policy '{id}' was not found")))
}

/// Create a named retry policy
///
/// Endpoints that follow it (`retry_policy_id`) change with it.
#[utoipa::path(
    post,
    path = "/api/v1/retry-policies",
    tag = "Retry policies",
    request_body(content = RetryPolicyIn, example = json!({"name": "patient", "description": "For receivers with long maintenance windows", "policy": ex::retry_policy()})),
    responses(
        (status = 201, description = "The policy, with its planned schedule.", body = RetryPolicyOut, example = json!(ex::retry_policy_out())),
        (status = 409, description = "a retry policy named 'patient' exists already."),
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<RetryPolicyIn>,
) -> Result<(StatusCode, Json<RetryPolicyOut>), ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let policy = state
        .engine
        .create_retry_policy(caller.tenant_id, input, &caller.by())
        .await?;
    Ok((StatusCode::CREATED, Json(policy)))
}

/// List named retry policies
#[utoipa::path(
    get,
    path = "/api/v1/retry-policies",
    tag = "Retry policies",
    params(ListParams),
    responses(
        (status = 200, description = "A page of policies.", body = Page<RetryPolicyOut>, example = json!(ex::page(vec![ex::retry_policy_out()]))),
        (status = 400, description = "cursor: 'x' is not a valid retry policy id."),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<RetryPolicyOut>>, ApiError> {
    caller.require(Permission::Read)?;
    let after = params.cursor::<RetryPolicyId>()?;
    Ok(Json(
        state
            .store
            .list_retry_policies(caller.tenant_id, after, params.limit()?)
            .await?,
    ))
}

/// Read a named retry policy
#[utoipa::path(
    get,
    path = "/api/v1/retry-policies/{id}",
    tag = "Retry policies",
    params(("id" = RetryPolicyId, Path, description = "The policy's id.")),
    responses(
        (status = 200, description = "The policy.", body = RetryPolicyOut, example = json!(ex::retry_policy_out())),
        (status = 404, description = "retry policy 'rp_…' was not found."),
    ),
)]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RetryPolicyOut>, ApiError> {
    caller.require(Permission::Read)?;
    state
        .store
        .get_retry_policy(caller.tenant_id, policy_id(&id)?)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("retry policy '{id}' was not found")))
}

/// Change a named retry policy
///
/// Fields left out stay; endpoints following it use the new policy for their
/// next retries.
#[utoipa::path(
    patch,
    path = "/api/v1/retry-policies/{id}",
    tag = "Retry policies",
    params(("id" = RetryPolicyId, Path, description = "The policy's id.")),
    request_body(content = RetryPolicyPatch, example = json!({"description": "Eight attempts over about ten minutes"})),
    responses(
        (status = 200, description = "The policy as it is now.", body = RetryPolicyOut, example = json!(ex::retry_policy_out())),
        (status = 404, description = "retry policy 'rp_…' was not found."),
        (status = 409, description = "a retry policy named 'orders' already exists."),
    ),
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<RetryPolicyPatch>,
) -> Result<Json<RetryPolicyOut>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let policy = state
        .engine
        .update_retry_policy(caller.tenant_id, policy_id(&id)?, patch, &caller.by())
        .await?;
    Ok(Json(policy))
}

/// Delete a named retry policy
///
/// Refused while endpoints follow it.
#[utoipa::path(
    delete,
    path = "/api/v1/retry-policies/{id}",
    tag = "Retry policies",
    params(("id" = RetryPolicyId, Path, description = "The policy's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "retry policy 'rp_…' was not found."),
        (status = 409, description = "3 endpoints follow this policy; move them to another first."),
    ),
)]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    state
        .engine
        .delete_retry_policy(caller.tenant_id, policy_id(&id)?, &caller.by())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// When each attempt of a policy is planned, without jitter.
#[derive(Serialize, utoipa::ToSchema)]
struct Preview {
    /// Seconds after the first attempt, one per attempt (the first is 0).
    schedule_secs: Vec<u64>,
    attempts: usize,
    /// Seconds from the first attempt to the last planned one.
    span_secs: u64,
    /// How far each retry may move either way, as a fraction of its delay.
    jitter: f64,
    /// Response statuses that end a delivery at once, without a retry (410
    /// always does, and disables the endpoint).
    give_up_on: Vec<u16>,
}

/// Preview a retry schedule
///
/// When each attempt of a policy (the same JSON as an endpoint's
/// `retry_policy`) would be made, without storing anything.
#[utoipa::path(
    post,
    path = "/api/v1/retry-policies/preview",
    tag = "Retry policies",
    request_body(content = RetryPolicy, example = json!(ex::retry_policy())),
    responses(
        (status = 200, description = "The planned attempts (before jitter).", body = Preview,
            example = json!({"schedule_secs": [0, 5, 15, 35, 75, 155, 315, 635], "attempts": 8, "span_secs": 635, "jitter": 0.1, "give_up_on": [400, 404]})),
    ),
)]
async fn preview(
    caller: Caller,
    ApiJson(policy): ApiJson<RetryPolicy>,
) -> Result<Json<Preview>, ApiError> {
    caller.require(Permission::Read)?;
    policy.validate().map_err(ApiError::unprocessable)?;
    let schedule_secs = policy.preview_offsets_secs();
    Ok(Json(Preview {
        attempts: schedule_secs.len(),
        span_secs: schedule_secs.last().copied().unwrap_or(0),
        schedule_secs,
        jitter: policy.jitter,
        give_up_on: policy.give_up_on.to_vec(),
    }))
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(preview))
        .routes(routes!(get_one, update, delete))
}
