//! `/api/v1/events`: publishing (single and batch) and reading events with
//! their deliveries and receipts.
//!
//! A 2xx means the event and its deliveries are committed (one transaction).

use axum::Extension;
use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use herald_engine::model::EventQuery;
use herald_engine::model::{
    EventDetail, EventId, EventIn, ExpungeIn, ExpungeOut, Page, Permission,
};
use herald_engine::store::{DuplicateOf, EventSummary, Ingested};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{ApiJson, Caller, ListOf, PageLimit};
use crate::correlation::FromCaller;
use crate::error::ApiError;
use crate::state::AppState;

/// Events in one batch at most.
pub const MAX_BATCH: usize = 1_000;

fn invalid(message: String) -> ApiError {
    ApiError::unprocessable(message)
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

/// What publishing an event did.
#[derive(Serialize, utoipa::ToSchema)]
struct EventReceipt {
    id: EventId,
    /// The event's position in the tenant's sequence.
    seq: i64,
    event_type: String,
    received_at: DateTime<Utc>,
    /// Deliveries created (one per matching endpoint); absent for a duplicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    deliveries: Option<u32>,
    /// Present (true) when the event repeats one received before: nothing was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate: Option<bool>,
    /// The original event's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate_of: Option<EventId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate_reason: Option<DuplicateOf>,
}

fn receipt(ingested: &Ingested) -> EventReceipt {
    let event = ingested.event();
    let mut out = EventReceipt {
        id: event.id,
        seq: event.seq,
        event_type: event.event_type.clone(),
        received_at: event.received_at,
        deliveries: None,
        duplicate: None,
        duplicate_of: None,
        duplicate_reason: None,
    };
    match ingested {
        Ingested::Created { deliveries, .. } => out.deliveries = Some(*deliveries),
        Ingested::Duplicate { why, .. } => {
            out.duplicate = Some(true);
            out.duplicate_of = Some(event.id);
            out.duplicate_reason = Some(*why);
        }
    }
    out
}

/// Publish an event
///
/// The event and one delivery per subscribed endpoint are committed before the
/// answer. What a 202 survives is the server's `durability` setting: with
/// `power` (the default) every commit is synced to disk first, so an accepted
/// event survives a crash of Herald, of the OS or of the power; with `process`
/// it survives a crash of Herald, and a power loss may lose the last second or so.
/// An `Idempotency-Key` header (or `idempotency_key`) makes a retry of the same
/// publish answer 200 with the original instead of delivering twice; the same
/// key with a different event type or payload is refused with 409
/// `idempotency_conflict`. An `X-Correlation-ID` header becomes the event's
/// correlation id when the body has none.
#[utoipa::path(
    post,
    path = "/api/v1/events",
    tag = "Events",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]([\t -~]{0,253}[!-~])?$",
        description = "Deduplicates publishes of the same event, at any time: 1 to 255 visible ASCII characters. \
            When the body has an `idempotency_key` too, the two must be equal.")),
    request_body(content = EventIn, example = json!(ex::event_in())),
    responses(
        (status = 202, description = "Stored, with its deliveries queued.", body = EventReceipt,
            example = json!({"id": ex::EVENT, "seq": 1042, "event_type": "order.created", "received_at": "2026-11-30T09:15:02Z", "deliveries": 2})),
        (status = 200, description = "A repeat of an event received before: the original, nothing new created.", body = EventReceipt,
            example = json!({"id": ex::EVENT, "seq": 1042, "event_type": "order.created", "received_at": "2026-11-30T09:15:02Z",
                "duplicate": true, "duplicate_of": ex::EVENT, "duplicate_reason": "idempotency_key"})),
        (status = 409, description = "idempotency_key: 'order-1042' was already used for event evt_… with a different event type or payload; a new event needs a new key."),
        (status = 413, description = "payload: 1200000 bytes is more than the limit of 1048576 (the server's max_payload_bytes)."),
        (status = 422, description = "event_type: 'Order Created' is not an event type: use dot-separated words of letters, digits, '_' and '-', such as order.created."),
    ),
)]
async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    correlation: Option<Extension<FromCaller>>,
    ApiJson(mut input): ApiJson<EventIn>,
) -> Result<Response, ApiError> {
    caller.require(Permission::Publish)?;
    // The publisher's X-Correlation-ID follows the event when the body names none.
    if input.correlation_id.is_none() {
        input.correlation_id = correlation.map(|Extension(FromCaller(id))| id);
    }
    if input.source.is_none() {
        input.source.clone_from(&caller.default_source);
    }
    let event = herald_engine::validate::event(
        input,
        idempotency_header(&headers)?,
        None,
        state.limits.max_payload_bytes,
    )?;
    let mut ingested = state
        .engine
        .publish(caller.tenant_id, vec![event], false)
        .await?;
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchIn {
    /// 1 to 1000 events, stored together in one transaction.
    #[schema(min_items = 1, max_items = 1000)]
    events: Vec<EventIn>,
}

/// Publish a batch of events
///
/// Up to 1000 events in one transaction: all are stored or none. Each is
/// checked as a single publish would be; the first bad one names its index.
#[utoipa::path(
    post,
    path = "/api/v1/events/batch",
    tag = "Events",
    request_body(content = BatchIn, example = json!({"events": [ex::event_in(), {"event_type": "invoice.paid", "payload": {"invoice_id": "inv_77"}}]})),
    responses(
        (status = 202, description = "Stored; the events' ids in the order sent.", body = BatchReceipt,
            example = json!({"ids": [ex::EVENT, "evt_01JD5QA0N1P2Q3R4S5T6V7W8XB"]})),
        (status = 409, description = "events[0].idempotency_key: 'k' was first used for an event with another type or payload (idempotency_conflict)."),
        (status = 413, description = "the request body is larger than allowed."),
        (status = 422, description = "events[1].event_type: 'Order Created' is not an event type: use dot-separated words of letters, digits, '_' and '-', such as order.created."),
    ),
)]
async fn publish_batch(
    State(state): State<AppState>,
    caller: Caller,
    correlation: Option<Extension<FromCaller>>,
    ApiJson(batch): ApiJson<BatchIn>,
) -> Result<Response, ApiError> {
    let header_correlation = correlation.map(|Extension(FromCaller(id))| id);
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
        .map(|(i, mut e)| {
            if e.correlation_id.is_none() {
                e.correlation_id.clone_from(&header_correlation);
            }
            if e.source.is_none() {
                e.source.clone_from(&caller.default_source);
            }
            herald_engine::validate::event(e, None, Some(i), state.limits.max_payload_bytes)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ingested = state.engine.publish(caller.tenant_id, events, true).await?;
    let ids: Vec<EventId> = ingested.iter().map(|i| i.event().id).collect();
    Ok((StatusCode::ACCEPTED, Json(BatchReceipt { ids })).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct BatchReceipt {
    ids: Vec<EventId>,
}

/// List events
///
/// Newest first, filtered by type, correlation id, entity, endpoint, delivery
/// state and time.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "Events",
    params(EventQuery, PageLimit),
    responses(
        (status = 200, description = "A page of events with their delivery counts.", body = Page<EventSummary>, example = json!(ex::page(vec![ex::event_summary()]))),
        (status = 400, description = "state: 'lost' is not one of pending, in_flight, succeeded, dead."),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ListOf { query, limit }: ListOf<EventQuery>,
) -> Result<Json<Page<EventSummary>>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(Json(
        state
            .store
            .list_events(caller.tenant_id, &query, limit)
            .await?,
    ))
}

/// Read an event with its receipts
///
/// The event, each delivery it became and every attempt's receipt: request
/// headers, response status, headers and body excerpt, error class, latency.
#[utoipa::path(
    get,
    path = "/api/v1/events/{id}",
    tag = "Events",
    params(("id" = EventId, Path, description = "The event's id.")),
    responses(
        (status = 200, description = "The event, its deliveries and their attempts.", body = EventDetail, example = json!(ex::event_detail())),
        (status = 404, description = "event 'evt_…' was not found."),
    ),
)]
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

/// This resource's routes, each registered with its documentation; a
/// publish may carry a payload at the limit with its envelope around it.
/// Expunge an event (a privacy request)
///
/// Erases the event's payload, metadata and payload digest, and the response
/// headers and bodies of every receipt of its deliveries, keeping that it
/// existed (id, type, sequence, times, delivery outcomes). Deliveries still
/// waiting are ended and its dead-letter entries removed, so the erased
/// payload is never sent; replays skip it. The reason is required and
/// recorded in the audit log. Refused while one of its deliveries is in
/// flight (seconds: try again).
#[utoipa::path(
    post,
    path = "/api/v1/events/{id}/expunge",
    tag = "Events",
    params(("id" = EventId, Path, description = "The event's id.")),
    request_body(content = ExpungeIn, example = json!({"reason": "erasure request #4411"})),
    responses(
        (status = 200, description = "What was erased and ended.", body = ExpungeOut,
            example = json!({"event_id": ex::EVENT, "expunged_at": "2026-11-30T09:15:02Z",
                "receipts_erased": 3, "deliveries_ended": 0, "dlq_entries_removed": 1})),
        (status = 404, description = "event 'evt_…' was not found."),
        (status = 409, description = "event 'evt_…' has 1 delivery in flight right now; try again in a few seconds."),
    ),
)]
async fn expunge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ExpungeIn>,
) -> Result<Json<ExpungeOut>, ApiError> {
    caller.require(Permission::ManageReplays)?;
    let event: EventId = crate::api::extract::path_id("event", &id)?;
    Ok(Json(
        state
            .engine
            .expunge_event(caller.tenant_id, event, input, &caller.by())
            .await?,
    ))
}

pub fn routes(max_payload_bytes: usize) -> OpenApiRouter<AppState> {
    // Room for the envelope around a payload at the limit; a batch may carry
    // up to 16 such payloads' worth.
    let single = max_payload_bytes + 64 * 1024;
    OpenApiRouter::new()
        .merge(
            OpenApiRouter::new()
                .routes(routes!(publish, list))
                .layer(DefaultBodyLimit::max(single)),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(publish_batch))
                .layer(DefaultBodyLimit::max(single * 16)),
        )
        .routes(routes!(detail))
        .routes(routes!(expunge))
}
