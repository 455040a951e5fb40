//! `/api/v1/api-keys`: a tenant's keys. Creating one shows the key once.

use axum::Json;
use axum::extract::{Path, State};
use herald_engine::model::{ApiKeyId, ApiKeyIn, ApiKeyOut, Page, Permission, Scope};
use http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{ApiJson, ApiQuery, Caller, ListParams};
use crate::error::ApiError;
use crate::state::AppState;

/// The created key: its listing plus the secret, which is never shown again.
#[derive(Serialize, utoipa::ToSchema)]
struct ApiKeyCreated {
    #[serde(flatten)]
    listing: ApiKeyOut,
    /// The key itself, shown this once: Herald keeps only its digest.
    key: String,
}

/// List the tenant's API keys
///
/// Never the keys themselves: their name, public prefix, scope and last use.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    tag = "API keys",
    params(ListParams),
    responses(
        (status = 200, description = "A page of keys, oldest first.", body = Page<ApiKeyOut>, example = json!(ex::page(vec![ex::api_key()]))),
        (status = 400, description = "cursor: 'x' is not a valid API key id"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<ApiKeyOut>>, ApiError> {
    caller.require(Permission::ManageApiKeys)?;
    let after = params.cursor::<ApiKeyId>()?;
    let page = state
        .store
        .list_api_keys(caller.tenant_id, after, params.limit()?)
        .await?;
    Ok(Json(page))
}

/// Create an API key
///
/// The answer carries the key once. A key cannot grant more than the key that
/// creates it; the scope defaults to `read`.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    tag = "API keys",
    request_body(content = ApiKeyIn, example = json!({"name": "orders-publisher", "scope": "ingest"})),
    responses(
        (status = 201, description = "The key, shown this once, and its listing.", body = ApiKeyCreated,
            example = json!({"id": ex::KEY, "name": "orders-publisher", "prefix": "hrld_3fa9c1d2", "tenant": "acme", "scope": "ingest",
                "created_at": "2026-11-30T09:15:02Z", "last_used_at": null, "key": "hrld_3fa9c1d2Zx8QeN0vT5uYb1LmR7kWs4Pj"})),
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<ApiKeyIn>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    caller.require(Permission::ManageApiKeys)?;
    let scope = input.scope.unwrap_or(Scope::Read);
    // A key can only hand out what it holds itself, so no key mints a stronger one.
    if let Some(p) = Permission::ALL
        .into_iter()
        .find(|p| scope.allows(*p) && !caller.scope.allows(*p))
    {
        return Err(ApiError::forbidden(format!(
            "a key with scope '{}' cannot create a key with scope '{scope}' (it would grant '{p}')",
            caller.scope
        )));
    }
    let (listing, key) = herald_engine::auth::issue_bound_api_key(
        state.store.as_ref(),
        &caller.by(),
        caller.tenant_id,
        &input.name,
        scope,
        herald_engine::auth::KeyBinding {
            endpoint: input.endpoint_id,
            default_source: input.default_source,
        },
    )
    .await?;
    tracing::info!(key = %listing.id, scope = %scope, "API key created");
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { listing, key })))
}

/// Revoke an API key
///
/// Requests with it fail from now on.
#[utoipa::path(
    delete,
    path = "/api/v1/api-keys/{id}",
    tag = "API keys",
    params(("id" = ApiKeyId, Path, description = "The key's id (not the key).")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "API key 'key_…' was not found."),
    ),
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ManageApiKeys)?;
    let not_found = || ApiError::not_found(format!("API key '{id}' was not found"));
    let key: ApiKeyId = id.parse().map_err(|_| not_found())?;
    if !herald_engine::auth::revoke_api_key(
        state.store.as_ref(),
        &caller.by(),
        caller.tenant_id,
        key,
    )
    .await?
    {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}
