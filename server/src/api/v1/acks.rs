//! `POST /api/v1/acks`: a receiver acknowledges a delivery it processed
//! (effectively-once endpoints). No API key: the proof is the endpoint's
//! secret, through a Standard Webhooks signature or the delivery's token.

use axum::Json;
use axum::extract::{Request, State};
use herald_engine::ack::{AckProof, AckRefused};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The largest acknowledgement body read (it is only signed, never kept).
const MAX_ACK_BODY: usize = 64 * 1024;

/// A taken acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
pub struct AckOut {
    /// The delivery acknowledged.
    #[schema(example = "dlv_01JD5Q8X3V4N2M7K9P6R0S1T2W")]
    pub webhook_id: String,
    /// False when it had been acknowledged before (nothing changed).
    pub first: bool,
}

/// Acknowledge a delivery
///
/// For endpoints with `semantics: "effectively_once"`: the receiver confirms
/// it processed a delivery, which then counts as done; without it, the
/// delivery is sent again (same `webhook-id`) when the endpoint's
/// `ack_timeout_secs` pass. No API key is used. The request proves it comes
/// from the receiver in one of two ways:
///
/// * **Signed**: headers `webhook-id` (the delivery's), `webhook-timestamp`
///   (unix seconds, within 5 minutes of Herald's clock) and
///   `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of
///   `{webhook-id}.{webhook-timestamp}.{body}` under the endpoint's secret,
///   exactly what any Standard Webhooks library's `sign` makes. The body is
///   anything (it is signed), `{}` for instance.
/// * **Token**: headers `webhook-id` and `herald-ack-token`, the value the
///   delivery's request carried in its own `herald-ack-token` header.
///
/// Acknowledging twice is harmless. An acknowledgement that arrives while
/// the delivery is being sent again ends it when that attempt's answer
/// comes. An unknown `webhook-id` is answered as an unproven one (401).
#[utoipa::path(
    post,
    path = "/api/v1/acks",
    tag = "Acknowledgements",
    params(
        ("webhook-id" = String, Header, description = "The delivery's `webhook-id`."),
        ("webhook-timestamp" = Option<String>, Header, description = "Unix seconds the acknowledgement was signed at."),
        ("webhook-signature" = Option<String>, Header, description = "`v1,<base64>`: the Standard Webhooks signature of the acknowledgement."),
        ("herald-ack-token" = Option<String>, Header, description = "The token the delivery's request carried, instead of a signature."),
    ),
    request_body(content = Object, content_type = "application/json", description = "Anything (at most 64 KiB); signed when the signature is used.",
        example = json!({})),
    responses(
        (status = 200, description = "Acknowledged.", body = AckOut,
            example = json!({"webhook_id": ex::DELIVERY, "first": true})),
        (status = 400, description = "webhook-id 'x' is not a delivery id (dlv_…): send the webhook-id header of the request being acknowledged"),
        (status = 401, description = "the acknowledgement is not signed with the secret of the endpoint this webhook-id was sent to (or no delivery has this webhook-id)"),
        (status = 409, description = "delivery 'dlv_…' is dead; it takes no acknowledgement (reprocess or discard its DLQ entry)"),
        (status = 429, description = "Too many unproven acknowledgements from this address."),
    ),
)]
async fn acknowledge(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<AckOut>, ApiError> {
    let (parts, body) = request.into_parts();
    let peer = crate::api::extract::keyless_caller(
        &state,
        &parts,
        "Too many unproven acknowledgements or unknown API keys from this address.",
    )?;
    let body = axum::body::to_bytes(body, MAX_ACK_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("an acknowledgement's body is at most {MAX_ACK_BODY} bytes"),
            )
        })?;
    let headers = &parts.headers;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let webhook_id = text("webhook-id").ok_or_else(|| {
        ApiError::bad_request(
            "missing webhook-id header: send the webhook-id of the delivery being acknowledged",
        )
    })?;
    let proof = AckProof {
        webhook_id,
        timestamp: text("webhook-timestamp"),
        signature: text("webhook-signature"),
        token: text("herald-ack-token"),
        body: &body,
    };
    match state.engine.acknowledge(proof, chrono::Utc::now()).await? {
        Ok(taken) => Ok(Json(AckOut {
            webhook_id: taken.delivery_id.to_string(),
            first: taken.first,
        })),
        Err(AckRefused::Malformed(message)) => Err(ApiError::bad_request(message)),
        Err(AckRefused::Unproven(message)) => {
            if let Some(ip) = peer {
                let _ = state.bad_key_limiter.check(&ip).await;
            }
            Err(ApiError::unauthenticated(message))
        }
        Err(AckRefused::NotAwaiting(s)) => Err(ApiError::new(
            ErrorCode::Conflict,
            match s {
                herald_engine::model::DeliveryState::Dead => format!(
                    "delivery '{webhook_id}' is dead; it takes no acknowledgement (reprocess or discard its DLQ entry)"
                ),
                other => format!(
                    "delivery '{webhook_id}' is {} and its endpoint does not ask for acknowledgements",
                    other.as_str()
                ),
            },
        )),
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(acknowledge))
}
