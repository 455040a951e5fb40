//! `POST /play/{id}`: a play inbox's URL (`engine/src/play.rs`). Anyone may
//! send to it, as to any webhook receiver: the inbox id is the address, and
//! the inbox keeps only its newest 100 requests. Herald's own deliveries to
//! a play inbox never come this way; they are handed over in the process.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Request, State};
use herald_engine::model::PlayInboxId;
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The largest request a play inbox reads (it keeps the first 64 KiB).
pub const MAX_PLAY_BODY: usize = 256 * 1024;

/// Send to a play inbox
///
/// A play inbox is Herald's built-in test receiver, made from the console
/// ("Try it with a play inbox" on the Endpoints page) for one endpoint. It
/// takes any request, keeps the newest 100 and checks each one's Standard
/// Webhooks signature (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`, within 5 minutes of Herald's clock) with that
/// endpoint's secret; the endpoint's page shows them live. No API key:
/// the inbox id is the address. Herald's own deliveries to a play inbox
/// never use the network.
#[utoipa::path(
    post,
    path = "/play/{id}",
    tag = "Play inboxes",
    params(("id" = String, Path, description = "The play inbox (`ply_…`).")),
    request_body(content = Object, content_type = "application/json",
        description = "Anything (at most 256 KiB; the first 64 KiB are kept).",
        example = json!({"type": "order.created", "data": {"id": "123"}})),
    responses(
        (status = 200, description = "Kept, whether or not its signature verified.", body = Object,
            example = json!({"received": true})),
        (status = 404, description = "there is no such play inbox"),
        (status = 413, description = "a play inbox takes at most 256 KiB"),
        (status = 429, description = "Too many requests to unknown play inboxes or unknown API keys from this address."),
        (status = 500, description = "Herald could not keep the request."),
    ),
)]
pub async fn receive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (parts, body) = request.into_parts();
    // An address guessing inbox ids is turned away, as one sending unknown
    // API keys is.
    let peer = crate::api::extract::keyless_caller(
        &state,
        &parts,
        "Too many requests to unknown play inboxes or unknown API keys from this address.",
    )?;
    let body = axum::body::to_bytes(body, MAX_PLAY_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("a play inbox takes at most {} KiB", MAX_PLAY_BODY / 1024),
            )
        })?;
    // A header sent more than once is kept once, as its first value.
    let mut kept = BTreeMap::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            kept.entry(name.as_str().to_string())
                .or_insert_with(|| value.to_string());
        }
    }
    let now = chrono::Utc::now();
    let found = match id.parse::<PlayInboxId>() {
        Ok(inbox) => {
            herald_engine::play::receive(&*state.store, inbox, None, &kept, &body, now).await?
        }
        Err(_) => false,
    };
    if found {
        return Ok(Json(json!({"received": true})));
    }
    if let Some(ip) = peer {
        let _ = state.bad_key_limiter.check(&ip).await;
    }
    Err(ApiError::not_found("there is no such play inbox"))
}

/// This route's part of the OpenAPI document.
pub fn docs() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(receive))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}
