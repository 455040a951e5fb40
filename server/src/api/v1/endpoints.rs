//! `/api/v1/endpoints`: where a tenant's events are delivered.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use herald_engine::model::{
    BlockedStream, EndpointId, EndpointIn, EndpointOut, EndpointPatch, EventId, Page, Permission,
};
use herald_engine::service::Rotated;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{ApiJson, ApiQuery, Caller, ListParams, optional_json};
use crate::error::ApiError;
use crate::state::AppState;

/// The new endpoint's listing plus its signing secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
struct EndpointCreated {
    #[serde(flatten)]
    endpoint: EndpointOut,
    /// The signing secret (`whsec_…`), shown this once.
    secret: String,
}

/// Register an endpoint
///
/// Events whose type matches one of `event_types` are delivered to `url`,
/// signed with the secret in the answer (shown this once). A URL that resolves
/// to an address deliveries are refused still saves, with `warnings`.
#[utoipa::path(
    post,
    path = "/api/v1/endpoints",
    tag = "Endpoints",
    request_body(content = EndpointIn, example = json!(ex::endpoint_in())),
    responses(
        (status = 201, description = "The endpoint, with its signing secret shown this once.", body = EndpointCreated, example = json!(ex::endpoint_created())),
        (status = 404, description = "retry policy 'rp_…' was not found."),
        (status = 422, description = "url: must be an http:// or https:// URL with a host."),
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointCreated>), ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let (endpoint, secret) = state
        .engine
        .create_endpoint(caller.tenant_id, input, &caller.by())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EndpointCreated { endpoint, secret }),
    ))
}

fn endpoint_id(id: &str) -> Result<EndpointId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("endpoint '{id}' was not found")))
}

/// Read an endpoint
///
/// A key that may not manage endpoints (scope `read`) sees the URL with its
/// credentials and query values masked (`https://***@host/path?token=***`).
#[utoipa::path(
    get,
    path = "/api/v1/endpoints/{id}",
    tag = "Endpoints",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint (never its secret or header values).", body = EndpointOut, example = json!(ex::endpoint())),
        (status = 404, description = "endpoint 'ep_…' was not found."),
    ),
)]
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
    Ok(Json(shown_to(&caller, endpoint)))
}

/// Streams held up by a dead delivery
///
/// The endpoint's ordered streams that wait for a DLQ entry to be
/// reprocessed or discarded (`on_dead: "block"`), oldest entry first, with
/// how many deliveries wait behind each; at most 100.
#[utoipa::path(
    get,
    path = "/api/v1/endpoints/{id}/blocked-streams",
    tag = "Endpoints",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The blocked streams (empty when none is).", body = Vec<BlockedStream>,
            example = json!([{"stream": "order-7", "dlq_entry_id": ex::DLQ, "delivery_id": ex::DELIVERY,
                              "event_id": ex::EVENT, "waiting": 3}])),
        (status = 404, description = "endpoint 'ep_…' was not found."),
    ),
)]
async fn blocked_streams(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<BlockedStream>>, ApiError> {
    caller.require(Permission::Read)?;
    let endpoint = endpoint_id(&id)?;
    state
        .store
        .get_endpoint(caller.tenant_id, endpoint)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("endpoint '{id}' was not found")))?;
    let streams = state
        .store
        .blocked_streams(caller.tenant_id, endpoint, 100)
        .await?;
    Ok(Json(streams))
}

/// An endpoint as this caller may see it: URL credentials and query values
/// only for keys that may manage endpoints.
fn shown_to(caller: &Caller, mut endpoint: EndpointOut) -> EndpointOut {
    if !caller.scope.allows(Permission::ManageEndpoints) {
        endpoint.url = herald_engine::model::redact::mask_url(&endpoint.url);
    }
    endpoint
}

/// List endpoints
///
/// URLs are masked for keys that may not manage endpoints, as on `GET
/// /api/v1/endpoints/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/endpoints",
    tag = "Endpoints",
    params(ListParams),
    responses(
        (status = 200, description = "A page of endpoints, oldest first.", body = Page<EndpointOut>, example = json!(ex::page(vec![ex::endpoint()]))),
        (status = 400, description = "limit: 500 is out of range; expected 1 to 200."),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<EndpointOut>>, ApiError> {
    caller.require(Permission::Read)?;
    let after = params.cursor::<EndpointId>()?;
    let mut page = state
        .store
        .list_endpoints(caller.tenant_id, after, params.limit()?)
        .await?;
    page.items = page
        .items
        .into_iter()
        .map(|e| shown_to(&caller, e))
        .collect();
    Ok(Json(page))
}

/// Change an endpoint
///
/// Fields left out stay as they are; `headers`, when given, replaces every
/// custom header.
#[utoipa::path(
    patch,
    path = "/api/v1/endpoints/{id}",
    tag = "Endpoints",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    request_body(content = EndpointPatch, example = json!({"event_types": ["order.*"], "timeout_ms": 5000})),
    responses(
        (status = 200, description = "The endpoint as it is now.", body = EndpointOut, example = json!(ex::endpoint())),
        (status = 404, description = "endpoint 'ep_…' (or the retry policy named) was not found."),
    ),
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<EndpointPatch>,
) -> Result<Json<EndpointOut>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let endpoint = state
        .engine
        .update_endpoint(caller.tenant_id, endpoint_id(&id)?, patch, &caller.by())
        .await?;
    Ok(Json(endpoint))
}

/// Delete an endpoint
///
/// Nothing more is delivered to it; its receipts stay readable.
#[utoipa::path(
    delete,
    path = "/api/v1/endpoints/{id}",
    tag = "Endpoints",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "endpoint 'ep_…' was not found."),
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
        .delete_endpoint(caller.tenant_id, endpoint_id(&id)?, &caller.by())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Why the endpoint is disabled (optional).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DisableIn {
    #[serde(default)]
    reason: Option<String>,
    /// Drop the deliveries waiting for it instead of holding them: each ends
    /// dead without a DLQ entry (audited with how many). Default false.
    #[serde(default)]
    discard_backlog: bool,
}

/// Disable an endpoint
///
/// Its deliveries, and those of events published meanwhile, wait (nothing
/// is attempted or dropped) until it is enabled again, then go out in order
/// for ordered endpoints; with `discard_backlog` they are dropped instead.
/// The body is optional.
#[utoipa::path(
    post,
    path = "/api/v1/endpoints/{id}/disable",
    tag = "Endpoints",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    request_body(content = DisableIn, example = json!({"reason": "receiver under maintenance until 14:00", "discard_backlog": false})),
    responses(
        (status = 200, description = "The endpoint, disabled.", body = EndpointOut,
            example = json!(ex::endpoint_disabled())),
        (status = 404, description = "endpoint 'ep_…' was not found."),
    ),
)]
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
        .set_endpoint_enabled(
            caller.tenant_id,
            endpoint_id(&id)?,
            false,
            input.reason,
            &caller.by(),
        )
        .await?;
    if input.discard_backlog {
        state
            .engine
            .discard_backlog(caller.tenant_id, endpoint.id, &caller.by())
            .await?;
    }
    Ok(Json(endpoint))
}

/// Enable an endpoint
///
/// The deliveries it held go out: in order for ordered endpoints, and no
/// faster than its concurrency allows.
#[utoipa::path(
    post,
    path = "/api/v1/endpoints/{id}/enable",
    tag = "Endpoints",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint, enabled.", body = EndpointOut, example = json!(ex::endpoint())),
        (status = 404, description = "endpoint 'ep_…' was not found."),
    ),
)]
async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EndpointOut>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let endpoint = state
        .engine
        .set_endpoint_enabled(
            caller.tenant_id,
            endpoint_id(&id)?,
            true,
            None,
            &caller.by(),
        )
        .await?;
    Ok(Json(endpoint))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateIn {
    /// How long the old secret keeps signing alongside the new one, at most
    /// 30 days (default 24 h).
    #[serde(default)]
    #[schema(maximum = 2_592_000)]
    grace_period_secs: Option<u64>,
    /// A `whsec_…` secret to switch to (base64 of 24 to 64 bytes, canonical
    /// padding); generated when absent.
    #[serde(default)]
    secret: Option<String>,
}

/// Rotate the signing secret
///
/// Until `previous_secret_valid_until`, requests carry signatures by both the
/// old and the new secret, so receivers can switch without dropping any.
#[utoipa::path(
    post,
    path = "/api/v1/endpoints/{id}/rotate-secret",
    tag = "Endpoints",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    request_body(content = RotateIn, example = json!({"grace_period_secs": 86400})),
    responses(
        (status = 200, description = "The new secret, shown this once.", body = Rotated,
            example = json!({"secret": "whsec_Hq2p7Zc0vF4yKm1xR8sT3wLbN6dJ9aGe", "previous_secret_valid_until": "2026-12-01T09:15:02Z"})),
        (status = 404, description = "endpoint 'ep_…' was not found."),
        (status = 422, description = "secret: must be 'whsec_' and base64 of 24 to 64 bytes."),
    ),
)]
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
            &caller.by(),
        )
        .await?;
    Ok(Json(rotated))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TestEventIn {
    /// Default: `herald.test`.
    #[serde(default)]
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$")]
    event_type: Option<String>,
    /// A JSON object; default: `{"test": true, "message": …, "endpoint_id": …}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    payload: Option<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TestEventSent {
    /// The event to follow on `GET /api/v1/events/{id}`.
    event_id: EventId,
}

/// Send a test event
///
/// Sends an event to this endpoint alone (whatever its patterns), so a team
/// can check its receiver; the event shows what happened. Every request for a
/// test event carries `herald-test: true`, and its type is `herald.test` unless
/// the key may also publish (scope `all`).
#[utoipa::path(
    post,
    path = "/api/v1/endpoints/{id}/test",
    tag = "Endpoints",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    request_body(content = TestEventIn, example = json!({"event_type": "order.created", "payload": {"order_id": "ord_test"}})),
    responses(
        (status = 202, description = "Accepted for delivery.", body = TestEventSent, example = json!({"event_id": ex::EVENT})),
        (status = 403, description = "Another type than `herald.test` needs the `publish` permission."),
        (status = 404, description = "endpoint 'ep_…' was not found."),
        (status = 409, description = "endpoint 'ep_…' is disabled; enable it to send a test event."),
    ),
)]
async fn send_test_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<TestEventSent>), ApiError> {
    caller.require(Permission::SendTestEvent)?;
    let input: TestEventIn = optional_json(&body)?;
    // A test event of a real type would be a real event in all but name: only
    // a caller who may publish can choose the type. Every test event carries
    // `herald-test: true` either way.
    if input
        .event_type
        .as_deref()
        .is_some_and(|t| t != herald_engine::service::TEST_EVENT_TYPE)
    {
        caller.require(Permission::Publish).map_err(|_| {
            ApiError::forbidden(format!(
                "a test event's type is '{}' unless the caller may publish; \
                 this API key's scope '{}' does not allow 'publish'",
                herald_engine::service::TEST_EVENT_TYPE,
                caller.scope
            ))
        })?;
    }
    let event_id = state
        .engine
        .send_test_event(
            caller.tenant_id,
            endpoint_id(&id)?,
            input.event_type,
            input.payload,
            &caller.by(),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(TestEventSent { event_id })))
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(blocked_streams))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test_event))
}
