//! `GET /metrics`: Prometheus text format. Counters come from the engine's
//! in-memory metrics; queue, DLQ, endpoint and replay gauges are read from the
//! store on each scrape. No authentication: it carries aggregate counts and
//! replay job ids only, no tenant data; restrict it at the network if needed.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;

use crate::error::ApiError;
use crate::state::AppState;

pub async fn scrape(State(state): State<AppState>) -> Response {
    match state.store.gauges(chrono::Utc::now()).await {
        Ok(gauges) => (
            [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            state.engine.dispatcher.metrics().render(&gauges),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
