//! `/api/v1/endpoints/filter-test` and `…/transform-test`: trying a
//! content filter or a transform before it goes live.

use axum::Json;
use axum::extract::State;
use herald_engine::model::{
    FilterTestIn, FilterTestOut, Permission, TransformTestIn, TransformTestOut,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{ApiJson, Caller};
use crate::error::ApiError;
use crate::state::AppState;

/// Try a content filter
///
/// Whether an event matches `filter` (as an endpoint's `filter` takes it),
/// and when it does not, the first condition that failed with its place in
/// the filter. The event is a stored one (`event_id`), the newest of a type
/// (`event_type`) or one given in full (`event`). Nothing is saved.
#[utoipa::path(
    post,
    path = "/api/v1/endpoints/filter-test",
    tag = "Endpoints",
    request_body(content = FilterTestIn, example = json!(ex::filter_test_in())),
    responses(
        (status = 200, description = "Whether it matches, and why not.", body = FilterTestOut, example = json!(ex::filter_test_out())),
        (status = 404, description = "event of type 'order.created' was not found."),
        (status = 422, description = "filter: at /payload.total/$gt: $gt compares with a number or a string."),
    ),
)]
async fn filter_test(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<FilterTestIn>,
) -> Result<Json<FilterTestOut>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(Json(
        state.engine.filter_test(caller.tenant_id, input).await?,
    ))
}

/// Try a transform
///
/// What `transform` (a jq program, as an endpoint's `transform` takes it)
/// makes of a payload: the body a receiver would get, before it is signed.
/// The payload is a stored event's (`event_id`), the newest of a type's
/// (`event_type`) or one given in full (`payload`). A program that does not
/// compile, fails, runs past 1 s or gives more than 1 MiB is refused with
/// 422 saying which. Nothing is saved.
#[utoipa::path(
    post,
    path = "/api/v1/endpoints/transform-test",
    tag = "Endpoints",
    request_body(content = TransformTestIn, example = json!(ex::transform_test_in())),
    responses(
        (status = 200, description = "The body the transform makes.", body = TransformTestOut, example = json!(ex::transform_test_out())),
        (status = 404, description = "event of type 'order.created' was not found."),
        (status = 422, description = "transform: the transform ran longer than its limit of 1000 ms and was stopped"),
    ),
)]
async fn transform_test(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<TransformTestIn>,
) -> Result<Json<TransformTestOut>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(Json(
        state.engine.transform_test(caller.tenant_id, input).await?,
    ))
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(filter_test))
        .routes(routes!(transform_test))
}
