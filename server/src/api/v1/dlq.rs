//! `/api/v1/dlq`: deliveries that gave up, to inspect, reprocess (one, a
//! list, or every entry a filter matches) or discard.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use herald_engine::model::query::Source;
use herald_engine::model::{
    DlqDetail, DlqEntryId, DlqEntryOut, EndpointId, ErrorClass, Page, Permission, ReprocessOut,
};
use herald_engine::model::{DlqQuery, ListQuery};
use http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{ApiJson, Caller, ListOf, PageLimit, optional_json, path_id};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Entry ids one bulk reprocess request may list.
pub const MAX_REPROCESS_IDS: usize = 10_000;

/// The DLQ filter shared by the list and bulk reprocess, from query or body.
/// Which DLQ entries; every field narrows, `{}` is all of them.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DlqFilterIn {
    #[schema(value_type = Option<EndpointId>)]
    endpoint_id: Option<String>,
    event_type: Option<String>,
    #[schema(value_type = Option<ErrorClass>)]
    error_class: Option<String>,
    #[schema(format = DateTime)]
    from: Option<String>,
    #[schema(format = DateTime)]
    to: Option<String>,
}

/// The body's filter, read as the list reads its query string.
fn dlq_filter(f: DlqFilterIn) -> Result<DlqQuery, ApiError> {
    let pairs = [
        ("endpoint_id", f.endpoint_id),
        ("event_type", f.event_type),
        ("error_class", f.error_class),
        ("from", f.from),
        ("to", f.to),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect();
    DlqQuery::from_pairs(pairs, Source::Wire)
        .map_err(|e| ApiError::bad_request(format!("filter.{e}")))
}

/// List the dead-letter queue
///
/// Deliveries that gave up, newest first, filtered by endpoint, event type,
/// error class and time.
#[utoipa::path(
    get,
    path = "/api/v1/dlq",
    tag = "Dead-letter queue",
    params(DlqQuery, PageLimit),
    responses(
        (status = 200, description = "A page of DLQ entries, newest first.", body = Page<DlqEntryOut>, example = json!(ex::page(vec![ex::dlq_entry()]))),
        (status = 400, description = "error_class: 'oops' is not an error class."),
    ),
)]
async fn list_dlq(
    State(state): State<AppState>,
    caller: Caller,
    ListOf { query, limit }: ListOf<DlqQuery>,
) -> Result<Json<Page<DlqEntryOut>>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(Json(
        state
            .store
            .list_dlq(caller.tenant_id, &query, limit)
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

/// Why the entry is discarded: required, it is the only record of the decision.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DiscardIn {
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
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
        .reprocess_dlq(caller.tenant_id, &[entry], &caller.by(), &reason)
        .await?;
    if let Some(skipped) = out.skipped.first() {
        return Err(if skipped.reason.starts_with("not in") {
            ApiError::not_found(format!("DLQ entry '{id}' was not found"))
        } else {
            ApiError::new(ErrorCode::Conflict, skipped.reason.clone())
        });
    }
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

/// Either `ids` or `filter`, not both.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkReprocessIn {
    /// 1 to 10,000 DLQ entry ids.
    #[schema(value_type = Option<Vec<DlqEntryId>>, min_items = 1, max_items = 10_000)]
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
    let actor = caller.by();
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
            let filter = dlq_filter(filter)?;
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
    request_body(content = DiscardIn, example = json!({"reason": "order was cancelled"})),
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
    let reason = optional_json::<DiscardIn>(&body)?.reason;
    state
        .engine
        .discard_dlq(caller.tenant_id, entry, &caller.by(), &reason)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_dlq))
        .routes(routes!(reprocess_bulk))
        .routes(routes!(dlq_entry, discard))
        .routes(routes!(reprocess_one))
}
