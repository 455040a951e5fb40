//! The API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types' `ToSchema` derives. Each resource module
//! documents its own routes beside its `router()`; this module merges them,
//! adds what every operation shares (the bearer key, the error format and the
//! errors the extractors raise) and serves the result at `/api/v1/openapi.json`.

use std::sync::OnceLock;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorCode, ErrorDetail};

/// The code the API answers an error status with (a 409 about an
/// idempotency key has its own, as `ApiError` gives it).
fn error_code(status: &str, message: &str) -> ErrorCode {
    if status == "409" && message.starts_with("idempotency_key:") {
        return ErrorCode::IdempotencyConflict;
    }
    status
        .parse::<u16>()
        .ok()
        .and_then(|s| http::StatusCode::from_u16(s).ok())
        .and_then(ErrorCode::for_status)
        .unwrap_or(ErrorCode::Internal)
}

/// Responses every authenticated operation can give, whatever it does.
const SHARED_ERRORS: [(&str, &str); 4] = [
    (
        "401",
        "No API key, a malformed `Authorization` header, or an unknown or revoked key.",
    ),
    (
        "403",
        "The key's scope does not allow this operation (see the permission matrix in the README).",
    ),
    (
        "429",
        "The key is over its request rate limit (`HERALD_API_RATE_LIMIT`); `Retry-After` says when to try again.",
    ),
    (
        "500",
        "Herald could not complete the request. Nothing internal is shown; the correlation id finds it in the logs.",
    ),
];

/// Responses every operation with a JSON body can give (the body extractor's).
const BODY_ERRORS: [(&str, &str); 3] = [
    ("400", "The body is not valid JSON."),
    (
        "415",
        "The body was sent without `Content-Type: application/json`.",
    ),
    (
        "422",
        "The body is JSON but not what this operation takes: the message names the field.",
    ),
];

/// Adds the bearer scheme, the shared error responses and an example of the
/// error format to every error response that has no content of its own.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("hrld_…").description(Some("An API key (`hrld_…`), created in the console's API keys page or with `herald api-key create`. It names its tenant and scope.")).build()),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let keyless = KEYLESS.contains(&path.as_str());
            let authenticated = path.starts_with("/api/v1/") && path != OPENAPI_PATH && !keyless;
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                if authenticated {
                    op.security = Some(vec![SecurityRequirement::new(
                        "api_key",
                        Vec::<String>::new(),
                    )]);
                    add_missing(op, &SHARED_ERRORS);
                }
                if keyless {
                    // Proven by a signature, never by a key: no scope to
                    // refuse, no JSON body to parse.
                    op.security = Some(Vec::new());
                    add_missing(op, &[SHARED_ERRORS[3]]);
                } else if op.request_body.is_some() {
                    add_missing(op, &BODY_ERRORS);
                }
                fill_error_content(op);
            }
            // Bodies these handlers read with `optional_json`: may be left out.
            for op in [&mut item.post, &mut item.delete].into_iter().flatten() {
                if OPTIONAL_BODIES.contains(&path.as_str())
                    && let Some(body) = op.request_body.as_mut()
                {
                    body.required = Some(utoipa::openapi::Required::False);
                }
            }
        }
    }
}

/// Operations that take no API key: receivers call them, proving who they
/// are with their endpoint's secret.
pub const KEYLESS: [&str; 1] = ["/api/v1/acks"];

/// Operations whose request body is optional (an empty body means the defaults).
const OPTIONAL_BODIES: [&str; 6] = [
    "/api/v1/dlq/{id}/reprocess",
    "/api/v1/endpoints/{id}/disable",
    "/api/v1/endpoints/{id}/rotate-secret",
    "/api/v1/endpoints/{id}/test",
    "/api/v1/events/{id}/replay",
    "/api/v1/checkpoints/{id}/recover",
];

fn add_missing(op: &mut Operation, errors: &[(&str, &str)]) {
    for (status, description) in errors {
        op.responses
            .responses
            .entry((*status).to_string())
            .or_insert_with(|| ResponseBuilder::new().description(*description).into());
    }
}

/// Error responses declared with only a description get the error schema and
/// an example whose message is that description.
fn fill_error_content(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let is_error = status.starts_with('4') || status.starts_with('5');
        if !is_error || !response.content.is_empty() {
            continue;
        }
        let message = response.description.trim_end_matches('.').to_string();
        let example = json!({"error": {
            "code": error_code(status, &message),
            "message": message,
            "correlation_id": "01JD5Q8X3V4N2M7K9P6R0S1T2W",
        }});
        response.content.insert(
            "application/json".to_string(),
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .example(Some(example))
                .build(),
        );
    }
}

pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald API",
        description = "Publish events, manage the endpoints they are delivered to, read receipts, \
            work the dead-letter queue, replay events and read delivery statistics.\n\n\
            Every `/api/v1` operation but this document takes an API key as a bearer token; \
            the key names its tenant, so no operation takes a tenant id. Lists are keyset \
            paginated: pass `next_cursor` back as `cursor`. Errors share one format \
            (`ErrorBody`). Deliveries are signed as Standard Webhooks describes.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(openapi_json),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    tags(
        (name = "Events", description = "Publishing events and reading them with their deliveries and attempt receipts."),
        (name = "Event types", description = "The event catalog: registered types, their JSON Schemas and versions, checked at ingest under the tenant's schema_mode."),
        (name = "Endpoints", description = "Where a tenant's events are delivered, and how."),
        (name = "Retry policies", description = "Named retry schedules endpoints can follow."),
        (name = "Inbox", description = "Pull inboxes: consumers lease messages, acknowledge them or hand them back."),
        (name = "Dead-letter queue", description = "Deliveries that gave up, to inspect, reprocess or discard."),
        (name = "Replays", description = "Sending stored events again, one or a filtered range, with progress."),
        (name = "Checkpoints", description = "Named points in the event sequence to recover from."),
        (name = "Statistics", description = "Delivery counts, error classes and latency over time."),
        (name = "Live feed", description = "Replay progress and delivery outcomes as they happen, over a websocket."),
        (name = "Tenant", description = "The calling key's tenant and its settings."),
        (name = "API keys", description = "Keys for the calling key's tenant."),
        (name = "Audit", description = "Who changed what."),
        (name = "Operations", description = "Health, readiness, metrics and this document; no key needed."),
        (name = "Play inboxes", description = "Herald's built-in test receiver: what it is sent, kept and shown in the console; no key needed."),
    ),
)]
struct Root;

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "Operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of Herald's HTTP API.", content_type = "application/json", body = Object, example = json!({"openapi": "3.1.0", "info": {"title": "Herald API", "version": "0.1.0"}, "paths": {}}))),
)]
pub async fn openapi_json() -> Response {
    Json(document_json()).into_response()
}

/// The whole document: every resource module's routes, and the shared parts.
pub fn document() -> Document {
    let mut doc = Root::openapi();
    for part in std::iter::once(super::v1::docs())
        .chain(crate::health::docs())
        .chain(std::iter::once(crate::play::docs()))
    {
        doc.merge(part);
    }
    Shared.modify(&mut doc);
    doc
}

/// utoipa marks `deny_unknown_fields` structs `additionalProperties: false`,
/// but not the variants of a tagged union: the retry policy's backoff refuses
/// unknown fields too, and its schema says so.
fn closed_bodies(doc: &mut Value) {
    if let Some(variants) = doc
        .pointer_mut("/components/schemas/Backoff/oneOf")
        .and_then(Value::as_array_mut)
    {
        for variant in variants {
            if variant.get("properties").is_some()
                && let Some(fields) = variant.as_object_mut()
            {
                fields.insert("additionalProperties".into(), Value::Bool(false));
            }
        }
    }
}

/// Rules between two fields that a property's own schema cannot state, written
/// as JSON Schema where JSON Schema can: a body that takes one field or the
/// other accepts each when the other is absent or null.
fn cross_field_rules(doc: &mut Value) {
    let one_or_other = |a: &str, b: &str| {
        json!([
            {"properties": {a: {"type": "null"}}},
            {"properties": {b: {"type": "null"}}},
        ])
    };
    for schema in ["EndpointIn", "EndpointPatch"] {
        if let Some(fields) = doc
            .pointer_mut(&format!("/components/schemas/{schema}"))
            .and_then(Value::as_object_mut)
        {
            fields.insert(
                "anyOf".into(),
                one_or_other("retry_policy", "retry_policy_id"),
            );
        }
    }
    // Exactly one of `ids` and `filter`.
    if let Some(fields) = doc
        .pointer_mut("/components/schemas/BulkReprocessIn")
        .and_then(Value::as_object_mut)
    {
        fields.insert(
            "oneOf".into(),
            json!([
                {"required": ["ids"], "properties": {"ids": {"type": "array"}, "filter": {"type": "null"}}},
                {"required": ["filter"], "properties": {"filter": {"type": "object"}, "ids": {"type": "null"}}},
            ]),
        );
    }
}

/// String rules kept beside the code that applies them, set into the schemas
/// that carry them (utoipa takes patterns only as literals).
fn shared_patterns(doc: &mut Value) {
    let url = herald_engine::validate::endpoint_url_pattern();
    let secret = herald_engine::sign::SECRET_PATTERN;
    for (schema, field, pattern) in [
        ("EndpointIn", "url", url),
        ("EndpointPatch", "url", url),
        ("EndpointIn", "secret", secret),
        ("RotateIn", "secret", secret),
    ] {
        if let Some(property) = doc
            .pointer_mut(&format!("/components/schemas/{schema}/properties/{field}"))
            .and_then(Value::as_object_mut)
        {
            property.insert("pattern".into(), Value::String(pattern.to_owned()));
        }
    }
}

/// The custom header rules of `validate::headers` as JSON Schema (the total
/// size across headers is a rule between fields, stated in prose).
fn header_rules(doc: &mut Value) {
    use herald_engine::validate as v;
    for schema in ["EndpointIn", "EndpointPatch"] {
        if let Some(headers) = doc
            .pointer_mut(&format!("/components/schemas/{schema}/properties/headers"))
            .and_then(Value::as_object_mut)
        {
            headers.insert("maxProperties".into(), json!(v::MAX_CUSTOM_HEADERS));
            headers.insert(
                "propertyNames".into(),
                json!({"pattern": v::HEADER_NAME_PATTERN, "not": {"pattern": v::reserved_header_pattern()}}),
            );
            headers.insert(
                "additionalProperties".into(),
                json!({"type": "string", "maxLength": v::MAX_HEADER_VALUE_BYTES, "pattern": v::HEADER_VALUE_PATTERN}),
            );
        }
    }
}

/// A list query parameter whose empty value means "not given" may be empty ("not given") even
/// where its values are an enumeration.
fn empty_means_absent(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let parameters = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("parameters").and_then(Value::as_array_mut))
        .flatten();
    for parameter in parameters {
        let named = parameter["in"] == "query"
            && parameter["name"]
                .as_str()
                .is_some_and(super::extract::empty_means_absent);
        if named
            && parameter["schema"]["type"] != "string"
            && let Some(schema) = parameter.get_mut("schema")
        {
            *schema = json!({"anyOf": [schema.take(), {"type": "string", "maxLength": 0}]});
        }
    }
}

/// The document as JSON, built once.
pub fn document_json() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(document()).unwrap_or_else(|_| json!({}));
        closed_bodies(&mut doc);
        cross_field_rules(&mut doc);
        shared_patterns(&mut doc);
        empty_means_absent(&mut doc);
        header_rules(&mut doc);
        doc
    })
}
