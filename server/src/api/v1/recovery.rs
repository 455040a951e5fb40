//! `/api/v1/dlq`, `/api/v1/replays`, `/api/v1/checkpoints` and
//! `POST /api/v1/events/{id}/replay`: getting undelivered events delivered.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use herald_engine::model::{
    CheckpointId, CheckpointIn, CheckpointOut, DlqDetail, DlqEntryId, DlqEntryOut, EndpointId,
    ErrorClass, EventId, Page, Permission, ReplayId, ReplayIn, ReplayOut, ReplayState,
    ReprocessOut,
};
use herald_engine::recovery::ReplayStarted;
use herald_engine::store::DlqFilter;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::events::parse_time;
use crate::api::extract::{ApiJson, ApiQuery, Caller, ListParams, optional_json};
use crate::error::ApiError;
use crate::state::AppState;

/// Entry ids one bulk reprocess request may list.
pub const MAX_REPROCESS_IDS: usize = 10_000;

fn path_id<T: std::str::FromStr>(what: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse::<T>()
        .map_err(|_| ApiError::not_found(format!("{what} '{raw}' was not found")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DlqQuery {
    endpoint_id: Option<String>,
    event_type: Option<String>,
    error_class: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// The DLQ filter shared by the list and bulk reprocess, from query or body.
#[derive(Deserialize, Default)]
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonIn {
    #[serde(default)]
    reason: String,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkReprocessIn {
    ids: Option<Vec<String>>,
    filter: Option<DlqFilterIn>,
    #[serde(default)]
    reason: String,
}

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

async fn replay_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
        Json(json!({ "event_id": event, "deliveries": deliveries })),
    ))
}

/// Audits a replay job that started (a dry run changes nothing).
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

async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplayOut>, ApiError> {
    control(state, caller, id, ReplayState::Paused).await
}

async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplayOut>, ApiError> {
    control(state, caller, id, ReplayState::Running).await
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplayOut>, ApiError> {
    control(state, caller, id, ReplayState::Cancelled).await
}

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

async fn list_checkpoints(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let items = state.store.list_checkpoints(caller.tenant_id, None).await?;
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

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
