//! `/api/v1/event-types`: the event catalog. Registered types with their
//! JSON Schemas (draft 2020-12) and every version of them, and the types
//! published without being registered. Ingest checks events against it
//! under the tenant's `schema_mode` and `require_registered_types`.

use axum::Json;
use axum::extract::{Path, State};
use herald_engine::model::{
    CatalogEntry, EventTypeDetail, EventTypeIn, EventTypeOut, EventTypePatch, Permission,
    SchemaCheckOut, SchemaVersionIn, SchemaVersionOut, ValidationFailures,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{ApiJson, ApiQuery, Caller};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CatalogQuery {
    /// Include archived (deleted) types.
    #[serde(default)]
    include_archived: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Catalog {
    items: Vec<CatalogEntry>,
}

/// List event types
///
/// Every type the tenant registered or published, alphabetically: whether
/// it is registered, its current schema version, how many events were
/// published under it and when the last one was. Archived types only with
/// `include_archived=true`.
#[utoipa::path(
    get,
    path = "/api/v1/event-types",
    tag = "Event types",
    params(CatalogQuery),
    responses(
        (status = 200, description = "The tenant's event types.", body = Catalog,
            example = json!({"items": [{"event_type": "order.created", "registered": true, "description": "An order was placed.",
                "deprecated": false, "archived": false, "version": 2, "events": 1042, "last_seen_at": "2026-11-30T09:15:02Z", "schema_warnings": 0}]})),
        (status = 400, description = "query string: include_archived: provided string was not `true` or `false`."),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<CatalogQuery>,
) -> Result<Json<Catalog>, ApiError> {
    caller.require(Permission::Read)?;
    let archived = query.include_archived.unwrap_or(false);
    let items = state
        .engine
        .event_catalog(caller.tenant_id)
        .await?
        .into_iter()
        .filter(|e| archived || !e.archived)
        .collect();
    Ok(Json(Catalog { items }))
}

/// Register an event type
///
/// With its first schema and examples, or without a schema (one can come
/// later as a version). Each example must pass the schema.
#[utoipa::path(
    post,
    path = "/api/v1/event-types",
    tag = "Event types",
    request_body(content = EventTypeIn, example = json!({"name": "order.created", "description": "An order was placed.",
        "schema": ex::order_schema(), "examples": [ex::order_example()]})),
    responses(
        (status = 201, description = "The registered type with its versions.", body = EventTypeDetail, example = json!(ex::event_type_detail())),
        (status = 409, description = "name: the event type 'order.created' is registered already."),
        (status = 413, description = "schema: 70000 bytes is more than the limit of 65536."),
        (status = 422, description = "examples[0]: the schema refuses it: /amount: minimum (-1 is less than the minimum of 0)."),
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<EventTypeIn>,
) -> Result<(StatusCode, Json<EventTypeDetail>), ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let created = state
        .engine
        .create_event_type(caller.tenant_id, input, &caller.by())
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Read an event type
///
/// The registered type, every version of its schema (oldest first; the last
/// is current), and what was published under it.
#[utoipa::path(
    get,
    path = "/api/v1/event-types/{name}",
    tag = "Event types",
    params(("name" = String, Path, description = "The type's name.")),
    responses(
        (status = 200, description = "The type and its versions.", body = EventTypeDetail, example = json!(ex::event_type_detail())),
        (status = 404, description = "event type 'order.created' was not found."),
    ),
)]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<EventTypeDetail>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(Json(
        state
            .engine
            .event_type_detail(caller.tenant_id, &name)
            .await?,
    ))
}

/// Change an event type
///
/// Its description, `deprecated` (still accepted; publishers are told to
/// move off it) and `archived` (`false` restores a deleted type). The schema
/// changes through a new version.
#[utoipa::path(
    patch,
    path = "/api/v1/event-types/{name}",
    tag = "Event types",
    params(("name" = String, Path, description = "The type's name.")),
    request_body(content = EventTypePatch, example = json!({"deprecated": true})),
    responses(
        (status = 200, description = "The type as it is now.", body = EventTypeOut, example = json!(ex::event_type_out())),
        (status = 404, description = "event type 'order.created' was not found."),
    ),
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(patch): ApiJson<EventTypePatch>,
) -> Result<Json<EventTypeOut>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    Ok(Json(
        state
            .engine
            .update_event_type(caller.tenant_id, &name, patch, &caller.by())
            .await?,
    ))
}

/// Delete (archive) an event type
///
/// The type leaves the catalog: with `require_registered_types` its events
/// are refused. Its schema versions are kept (stored events name the one
/// that checked them); `PATCH` with `archived: false` restores it.
#[utoipa::path(
    delete,
    path = "/api/v1/event-types/{name}",
    tag = "Event types",
    params(("name" = String, Path, description = "The type's name.")),
    responses(
        (status = 200, description = "The archived type.", body = EventTypeOut, example = json!(ex::event_type_archived())),
        (status = 404, description = "event type 'order.created' was not found."),
    ),
)]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<EventTypeOut>, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    Ok(Json(
        state
            .engine
            .delete_event_type(caller.tenant_id, &name, &caller.by())
            .await?,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Versions {
    items: Vec<SchemaVersionOut>,
}

/// List an event type's schema versions
///
/// Oldest first; the last is current. Versions are never changed or removed.
#[utoipa::path(
    get,
    path = "/api/v1/event-types/{name}/versions",
    tag = "Event types",
    params(("name" = String, Path, description = "The type's name.")),
    responses(
        (status = 200, description = "Every version.", body = Versions, example = json!({"items": [ex::schema_version(1), ex::schema_version(2)]})),
        (status = 404, description = "event type 'order.created' was not found."),
    ),
)]
async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Versions>, ApiError> {
    caller.require(Permission::Read)?;
    let detail = state
        .engine
        .event_type_detail(caller.tenant_id, &name)
        .await?;
    Ok(Json(Versions {
        items: detail.versions,
    }))
}

/// Add a schema version
///
/// Compares the new schema with the current version: a change that could
/// refuse an event the current version accepts (a new required property, a
/// narrowed type, a removed enum value, `additionalProperties` closed…) is
/// refused with 422 naming each one, unless `breaking: true`. With
/// `dry_run: true` nothing is registered: the answer lists those changes and
/// how many of the type's most recent stored events (`dry_run_events`,
/// default 1000) the new schema would refuse.
#[utoipa::path(
    post,
    path = "/api/v1/event-types/{name}/versions",
    tag = "Event types",
    params(("name" = String, Path, description = "The type's name.")),
    request_body(content = SchemaVersionIn, example = json!({"schema": ex::order_schema(), "dry_run": true, "dry_run_events": 500})),
    responses(
        (status = 201, description = "Registered: the new current version, and what the comparison found.", body = SchemaCheckOut, example = json!(ex::schema_check(true))),
        (status = 200, description = "A dry run: what the comparison and the stored events found; nothing registered.", body = SchemaCheckOut,
            example = json!({"compared_with": 1, "incompatibilities": [{"pointer": "/required", "keyword": "required", "change": "'currency' is required now"}],
                "events_checked": 500, "events_failing": 12, "failures": []})),
        (status = 404, description = "event type 'order.created' was not found."),
        (status = 409, description = "version: 'order.created' is at version 3 now, not 2; compare the new schema with that one."),
        (status = 422, description = "schema: the new version could refuse events version 1 accepts: /required: required ('currency' is required now). Send \"breaking\": true to register it anyway."),
    ),
)]
async fn add_version(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<SchemaVersionIn>,
) -> Result<(StatusCode, Json<SchemaCheckOut>), ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let dry_run = input.dry_run;
    let check = state
        .engine
        .add_schema_version(caller.tenant_id, &name, input, &caller.by())
        .await?;
    let status = if dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(check)))
}

/// Export the catalog as AsyncAPI 3.0
///
/// One channel per registered (not archived) type with its message: the
/// payload's JSON Schema (draft 2020-12), its examples, `deprecated`, and
/// the Standard Webhooks headers every request carries. For the teams that
/// receive the tenant's events: code generators and documentation tools
/// read it. `info.version` is the catalog's revision: it changes whenever
/// the catalog does. (A type named `asyncapi.json` is read through the list.)
#[utoipa::path(
    get,
    path = "/api/v1/event-types/asyncapi.json",
    tag = "Event types",
    responses(
        (status = 200, description = "An AsyncAPI 3.0.0 document.", body = Object,
            example = json!({"asyncapi": "3.0.0", "info": {"title": "Acme: events", "version": "7"},
                "defaultContentType": "application/json", "channels": {}, "operations": {}})),
    ),
)]
async fn asyncapi(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Permission::Read)?;
    let tenant = state
        .store
        .tenant_by_slug(&caller.tenant_slug)
        .await?
        .ok_or_else(|| ApiError::internal(format!("tenant of key {} is missing", caller.key_id)))?;
    Ok(Json(
        state
            .engine
            .asyncapi(caller.tenant_id, &tenant.name)
            .await?,
    ))
}

/// Recent validation failures of an event type
///
/// What its schema found wrong lately, newest first: `refused`, the events
/// refused at ingest under `schema_mode: enforce` by the node that answers
/// (refused events are not stored; each node keeps its tenant's 100 most
/// recent refusals in memory, with their type, version, source and
/// problems, never the payload), and `flagged`, the 20 most recent stored
/// events accepted with problems under `warn`.
#[utoipa::path(
    get,
    path = "/api/v1/event-types/{name}/failures",
    tag = "Event types",
    params(("name" = String, Path, description = "The type's name.")),
    responses(
        (status = 200, description = "Refused and flagged events, newest first.", body = ValidationFailures,
            example = json!({"refused": [{"at": "2026-11-30T09:15:02Z", "event_type": "order.created", "version": 2, "source": "shop",
                "problems": [{"pointer": "/amount", "keyword": "minimum", "message": "value is less than the minimum of 0"}]}],
                "flagged": []})),
        (status = 404, description = "event type 'order.created' was not found."),
    ),
)]
async fn failures(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ValidationFailures>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(Json(
        state
            .engine
            .validation_failures(caller.tenant_id, &name)
            .await?,
    ))
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(asyncapi))
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(versions, add_version))
        .routes(routes!(failures))
}
