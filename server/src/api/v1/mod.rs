//! `/api/v1`: every route needs an API key (`Authorization: Bearer …`).

mod api_keys;
mod audit;
mod dlq;
mod endpoints;
mod events;
mod live;
mod replays;
mod retry_policies;
mod stats;
mod tenant;

use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// Each resource module's part of the OpenAPI document.
pub fn docs() -> Vec<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    vec![
        tenant::Doc::openapi(),
        api_keys::Doc::openapi(),
        audit::Doc::openapi(),
        endpoints::Doc::openapi(),
        retry_policies::Doc::openapi(),
        events::Doc::openapi(),
        dlq::Doc::openapi(),
        replays::Doc::openapi(),
        live::Doc::openapi(),
        stats::Doc::openapi(),
    ]
}

pub fn router(max_payload_bytes: usize) -> Router<AppState> {
    Router::new()
        .merge(tenant::router())
        .merge(api_keys::router())
        .merge(audit::router())
        .merge(endpoints::router())
        .merge(retry_policies::router())
        .merge(events::router(max_payload_bytes))
        .merge(dlq::router())
        .merge(replays::router())
        .merge(live::router())
        .merge(stats::router())
        .fallback(|uri: http::Uri| async move {
            ApiError::not_found(format!("no API route at {}", uri.path()))
        })
}
