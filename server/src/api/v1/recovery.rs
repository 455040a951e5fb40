//! `/api/v1/dlq`, `/api/v1/replays`, `/api/v1/checkpoints` and
//! `POST /api/v1/events/{id}/replay`: getting undelivered events delivered.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use herald_engine::model::{
    CheckpointId, CheckpointIn, CheckpointOut, DlqDetail, DlqEntryId, DlqEntryOut, EndpointId,
    ErrorClass, EventId, EventReplayIn, Page, Permission, ReplayId, ReplayIn, ReplayOut,
    ReplayPreview, ReplayState, ReplayedDelivery, ReprocessOut,
};
use herald_engine::recovery::ReplayStarted;
use herald_engine::store::DlqFilter;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::events::parse_time;
use crate::api::examples as ex;
use crate::api::extract::{ApiJson, ApiQuery, Caller, ListParams, optional_json};
use crate::error::ApiError;
use crate::state::AppState;

/// Entry ids one bulk reprocess request may list.
pub const MAX_REPROCESS_IDS: usize = 10_000;

fn path_id<T: std::str::FromStr>(what: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse::<T>()
        .map_err(|_| ApiError::not_found(format!("{what} '{raw}' was not found")))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DlqQuery {
    endpoint_id: Option<String>,
    /// An exact event type.
    event_type: Option<String>,
    /// The last attempt's error class: dns, connect, tls, timeout, http_status, connection, invalid_url, response_too_large, blocked_destination.
    error_class: Option<String>,
    /// Entered the DLQ at or after (RFC 3339).
    from: Option<String>,
    /// Entered the DLQ before (RFC 3339).
    to: Option<String>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
    /// 1 to 200 (default 50).
    limit: Option<u32>,
}

/// The DLQ filter shared by the list and bulk reprocess, from query or body.
/// Which DLQ entries; every field narrows, `{}` is all of them.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DlqFilterIn {
    endpoint_id: Option<String>,
    event_type: Option<String>,
    error_class: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn dlq_filter(f: DlqFilterIn, prefix: &str) -> Result<DlqFilter, ApiError> {
    let field = |name: &str| format!("{prefix}{name}");
    let filter = DlqFilter {
        endpoint_id: f
            .endpoint_id
            .as_deref()
            .map(|e| {
                e.parse::<EndpointId>()
                    .map_err(|e| ApiError::bad_request(format!("{}: {e}", field("endpoint_id"))))
            })
            .transpose()?,
        event_type: f.event_type,
        error_class: f
            .error_class
            .as_deref()
            .map(|c| {
                serde_json::from_value::<ErrorClass>(Value::String(c.into())).map_err(|_| {
                    ApiError::bad_request(format!(
                        "{}: '{c}' is not an error class (dns, connect, tls, timeout, http_status, connection, invalid_url, response_too_large)",
                        field("error_class")
                    ))
                })
            })
            .transpose()?,
        from: parse_time(&field("from"), f.from.as_deref())?,
        to: parse_time(&field("to"), f.to.as_deref())?,
        before: None,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to <= from
    {
        return Err(ApiError::bad_request(format!(
            "{}: must be later than {}",
            field("to"),
            field("from")
        )));
    }
    Ok(filter)
}

/// List the dead-letter queue
///
/// Deliveries that gave up, newest first, filtered by endpoint, event type,
/// error class and time.
#[utoipa::path(
    get,
    path = "/api/v1/dlq",
    tag = "Dead-letter queue",
    params(DlqQuery),
    responses(
        (status = 200, description = "A page of DLQ entries, newest first.", body = Page<DlqEntryOut>, example = json!(ex::page(vec![ex::dlq_entry()]))),
        (status = 400, description = "error_class: 'oops' is not an error class."),
    ),
)]
async fn list_dlq(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DlqQuery>,
) -> Result<Json<Page<DlqEntryOut>>, ApiError> {
    caller.require(Permission::Read)?;
    let params = ListParams {
        cursor: q.cursor,
        limit: q.limit,
    };
    let limit = params.limit()?;
    let mut filter = dlq_filter(
        DlqFilterIn {
            endpoint_id: q.endpoint_id,
            event_type: q.event_type,
            error_class: q.error_class,
            from: q.from,
            to: q.to,
        },
        "",
    )?;
    filter.before = params.cursor::<DlqEntryId>()?;
    Ok(Json(
        state
            .store
            .list_dlq(caller.tenant_id, &filter, limit)
            .await?,
    ))
}

/// Read a DLQ entry
///
/// The entry with its event, every attempt's receipt and what people did to it.
#[utoipa::path(
    get,
    path = "/api/v1/dlq/{id}",
    tag = "Dead-letter queue",
    params(("id" = DlqEntryId, Path, description = "The DLQ entry's id.")),
    responses(
        (status = 200, description = "The entry, its event and its delivery's attempts.", body = DlqDetail, example = json!(ex::dlq_detail())),
        (status = 404, description = "DLQ entry 'dlq_…' was not found."),
    ),
)]
async fn dlq_entry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DlqDetail>, ApiError> {
    caller.require(Permission::Read)?;
    let entry: DlqEntryId = path_id("DLQ entry", &id)?;
    state
        .store
        .dlq_entry(caller.tenant_id, entry)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("DLQ entry '{id}' was not found")))
}

/// Why (optional; kept in the delivery's history and the audit log).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReasonIn {
    #[serde(default)]
    reason: String,
}

/// Reprocess a DLQ entry
///
/// The delivery leaves the DLQ and is attempted again now, with the same
/// `webhook-id`. The body is optional.
#[utoipa::path(
    post,
    path = "/api/v1/dlq/{id}/reprocess",
    tag = "Dead-letter queue",
    params(("id" = DlqEntryId, Path, description = "The DLQ entry's id.")),
    request_body(content = ReasonIn, example = json!({"reason": "receiver fixed in release 4.2"})),
    responses(
        (status = 202, description = "Queued for an attempt now.", body = ReprocessOut, example = json!({"reprocessed": [ex::DLQ], "skipped": []})),
        (status = 404, description = "DLQ entry 'dlq_…' was not found."),
        (status = 409, description = "the endpoint is disabled or deleted: enable it first."),
    ),
)]
async fn reprocess_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageDlq)?;
    let entry: DlqEntryId = path_id("DLQ entry", &id)?;
    let reason = optional_json::<ReasonIn>(&body)?.reason;
    let out = state
        .engine
        .reprocess_dlq(caller.tenant_id, &[entry], &caller.actor(), &reason)
        .await?;
    if let Some(skipped) = out.skipped.first() {
        return Err(if skipped.reason.starts_with("not in") {
            ApiError::not_found(format!("DLQ entry '{id}' was not found"))
        } else {
            ApiError::new(StatusCode::CONFLICT, "conflict", skipped.reason.clone())
        });
    }
    caller
        .audit(
            &state,
            "dlq.reprocess",
            entry,
            herald_engine::audit::with_reason("reprocessed the entry", &reason),
        )
        .await;
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

/// Either `ids` or `filter`, not both.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkReprocessIn {
    /// 1 to 10,000 DLQ entry ids.
    ids: Option<Vec<String>>,
    /// Every entry the filter matches.
    filter: Option<DlqFilterIn>,
    #[serde(default)]
    reason: String,
}

/// Reprocess DLQ entries in bulk
///
/// By id list or by filter. Entries whose endpoint is disabled or deleted stay,
/// listed in `skipped` with why.
#[utoipa::path(
    post,
    path = "/api/v1/dlq/reprocess",
    tag = "Dead-letter queue",
    request_body(content = BulkReprocessIn, example = json!({"filter": {"endpoint_id": ex::ENDPOINT, "error_class": "http_status"}, "reason": "receiver fixed in release 4.2"})),
    responses(
        (status = 202, description = "What was queued and what was skipped.", body = ReprocessOut,
            example = json!({"reprocessed": [ex::DLQ], "skipped": [{"id": "dlq_01JD5QB3C4D5E6F7G8H9J0K1M3", "reason": "the endpoint is disabled or deleted: enable it first"}]})),
        (status = 422, description = "give either \"ids\" (a list of DLQ entry ids) or \"filter\" (use {} for every entry), not both."),
    ),
)]
async fn reprocess_bulk(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<BulkReprocessIn>,
) -> Result<(StatusCode, Json<ReprocessOut>), ApiError> {
    caller.require(Permission::ManageDlq)?;
    let actor = caller.actor();
    let out = match (input.ids, input.filter) {
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() > MAX_REPROCESS_IDS {
                return Err(ApiError::unprocessable(format!(
                    "ids: list 1 to {MAX_REPROCESS_IDS} DLQ entry ids; got {}",
                    ids.len()
                )));
            }
            let ids = ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    id.parse::<DlqEntryId>()
                        .map_err(|e| ApiError::unprocessable(format!("ids[{i}]: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            state
                .engine
                .reprocess_dlq(caller.tenant_id, &ids, &actor, &input.reason)
                .await?
        }
        (None, Some(filter)) => {
            let filter = dlq_filter(filter, "filter.")?;
            state
                .engine
                .reprocess_dlq_matching(caller.tenant_id, filter, &actor, &input.reason)
                .await?
        }
        _ => {
            return Err(ApiError::unprocessable(
                "give either \"ids\" (a list of DLQ entry ids) or \"filter\" (use {} for every entry), not both",
            ));
        }
    };
    if !out.reprocessed.is_empty() {
        caller
            .audit(
                &state,
                "dlq.reprocess",
                herald_engine::audit::targets(&out.reprocessed),
                herald_engine::audit::with_reason(
                    &format!(
                        "reprocessed {} entries ({} skipped)",
                        out.reprocessed.len(),
                        out.skipped.len()
                    ),
                    &input.reason,
                ),
            )
            .await;
    }
    Ok((StatusCode::ACCEPTED, Json(out)))
}

/// Discard a DLQ entry
///
/// It leaves the DLQ without another attempt; its receipts stay. The body is
/// optional.
#[utoipa::path(
    delete,
    path = "/api/v1/dlq/{id}",
    tag = "Dead-letter queue",
    params(("id" = DlqEntryId, Path, description = "The DLQ entry's id.")),
    request_body(content = ReasonIn, example = json!({"reason": "order was cancelled"})),
    responses(
        (status = 204, description = "Discarded."),
        (status = 404, description = "DLQ entry 'dlq_…' was not found."),
    ),
)]
async fn discard(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ManageDlq)?;
    let entry: DlqEntryId = path_id("DLQ entry", &id)?;
    let reason = optional_json::<ReasonIn>(&body)?.reason;
    state
        .engine
        .discard_dlq(caller.tenant_id, entry, &caller.actor(), &reason)
        .await?;
    caller
        .audit(
            &state,
            "dlq.discard",
            entry,
            herald_engine::audit::with_reason("discarded the entry", &reason),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

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
        (status = 404, description = "event 'evt_…' was not found."),
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
        .replay_event(caller.tenant_id, event, input, &caller.actor())
        .await?;
    caller
        .audit(
            &state,
            "event.replay",
            event,
            format!("replayed the event to {} deliveries", deliveries.len()),
        )
        .await;
    Ok((
        StatusCode::ACCEPTED,
        Json(EventReplayed {
            event_id: event,
            deliveries,
        }),
    ))
}

/// Audits a replay job that started (a dry run changes nothing).
/// What a single-event replay queued.
#[derive(Serialize, utoipa::ToSchema)]
struct EventReplayed {
    event_id: EventId,
    deliveries: Vec<ReplayedDelivery>,
}

async fn audit_started(state: &AppState, caller: &Caller, action: &str, out: &ReplayStarted) {
    if let ReplayStarted::Job(job) = out {
        caller
            .audit(
                state,
                action,
                job.id,
                format!("started replay {} ({} events planned)", job.id, job.total),
            )
            .await;
    }
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
        .start_replay(caller.tenant_id, input, &caller.actor())
        .await?;
    audit_started(&state, &caller, "replay.start", &out).await;
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
        .control_replay(caller.tenant_id, replay, to)
        .await?;
    let action = match to {
        ReplayState::Paused => "replay.pause",
        ReplayState::Cancelled => "replay.cancel",
        _ => "replay.resume",
    };
    caller
        .audit(
            &state,
            action,
            replay,
            format!("replay is now {}", out.state.as_str()),
        )
        .await;
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
        (status = 409, description = "a checkpoint named 'before-migration' exists already."),
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
        .create_checkpoint(caller.tenant_id, input, &caller.actor())
        .await?;
    caller
        .audit(
            &state,
            "checkpoint.create",
            checkpoint.id,
            format!(
                "checkpoint '{}' at sequence {}",
                checkpoint.name, checkpoint.seq
            ),
        )
        .await;
    Ok((StatusCode::CREATED, Json(checkpoint)))
}

/// List checkpoints
#[utoipa::path(
    get,
    path = "/api/v1/checkpoints",
    tag = "Checkpoints",
    responses(
        (status = 200, description = "Every checkpoint of the tenant, newest first.", body = Page<CheckpointOut>, example = json!(ex::page(vec![ex::checkpoint()]))),
    ),
)]
async fn list_checkpoints(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Page<CheckpointOut>>, ApiError> {
    caller.require(Permission::Read)?;
    let items = state.store.list_checkpoints(caller.tenant_id, None).await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
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
        (status = 404, description = "checkpoint 'chk_…' was not found."),
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
        .recover_from_checkpoint(caller.tenant_id, checkpoint, input, &caller.actor())
        .await?;
    audit_started(&state, &caller, "checkpoint.recover", &out).await;
    Ok(started(out))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_dlq,
    dlq_entry,
    reprocess_one,
    reprocess_bulk,
    discard,
    replay_event,
    create_replay,
    list_replays,
    get_replay,
    pause,
    resume,
    cancel,
    create_checkpoint,
    list_checkpoints,
    get_checkpoint,
    recover
))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dlq", get(list_dlq))
        .route("/dlq/reprocess", post(reprocess_bulk))
        .route("/dlq/{id}", get(dlq_entry).delete(discard))
        .route("/dlq/{id}/reprocess", post(reprocess_one))
        .route("/events/{id}/replay", post(replay_event))
        .route("/replays", post(create_replay).get(list_replays))
        .route("/replays/{id}", get(get_replay))
        .route("/replays/{id}/pause", post(pause))
        .route("/replays/{id}/resume", post(resume))
        .route("/replays/{id}/cancel", post(cancel))
        .route(
            "/checkpoints",
            post(create_checkpoint).get(list_checkpoints),
        )
        .route("/checkpoints/{id}", get(get_checkpoint))
        .route("/checkpoints/{id}/recover", post(recover))
}
