//! `/api/v1/api-keys`: a tenant's keys. Creating one shows the key once.

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use herald_engine::model::{ApiKeyId, ApiKeyIn, ApiKeyOut, Page, Permission, Scope};
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
    let (listing, key) = herald_engine::auth::issue_api_key(
        state.store.as_ref(),
        caller.tenant_id,
        &input.name,
        scope,
    )
    .await?;
    tracing::info!(key = %listing.id, scope = %scope, "API key created");
    caller
        .audit(
            &state,
            "api_key.create",
            listing.id,
            format!("created key '{}' with scope '{scope}'", listing.name),
        )
        .await;
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { listing, key })))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ManageApiKeys)?;
    let not_found = || ApiError::not_found(format!("API key '{id}' was not found"));
    let key: ApiKeyId = id.parse().map_err(|_| not_found())?;
    if !state.store.revoke_api_key(caller.tenant_id, key).await? {
        return Err(not_found());
    }
    caller
        .audit(&state, "api_key.revoke", key, "revoked the key")
        .await;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api-keys", get(list).post(create))
        .route("/api-keys/{id}", delete(revoke))
}
