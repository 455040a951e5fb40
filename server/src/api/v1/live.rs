//! `GET /api/v1/live`: the live feed over a websocket.
//!
//! Authorised by an API key (`Authorization: Bearer …`, for scripts) or by the
//! console's session cookie (browsers cannot set headers on a websocket).
//! Streams `LiveMessage`s as JSON text frames, only the caller's tenant's:
//! `replay.progress`, `delivery.outcome`, `delivery.acked` and `endpoint.breaker`, narrowed by `?types=` and
//! `?endpoint_id=`. A client that cannot keep up is disconnected with close
//! code 4008 and a reason; it may reconnect. A socket opened with a console
//! session closes (code 4001) when that session ends: sign-out, a password
//! change or expiry. One opened with an API key closes (code 4001) when the
//! key is revoked.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::response::Response;
use herald_app::ssr::session_token_from;
use herald_engine::auth::token_digest;
use herald_engine::model::{EndpointId, LiveMessage, Permission, TenantId};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::examples as ex;
use crate::api::extract::{ApiQuery, Caller};
use crate::error::ApiError;
use crate::state::AppState;

/// Close code for a client dropped for reading too slowly.
const TOO_SLOW: u16 = 4008;
/// Close code for a socket whose console session ended or whose key was revoked.
const SESSION_ENDED: u16 = 4001;
/// How often a socket checks that its session or key still stands.
const SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(1);
/// A client that takes longer than this to accept one message is dropped: a
/// reader that stopped reading must not hold its connection open forever.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct LiveQuery {
    /// Comma-separated message types; all by default.
    #[param(
        pattern = "^(replay\\.progress|delivery\\.outcome|delivery\\.acked|endpoint\\.breaker)(,(replay\\.progress|delivery\\.outcome|delivery\\.acked|endpoint\\.breaker))*$"
    )]
    types: Option<String>,
    /// Only this endpoint's delivery outcomes and acknowledgements.
    #[param(value_type = Option<EndpointId>)]
    endpoint_id: Option<String>,
}

struct Wanted {
    types: Option<Vec<String>>,
    endpoint: Option<EndpointId>,
}

impl Wanted {
    fn wants(&self, message: &LiveMessage) -> bool {
        if let Some(types) = &self.types
            && !types.iter().any(|t| t == message.kind())
        {
            return false;
        }
        match (message, self.endpoint) {
            (LiveMessage::DeliveryOutcome(o), Some(ep)) => o.endpoint_id == ep,
            (LiveMessage::DeliveryAcked { endpoint_id, .. }, Some(ep))
            | (LiveMessage::BreakerChanged { endpoint_id, .. }, Some(ep)) => *endpoint_id == ep,
            _ => true,
        }
    }
}

/// What a socket was opened with: it lives as long as that stands.
enum Bound {
    /// A console session, until sign-out, a password change or expiry.
    Session {
        token_digest: String,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// An API key, until it is revoked.
    Key { token_digest: String },
}

/// The tenant whose feed the caller may read, and what authorised it.
async fn tenant_of(
    state: &AppState,
    parts: &mut http::request::Parts,
) -> Result<(TenantId, Bound), ApiError> {
    if parts.headers.contains_key(http::header::AUTHORIZATION) {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(Permission::Read)?;
        let key = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .map(|(_, key)| key.trim())
            .unwrap_or_default();
        return Ok((
            caller.tenant_id,
            Bound::Key {
                token_digest: token_digest(key),
            },
        ));
    }
    let Some(token) = session_token_from(&parts.headers) else {
        return Err(ApiError::unauthenticated(
            "send 'Authorization: Bearer <key>' or sign in to the console",
        ));
    };
    let digest = token_digest(&token);
    let session = herald_engine::auth::session(state.store.as_ref(), &token, chrono::Utc::now())
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the console session has ended; sign in again"))?;
    // A cookie rides along whoever opens the socket: only Herald's own pages may.
    if let Some(reason) = crate::security::cross_site_reason(&parts.headers) {
        return Err(ApiError::forbidden(format!(
            "cross-site websocket refused: {reason}"
        )));
    }
    if !session.user.role.allows(Permission::Read) {
        return Err(ApiError::forbidden("this role may not read the live feed"));
    }
    // The tenant the user's console pages show.
    let tenant =
        herald_app::ssr::tenant_for(state.store.as_ref(), &session.user, &parts.headers).await?;
    Ok((
        tenant,
        Bound::Session {
            token_digest: digest,
            expires_at: session.expires_at,
        },
    ))
}

/// The live feed (websocket)
///
/// Upgrade to a websocket and receive `LiveMessage`s as JSON text frames, only
/// the key's tenant's: `replay.progress` (at least every 500 ms while a replay
/// runs, and on every state change), `delivery.outcome` (each attempt as it
/// finishes), `delivery.acked` (a receiver acknowledged a delivery) and
/// `endpoint.breaker` (an endpoint's circuit breaker opened or closed). A reader that accepts nothing for 30 s, or falls too far behind,
/// is closed with code 4008 and may reconnect. Browsers, which cannot set
/// headers on a websocket, are authorised by the console's session cookie
/// from Herald's own pages.
#[utoipa::path(
    get,
    path = "/api/v1/live",
    tag = "Live feed",
    params(LiveQuery),
    responses(
        (status = 101, description = "Switching to the websocket protocol; each text frame is one LiveMessage.", body = LiveMessage,
            example = json!({"type": "delivery.outcome", "delivery_id": ex::DELIVERY, "event_id": ex::EVENT, "endpoint_id": ex::ENDPOINT,
                "event_type": "order.created", "attempt": 1, "trigger": "scheduled", "state": "succeeded", "response_status": 200,
                "error_class": null, "latency_ms": 84, "at": "2026-11-30T09:15:02Z"})),
        (status = 400, description = "types: 'foo' is not a live message type (replay.progress, delivery.outcome, delivery.acked, endpoint.breaker)."),
        (status = 426, description = "not a websocket request: connect with a websocket client."),
    ),
)]
async fn live(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let ApiQuery(q) = ApiQuery::<LiveQuery>::from_request_parts(&mut parts, &state).await?;
    let (tenant, bound) = tenant_of(&state, &mut parts).await?;
    let wanted = Wanted {
        types: match q.types.as_deref() {
            None => None,
            Some(list) => {
                let types: Vec<String> = list.split(',').map(|t| t.trim().to_owned()).collect();
                if let Some(bad) = types.iter().find(|t| {
                    ![
                        "replay.progress",
                        "delivery.outcome",
                        "delivery.acked",
                        "endpoint.breaker",
                    ]
                    .contains(&t.as_str())
                }) {
                    return Err(ApiError::bad_request(format!(
                        "types: '{bad}' is not a live message type (replay.progress, delivery.outcome, delivery.acked, endpoint.breaker)"
                    )));
                }
                Some(types)
            }
        },
        endpoint: q
            .endpoint_id
            .as_deref()
            .map(|e| {
                e.parse::<EndpointId>()
                    .map_err(|e| ApiError::bad_request(format!("endpoint_id: {e}")))
            })
            .transpose()?,
    };
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
        .await
        .map_err(|e| {
            ApiError::new(
                crate::error::ErrorCode::UpgradeRequired,
                format!("not a websocket request: {e}"),
            )
        })?;
    let feed = state.engine.live.subscribe(tenant);
    let store = state.store.clone();
    Ok(upgrade.on_upgrade(move |socket| stream(socket, feed, wanted, bound, store)))
}

/// Whether what the socket was opened with still stands. A store error is
/// not a sign-out or a revocation: the next check decides.
async fn still_stands(store: &dyn herald_engine::store::Store, bound: &Bound) -> bool {
    let now = chrono::Utc::now();
    match bound {
        Bound::Session {
            token_digest,
            expires_at,
        } => {
            now < *expires_at
                && !matches!(
                    herald_engine::auth::session_lasts(store, token_digest, now).await,
                    Ok(false)
                )
        }
        Bound::Key { token_digest } => !matches!(
            herald_engine::auth::key_lasts(store, token_digest).await,
            Ok(false)
        ),
    }
}

async fn stream(
    mut socket: WebSocket,
    mut feed: herald_engine::live::Subscription,
    wanted: Wanted,
    bound: Bound,
    store: std::sync::Arc<dyn herald_engine::store::Store>,
) {
    let mut check = tokio::time::interval(SESSION_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = check.tick() => {
                if !still_stands(store.as_ref(), &bound).await {
                    let reason = match bound {
                        Bound::Session { .. } => "the console session has ended; sign in again",
                        Bound::Key { .. } => "the API key was revoked",
                    };
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: SESSION_ENDED,
                            reason: reason.into(),
                        })))
                        .await;
                    return;
                }
            }
            next = feed.recv() => match next {
                Ok(message) if wanted.wants(&message) => {
                    let Ok(text) = serde_json::to_string(&message) else { continue };
                    match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
                        Ok(Ok(())) => {}
                        _ => return,
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: TOO_SLOW,
                            reason: format!("too slow: {missed} messages missed; reconnect").into(),
                        })))
                        .await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// This resource's routes, each registered with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(live))
}
