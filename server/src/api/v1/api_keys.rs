//! `/api/v1/api-keys`: a tenant's keys. Creating one shows the key once.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use herald_engine::model::{ApiKeyId, ApiKeyIn, ApiKeyOut, Page, Permission, Scope};
use herald_engine::store::NewApiKey;
use http::StatusCode;
use serde::Serialize;

use crate::api::extract::{ApiJson, ApiQuery, Caller, ListParams};
use crate::error::ApiError;
use crate::state::AppState;

/// The created key: its listing plus the secret, which is never shown again.
#[derive(Serialize)]
struct ApiKeyCreated {
    #[serde(flatten)]
    listing: ApiKeyOut,
    key: String,
}

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

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<ApiKeyIn>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    caller.require(Permission::ManageApiKeys)?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "name: must be 1 to 100 characters",
        ));
    }
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
    let secret = herald_engine::auth::generate_api_key();
    let listing = state
        .store
        .create_api_key(NewApiKey {
            tenant_id: caller.tenant_id,
            name: name.to_string(),
            display_prefix: secret.display_prefix,
            key_digest: secret.digest,
            scope,
        })
        .await?;
    tracing::info!(key = %listing.id, scope = %scope, "API key created");
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            listing,
            key: secret.key,
        }),
    ))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api-keys", get(list).post(create))
}
