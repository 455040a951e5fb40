//! `/api/v1/endpoints`: where a tenant's events are delivered.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use herald_engine::dispatch::RESERVED_HEADERS;
use herald_engine::model::event_type::validate_pattern;
use herald_engine::model::{EndpointId, EndpointIn, EndpointOut, Page, Permission};
use herald_engine::sign::Secret;
use herald_engine::store::NewEndpoint;
use http::StatusCode;
use serde::Serialize;

use crate::api::extract::{ApiJson, ApiQuery, Caller, ListParams};
use crate::error::ApiError;
use crate::state::AppState;

const DEFAULT_TIMEOUT_MS: u32 = 15_000;
const MAX_TIMEOUT_MS: u32 = 60_000;
const MAX_PATTERNS: usize = 50;
const MAX_HEADERS: usize = 20;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

/// The new endpoint's listing plus its signing secret, shown this once.
#[derive(Serialize)]
struct EndpointCreated {
    #[serde(flatten)]
    endpoint: EndpointOut,
    secret: String,
}

fn validate(input: EndpointIn) -> Result<NewEndpoint, ApiError> {
    let url = url::Url::parse(input.url.trim()).map_err(|e| {
        invalid(format!(
            "url: '{}' is not a URL ({e})",
            input.url.chars().take(100).collect::<String>()
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "url: must be an http:// or https:// URL with a host",
        ));
    }
    if url.as_str().len() > 2_048 {
        return Err(invalid("url: at most 2048 characters"));
    }
    if input.event_types.is_empty() || input.event_types.len() > MAX_PATTERNS {
        return Err(invalid(format!(
            "event_types: list 1 to {MAX_PATTERNS} patterns, such as [\"order.*\"] or [\"*\"] for everything"
        )));
    }
    for (i, pattern) in input.event_types.iter().enumerate() {
        validate_pattern(pattern).map_err(|m| invalid(format!("event_types[{i}]: {m}")))?;
    }
    if input.headers.len() > MAX_HEADERS {
        return Err(invalid(format!("headers: at most {MAX_HEADERS}")));
    }
    for (name, value) in &input.headers {
        let lower = name.to_ascii_lowercase();
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(format!(
                "headers: '{name}' is not a valid header name"
            )));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("herald-") {
            return Err(invalid(format!(
                "headers: '{name}' is set by Herald and cannot be overridden"
            )));
        }
        if http::HeaderValue::from_str(value).is_err() {
            return Err(invalid(format!(
                "headers: the value of '{name}' is not a valid header value"
            )));
        }
    }
    if input.description.chars().count() > 500 {
        return Err(invalid("description: at most 500 characters"));
    }
    let retry_policy = input.retry_policy.unwrap_or_default();
    retry_policy
        .validate()
        .map_err(|m| invalid(format!("retry_policy.{m}")))?;
    let timeout_ms = input.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(invalid(format!(
            "timeout_ms: must be from 1 to {MAX_TIMEOUT_MS}"
        )));
    }
    let secret = match input.secret {
        Some(text) => Secret::parse(&text).map_err(|e| invalid(format!("secret: {e}")))?,
        None => Secret::generate(),
    };
    Ok(NewEndpoint {
        url: url.to_string(),
        description: input.description,
        event_types: input.event_types,
        headers: input.headers,
        semantics: input.semantics,
        retry_policy,
        timeout_ms,
        secret,
    })
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointCreated>), ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    let endpoint = validate(input)?;
    let secret = endpoint.secret.expose();
    let endpoint = state
        .store
        .create_endpoint(caller.tenant_id, endpoint)
        .await?;
    tracing::info!(endpoint = %endpoint.id, "endpoint created");
    Ok((
        StatusCode::CREATED,
        Json(EndpointCreated { endpoint, secret }),
    ))
}

fn endpoint_id(id: &str) -> Result<EndpointId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("endpoint '{id}' was not found")))
}

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
    Ok(Json(endpoint))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<EndpointOut>>, ApiError> {
    caller.require(Permission::Read)?;
    let after = params.cursor::<EndpointId>()?;
    Ok(Json(
        state
            .store
            .list_endpoints(caller.tenant_id, after, params.limit()?)
            .await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ManageEndpoints)?;
    if state
        .store
        .delete_endpoint(caller.tenant_id, endpoint_id(&id)?)
        .await?
    {
        tracing::info!(endpoint = %id, "endpoint deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "endpoint '{id}' was not found"
        )))
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/endpoints", get(list).post(create))
        .route("/endpoints/{id}", get(get_one).delete(delete))
}
