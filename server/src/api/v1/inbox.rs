//! `/api/v1/inbox/{id}`: consumers of a pull inbox lease its
//! messages, acknowledge them or hand them back; `…/state` shows its depth
//! and consumers.

use axum::Json;
use axum::extract::{Path, State};
use herald_engine::inbox::LeaseEnd;
use herald_engine::model::{
    AckIn, EndpointId, InboxOut, InboxSettled, NackIn, Permission, PullQuery, Pulled,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{ApiJson, ApiQuery, Caller, path_id};
use crate::error::ApiError;
use crate::state::AppState;

/// The inbox a path names, when the key may consume it: one the tenant
/// does not have is a 404 for every key; one a bound key is not bound to,
/// a 403.
async fn consumable(state: &AppState, caller: &Caller, id: &str) -> Result<EndpointId, ApiError> {
    caller.require(Permission::Consume)?;
    let id: EndpointId = path_id("endpoint", id)?;
    if state
        .store
        .get_endpoint(caller.tenant_id, id)
        .await?
        .is_none()
    {
        return Err(herald_engine::EngineError::not_found("endpoint", id).into());
    }
    caller.require_inbox(id)?;
    Ok(id)
}

/// Lease messages
///
/// Leases up to `limit` of the inbox's visible messages, earliest first,
/// for `visibility_secs`: until then no other consumer gets them. Settle
/// each with `…/ack` (done) or `…/nack` (hand back); one neither acked nor
/// nacked is visible again when its lease runs out, as a new attempt. Each
/// lease counts as an attempt on the endpoint's retry policy: one whose
/// policy is spent goes to the dead-letter queue. An empty list means
/// nothing is visible now. Consumers pulling at once never get the same
/// message.
#[utoipa::path(
    get,
    path = "/api/v1/inbox/{id}",
    tag = "Inbox",
    params(("id" = EndpointId, Path, description = "The inbox endpoint's id."), PullQuery),
    responses(
        (status = 200, description = "The leased messages.", body = Pulled, example = json!(ex::pulled())),
        (status = 400, description = "query string: unknown field `lmit`, expected one of `limit`, `visibility_secs`, `consumer`"),
        (status = 404, description = "endpoint 'ep_…' was not found."),
        (status = 409, description = "endpoint 'ep_…' is a webhook endpoint: Herald sends to its URL; only an inbox is pulled"),
        (status = 422, description = "visibility_secs: must be from 1 to 43200 seconds (12 hours)"),
    ),
)]
async fn pull(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<PullQuery>,
) -> Result<Json<Pulled>, ApiError> {
    let id = consumable(&state, &caller, &id).await?;
    let pulled = state
        .engine
        .pull(caller.tenant_id, id, &query, &caller.key_id.to_string())
        .await?;
    Ok(Json(pulled))
}

/// Acknowledge messages
///
/// Ends the leases of the messages named: each is done. Ids not leased now
/// (the lease ran out, or they were settled already) are listed in
/// `not_leased` and left as they are.
#[utoipa::path(
    post,
    path = "/api/v1/inbox/{id}/ack",
    tag = "Inbox",
    params(("id" = EndpointId, Path, description = "The inbox endpoint's id.")),
    request_body(content = AckIn, example = json!({"ids": [ex::DELIVERY]})),
    responses(
        (status = 200, description = "What became of each id.", body = InboxSettled,
            example = json!({"settled": [ex::DELIVERY], "dead": [], "not_leased": []})),
        (status = 404, description = "endpoint 'ep_…' was not found."),
        (status = 422, description = "ids: must name 1 to 1000 messages"),
    ),
)]
async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AckIn>,
) -> Result<Json<InboxSettled>, ApiError> {
    settle(&state, &caller, &id, &body.ids, LeaseEnd::Acked).await
}

/// Ends the leases of `ids` in the inbox the path names.
async fn settle(
    state: &AppState,
    caller: &Caller,
    id: &str,
    ids: &[herald_engine::model::DeliveryId],
    end: LeaseEnd,
) -> Result<Json<InboxSettled>, ApiError> {
    let id = consumable(state, caller, id).await?;
    let settled = state
        .engine
        .settle_inbox(caller.tenant_id, id, ids, end, &caller.key_id.to_string())
        .await?;
    Ok(Json(settled))
}

/// Hand messages back
///
/// Ends the leases of the messages named without processing them: each is
/// visible again after `retry_after_secs` (default: the retry policy's next
/// delay), or, when its retry policy is spent, goes to the dead-letter
/// queue (listed in `dead`).
#[utoipa::path(
    post,
    path = "/api/v1/inbox/{id}/nack",
    tag = "Inbox",
    params(("id" = EndpointId, Path, description = "The inbox endpoint's id.")),
    request_body(content = NackIn, example = json!({"ids": [ex::DELIVERY], "retry_after_secs": 60})),
    responses(
        (status = 200, description = "What became of each id.", body = InboxSettled,
            example = json!({"settled": [ex::DELIVERY], "dead": [], "not_leased": []})),
        (status = 404, description = "endpoint 'ep_…' was not found."),
        (status = 422, description = "retry_after_secs: must be from 0 to 86400 seconds (one day)"),
    ),
)]
async fn nack(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NackIn>,
) -> Result<Json<InboxSettled>, ApiError> {
    let end = LeaseEnd::Nacked {
        retry_after_secs: body.retry_after_secs,
    };
    settle(&state, &caller, &id, &body.ids, end).await
}

/// An inbox's depth and consumers
///
/// How many messages are visible now, waiting for a later time and leased,
/// when the oldest was made, and who has been pulling.
#[utoipa::path(
    get,
    path = "/api/v1/inbox/{id}/state",
    tag = "Inbox",
    params(("id" = EndpointId, Path, description = "The inbox endpoint's id.")),
    responses(
        (status = 200, description = "The inbox as it stands.", body = InboxOut, example = json!(ex::inbox())),
        (status = 404, description = "endpoint 'ep_…' was not found."),
    ),
)]
async fn inbox_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<InboxOut>, ApiError> {
    let id: EndpointId = path_id("endpoint", &id)?;
    if caller.require(Permission::Read).is_err() {
        caller.require(Permission::Consume)?;
        caller.require_inbox(id)?;
    }
    Ok(Json(state.engine.inbox_state(caller.tenant_id, id).await?))
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pull))
        .routes(routes!(ack))
        .routes(routes!(nack))
        .routes(routes!(inbox_state))
}
