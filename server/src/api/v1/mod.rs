//! `/api/v1`: every route needs an API key (`Authorization: Bearer …`).

mod api_keys;
mod tenant;

use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(tenant::router())
        .merge(api_keys::router())
        .fallback(|uri: http::Uri| async move {
            ApiError::not_found(format!("no API route at {}", uri.path()))
        })
}
