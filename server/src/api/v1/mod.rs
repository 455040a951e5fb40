//! `/api/v1`: every route needs an API key (`Authorization: Bearer …`) but
//! one: receivers acknowledge deliveries (`/acks`) with the endpoint's secret.

mod acks;
mod api_keys;
mod audit;
mod content;
mod dlq;
mod endpoints;
mod event_types;
mod events;
mod inbox;
mod live;
mod replays;
mod retry_policies;
mod stats;
mod tenant;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

/// Every `/api/v1` route, each registered with its documentation in one
/// call (`routes!` over the handler's `#[utoipa::path]`): a route cannot be
/// served without being in the document, nor documented without being served.
pub fn api(max_payload_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .merge(tenant::routes())
        .merge(acks::routes())
        .merge(api_keys::routes())
        .merge(audit::routes())
        .merge(endpoints::routes())
        .merge(content::routes())
        .merge(retry_policies::routes())
        .merge(events::routes(max_payload_bytes))
        .merge(event_types::routes())
        .merge(dlq::routes())
        .merge(inbox::routes())
        .merge(replays::routes())
        .merge(live::routes())
        .merge(stats::routes())
}

/// The `/api/v1` part of the OpenAPI document.
pub fn docs() -> utoipa::openapi::OpenApi {
    // The payload limit only sizes a body limit layer, not the document.
    api(1024 * 1024).into_openapi()
}

/// The `/api/v1` routes to serve; a path under it that is none of them is a
/// 404 naming the path.
pub fn router(max_payload_bytes: usize) -> Router<AppState> {
    let (router, _) = api(max_payload_bytes).split_for_parts();
    router.route(
        "/api/v1/{*rest}",
        axum::routing::any(|uri: http::Uri| async move {
            ApiError::not_found(format!("no API route at {}", uri.path()))
        }),
    )
}
