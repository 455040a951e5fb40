//! `/api/v1/events`: publishing (single and batch) and reading events with
//! their deliveries and receipts.
//!
//! A 2xx means the event and its deliveries are committed (one transaction).

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use herald_engine::model::{
    DeliveryState, EndpointId, EventDetail, EventId, EventIn, Page, Permission,
};
use herald_engine::store::{EventFilter, EventSummary, Ingested};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::extract::{ApiJson, ApiQuery, Caller, ListParams};
use crate::error::ApiError;
use crate::state::AppState;

/// Events in one batch at most.
pub const MAX_BATCH: usize = 1_000;

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

fn idempotency_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::bad_request("Idempotency-Key: must be visible ASCII"))
        })
        .transpose()
}

fn receipt(ingested: &Ingested) -> Value {
    let event = ingested.event();
    match ingested {
        Ingested::Created { deliveries, .. } => json!({
            "id": event.id, "seq": event.seq, "event_type": event.event_type,
            "received_at": event.received_at, "deliveries": deliveries,
        }),
        Ingested::Duplicate { why, .. } => json!({
            "id": event.id, "seq": event.seq, "event_type": event.event_type,
            "received_at": event.received_at, "duplicate": true,
            "duplicate_of": event.id, "duplicate_reason": why.as_str(),
        }),
    }
}

async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(input): ApiJson<EventIn>,
) -> Result<Response, ApiError> {
    caller.require(Permission::Publish)?;
    let event = herald_engine::validate::event(
        input,
        idempotency_header(&headers)?,
        "",
        state.limits.max_payload_bytes,
    )?;
    let mut ingested = state.engine.publish(caller.tenant_id, vec![event]).await?;
    let ingested = ingested
        .pop()
        .ok_or_else(|| ApiError::internal("ingest returned nothing"))?;
    let status = match ingested {
        Ingested::Created { .. } => StatusCode::ACCEPTED,
        // The original event, with 200: nothing new was created.
        Ingested::Duplicate { .. } => StatusCode::OK,
    };
    Ok((status, Json(receipt(&ingested))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchIn {
    events: Vec<EventIn>,
}

async fn publish_batch(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(batch): ApiJson<BatchIn>,
) -> Result<Response, ApiError> {
    caller.require(Permission::Publish)?;
    if batch.events.is_empty() || batch.events.len() > MAX_BATCH {
        return Err(invalid(format!(
            "events: send 1 to {MAX_BATCH} events; got {}",
            batch.events.len()
        )));
    }
    let events = batch
        .events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            herald_engine::validate::event(
                e,
                None,
                &format!("events[{i}]."),
                state.limits.max_payload_bytes,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ingested = state.engine.publish(caller.tenant_id, events).await?;
    let ids: Vec<EventId> = ingested.iter().map(|i| i.event().id).collect();
    Ok((StatusCode::ACCEPTED, Json(json!({ "ids": ids }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    event_type: Option<String>,
    correlation_id: Option<String>,
    entity_id: Option<String>,
    endpoint_id: Option<String>,
    state: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

pub(super) fn parse_time(
    name: &str,
    value: Option<&str>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "{name}: '{v}' is not an RFC 3339 time such as 2026-01-31T12:00:00Z"
                    ))
                })
        })
        .transpose()
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<EventSummary>>, ApiError> {
    caller.require(Permission::Read)?;
    let limit = ListParams {
        cursor: None,
        limit: q.limit,
    }
    .limit()?;
    let state_filter = q
        .state
        .as_deref()
        .map(|s| {
            serde_json::from_value::<DeliveryState>(Value::String(s.into())).map_err(|_| {
                ApiError::bad_request(format!(
                    "state: '{s}' is not one of pending, in_flight, succeeded, dead"
                ))
            })
        })
        .transpose()?;
    let filter = EventFilter {
        event_type: q.event_type,
        correlation_id: q.correlation_id,
        entity_id: q.entity_id,
        endpoint_id: q
            .endpoint_id
            .as_deref()
            .map(|e| {
                e.parse::<EndpointId>()
                    .map_err(|e| ApiError::bad_request(format!("endpoint_id: {e}")))
            })
            .transpose()?,
        state: state_filter,
        from: parse_time("from", q.from.as_deref())?,
        to: parse_time("to", q.to.as_deref())?,
        before: q
            .cursor
            .as_deref()
            .map(|c| {
                c.parse::<EventId>()
                    .map_err(|e| ApiError::bad_request(format!("cursor: {e}")))
            })
            .transpose()?,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to <= from
    {
        return Err(ApiError::bad_request("to: must be later than from"));
    }
    Ok(Json(
        state
            .store
            .list_events(caller.tenant_id, &filter, limit)
            .await?,
    ))
}

async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EventDetail>, ApiError> {
    caller.require(Permission::Read)?;
    let not_found = || ApiError::not_found(format!("event '{id}' was not found"));
    let event_id = id.parse::<EventId>().map_err(|_| not_found())?;
    let detail = state
        .store
        .event_detail(caller.tenant_id, event_id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(detail))
}

/// `GET /api/v1/event-types`: what the tenant has published, alphabetically.
async fn event_types(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let items = state.store.event_types(caller.tenant_id).await?;
    Ok(Json(json!({ "items": items })))
}

pub fn router(max_payload_bytes: usize) -> Router<AppState> {
    // Room for the envelope around a payload at the limit; a batch may carry
    // up to 16 such payloads' worth.
    let single = max_payload_bytes + 64 * 1024;
    Router::new()
        .route(
            "/events",
            post(publish).get(list).layer(DefaultBodyLimit::max(single)),
        )
        .route(
            "/events/batch",
            post(publish_batch).layer(DefaultBodyLimit::max(single * 16)),
        )
        .route("/events/{id}", get(detail))
        .route("/event-types", get(event_types))
}
