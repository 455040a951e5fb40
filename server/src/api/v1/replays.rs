//! `/api/v1/replays`, `/api/v1/checkpoints` and `POST /api/v1/events/{id}/replay`:
//! sending stored events again, one or a filtered range, and recovering from
//! a named point in the event sequence.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use herald_engine::model::{
    CheckpointId, CheckpointIn, CheckpointOut, EventId, EventReplayIn, Page, Permission, ReplayId,
    ReplayIn, ReplayOut, ReplayPreview, ReplayState, ReplayedDelivery,
};
use herald_engine::recovery::ReplayStarted;
use http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{ApiJson, ApiQuery, Caller, ListParams, optional_json, path_id};
use crate::error::ApiError;
use crate::state::AppState;

/// Replay one event
///
/// Sends a stored event again now, to every endpoint it matches or to those
/// named; each delivery keeps its `webhook-id`. The body is optional.
#[utoipa::path(
    post,
    path = "/api/v1/events/{id}/replay",
    tag = "Replays",
    params(("id" = EventId, Path, description = "The event's id.")),
    request_body(content = EventReplayIn, example = json!({"reason": "receiver lost its database", "endpoint_ids": [ex::ENDPOINT]})),
    responses(
        (status = 202, description = "What was queued at each endpoint.", body = EventReplayed,
            example = json!({"event_id": ex::EVENT, "deliveries": [{"delivery_id": ex::DELIVERY, "endpoint_id": ex::ENDPOINT, "status": "queued"}]})),
        (status = 404, description = "event 'evt_…' (or an endpoint named) was not found."),
        (status = 409, description = "endpoint_ids[0]: endpoint 'ep_…' is disabled; enable it first."),
    ),
)]
async fn replay_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<EventReplayed>), ApiError> {
    caller.require(Permission::ManageReplays)?;
    let event: EventId = path_id("event", &id)?;
    let input = optional_json(&body)?;
    let deliveries = state
        .engine
        .replay_event(caller.tenant_id, event, input, &caller.by())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EventReplayed {
            event_id: event,
            deliveries,
        }),
    ))
}

/// What a single-event replay queued.
#[derive(Serialize, utoipa::ToSchema)]
struct EventReplayed {
    event_id: EventId,
    deliveries: Vec<ReplayedDelivery>,
}

fn started(out: ReplayStarted) -> Response {
    match out {
        ReplayStarted::DryRun(preview) => (StatusCode::OK, Json(preview)).into_response(),
        ReplayStarted::Job(job) => (StatusCode::CREATED, Json(job)).into_response(),
    }
}

/// Start a replay
///
/// Re-sends every stored event the filter matches, at `rate_per_second`, as a
/// job whose progress `GET /api/v1/replays/{id}` and the live feed report.
/// With `dry_run`, only counts the events and shows the first few.
#[utoipa::path(
    post,
    path = "/api/v1/replays",
    tag = "Replays",
    request_body(content = ReplayIn, example = json!({"filter": ex::replay_filter(), "rate_per_second": 100.0, "reason": "receiver outage on 29 Nov"})),
    responses(
        (status = 201, description = "The job, started.", body = ReplayOut, example = json!(ex::replay_started())),
        (status = 200, description = "A dry run: how many events match and the first few.", body = ReplayPreview,
            example = json!({"total": 1200, "sample": [ex::event_summary()]})),
        (status = 404, description = "endpoint 'ep_…' was not found (an endpoint, checkpoint or event type the filter names)."),
        (status = 422, description = "filter.to: must be later than filter.from."),
    ),
)]
async fn create_replay(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<ReplayIn>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageReplays)?;
    let out = state
        .engine
        .start_replay(caller.tenant_id, input, &caller.by())
        .await?;
    Ok(started(out))
}

/// List replays
#[utoipa::path(
    get,
    path = "/api/v1/replays",
    tag = "Replays",
    params(ListParams),
    responses(
        (status = 200, description = "A page of replay jobs, newest first.", body = Page<ReplayOut>, example = json!(ex::page(vec![ex::replay()]))),
        (status = 400, description = "cursor: 'x' is not a valid replay id."),
    ),
)]
async fn list_replays(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<ReplayOut>>, ApiError> {
    caller.require(Permission::Read)?;
    let limit = params.limit()?;
    let before = params.cursor::<ReplayId>()?;
    Ok(Json(
        state
            .store
            .list_replays(caller.tenant_id, before, limit)
            .await?,
    ))
}

/// Read a replay's progress
#[utoipa::path(
    get,
    path = "/api/v1/replays/{id}",
    tag = "Replays",
    params(("id" = ReplayId, Path, description = "The replay's id.")),
    responses(
        (status = 200, description = "The job and its progress.", body = ReplayOut, example = json!(ex::replay())),
        (status = 404, description = "replay 'rpl_…' was not found."),
    ),
)]
async fn get_replay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplayOut>, ApiError> {
    caller.require(Permission::Read)?;
    let replay: ReplayId = path_id("replay", &id)?;
    Ok(Json(state.engine.replay(caller.tenant_id, replay).await?))
}

async fn control(
    state: AppState,
    caller: Caller,
    id: String,
    to: ReplayState,
) -> Result<Json<ReplayOut>, ApiError> {
    caller.require(Permission::ManageReplays)?;
    let replay: ReplayId = path_id("replay", &id)?;
    let out = state
        .engine
        .control_replay(caller.tenant_id, replay, to, &caller.by())
        .await?;
    Ok(Json(out))
}

/// Pause a replay
///
/// Stops dispatching until resumed; deliveries already queued go on.
#[utoipa::path(
    post,
    path = "/api/v1/replays/{id}/pause",
    tag = "Replays",
    params(("id" = ReplayId, Path, description = "The replay's id.")),
    responses(
        (status = 200, description = "The replay, paused.", body = ReplayOut, example = json!(ex::replay_in("paused"))),
        (status = 404, description = "replay 'rpl_…' was not found."),
        (status = 409, description = "a completed replay cannot be paused."),
    ),
)]
async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplayOut>, ApiError> {
    control(state, caller, id, ReplayState::Paused).await
}

/// Resume a replay
///
/// Dispatching goes on from where it stopped.
#[utoipa::path(
    post,
    path = "/api/v1/replays/{id}/resume",
    tag = "Replays",
    params(("id" = ReplayId, Path, description = "The replay's id.")),
    responses(
        (status = 200, description = "The replay, running.", body = ReplayOut, example = json!(ex::replay_in("running"))),
        (status = 404, description = "replay 'rpl_…' was not found."),
        (status = 409, description = "a cancelled replay cannot be resumed."),
    ),
)]
async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplayOut>, ApiError> {
    control(state, caller, id, ReplayState::Running).await
}

/// Cancel a replay
///
/// Nothing more is dispatched; deliveries already queued go on.
#[utoipa::path(
    post,
    path = "/api/v1/replays/{id}/cancel",
    tag = "Replays",
    params(("id" = ReplayId, Path, description = "The replay's id.")),
    responses(
        (status = 200, description = "The replay, cancelled.", body = ReplayOut, example = json!(ex::replay_in("cancelled"))),
        (status = 404, description = "replay 'rpl_…' was not found."),
        (status = 409, description = "a completed replay cannot be cancelled."),
    ),
)]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplayOut>, ApiError> {
    control(state, caller, id, ReplayState::Cancelled).await
}

/// Create a checkpoint
///
/// Names a position in the tenant's event sequence (the newest event by
/// default) to recover from later.
#[utoipa::path(
    post,
    path = "/api/v1/checkpoints",
    tag = "Checkpoints",
    request_body(content = CheckpointIn, example = json!({"name": "before-migration"})),
    responses(
        (status = 201, description = "The checkpoint.", body = CheckpointOut, example = json!(ex::checkpoint())),
        (status = 404, description = "endpoint 'ep_…' was not found."),
        (status = 409, description = "a checkpoint named 'before-migration' exists already, or `seq` is ahead of the newest event."),
    ),
)]
async fn create_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<CheckpointIn>,
) -> Result<(StatusCode, Json<CheckpointOut>), ApiError> {
    caller.require(Permission::ManageReplays)?;
    let checkpoint = state
        .engine
        .create_checkpoint(caller.tenant_id, input, &caller.by())
        .await?;
    Ok((StatusCode::CREATED, Json(checkpoint)))
}

/// List checkpoints
#[utoipa::path(
    get,
    path = "/api/v1/checkpoints",
    tag = "Checkpoints",
    params(ListParams),
    responses(
        (status = 200, description = "A page of the tenant's checkpoints, newest first.", body = Page<CheckpointOut>, example = json!(ex::page(vec![ex::checkpoint()]))),
        (status = 400, description = "limit: 0 is out of range; expected 1 to 200"),
    ),
)]
async fn list_checkpoints(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<CheckpointOut>>, ApiError> {
    caller.require(Permission::Read)?;
    let before = params.cursor::<CheckpointId>()?;
    Ok(Json(
        state
            .store
            .page_checkpoints(caller.tenant_id, before, params.limit()?)
            .await?,
    ))
}

/// Read a checkpoint
#[utoipa::path(
    get,
    path = "/api/v1/checkpoints/{id}",
    tag = "Checkpoints",
    params(("id" = CheckpointId, Path, description = "The checkpoint's id.")),
    responses(
        (status = 200, description = "The checkpoint.", body = CheckpointOut, example = json!(ex::checkpoint())),
        (status = 404, description = "checkpoint 'chk_…' was not found."),
    ),
)]
async fn get_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CheckpointOut>, ApiError> {
    caller.require(Permission::Read)?;
    let checkpoint: CheckpointId = path_id("checkpoint", &id)?;
    state
        .store
        .list_checkpoints(caller.tenant_id, Some(checkpoint))
        .await?
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("checkpoint '{id}' was not found")))
}

/// Recover from a checkpoint
///
/// Starts a replay of every event after the checkpoint (to its endpoint, when
/// it names one). The body, optional, is a replay request whose filter is
/// narrowed to events after the checkpoint.
#[utoipa::path(
    post,
    path = "/api/v1/checkpoints/{id}/recover",
    tag = "Checkpoints",
    params(("id" = CheckpointId, Path, description = "The checkpoint's id.")),
    request_body(content = ReplayIn, example = json!({"rate_per_second": 50.0, "reason": "restore after the migration failed"})),
    responses(
        (status = 201, description = "The replay job, started.", body = ReplayOut, example = json!(ex::replay())),
        (status = 200, description = "A dry run: how many events would be replayed.", body = ReplayPreview, example = json!({"total": 1200, "sample": [ex::event_summary()]})),
        (status = 404, description = "checkpoint 'chk_…' was not found (or an endpoint or event type the filter names)."),
    ),
)]
async fn recover(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageReplays)?;
    let checkpoint: CheckpointId = path_id("checkpoint", &id)?;
    let input = optional_json(&body)?;
    let out = state
        .engine
        .recover_from_checkpoint(caller.tenant_id, checkpoint, input, &caller.by())
        .await?;
    Ok(started(out))
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(replay_event))
        .routes(routes!(create_replay, list_replays))
        .routes(routes!(get_replay))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
        .routes(routes!(create_checkpoint, list_checkpoints))
        .routes(routes!(get_checkpoint))
        .routes(routes!(recover))
}
