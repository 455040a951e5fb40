//! Console sessions: every console page and server function needs a signed-in
//! user. The session cookie is resolved here, once, and the user is attached to
//! the request for the console's permission checks.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use herald_app::ssr::session_token_from;

use crate::error::ApiError;
use crate::state::AppState;

/// Paths anyone may reach: the sign-in page and its server function, health
/// probes, the console's static assets, and the API (which checks API keys).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login"
            | "/fn/login"
            | "/docs"
            | "/fn/api_reference"
            | "/healthz"
            | "/readyz"
            | "/metrics"
            | "/favicon.svg"
    ) || path.starts_with("/pkg/")
        || path.starts_with("/api/")
}

pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let server_fn = req.uri().path().starts_with("/fn/");
    let response = signed_in(state, req, next).await;
    if server_fn {
        bad_arguments_are_400(response).await
    } else {
        response
    }
}

/// A server function answers arguments it cannot decode (missing, ill-typed,
/// not UTF-8) with `ConsoleError::Invalid` for the field `request` before any of
/// its code runs, so nothing sets the status and the framework's 500 would
/// stand. The caller sent a bad request: that is a 400.
async fn bad_arguments_are_400(response: Response) -> Response {
    if response.status() != http::StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 256 * 1024).await else {
        return ApiError::internal("a server function's error answer could not be read")
            .into_response();
    };
    if let Ok(herald_app::error::ConsoleError::Invalid { field, .. }) =
        serde_json::from_slice(&bytes)
        && field == "request"
    {
        parts.status = http::StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

async fn signed_in(state: AppState, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if is_public(path) {
        return next.run(req).await;
    }
    let session = match session_token_from(req.headers()) {
        Some(token) => {
            herald_engine::auth::session(state.store.as_ref(), &token, chrono::Utc::now()).await
        }
        None => Ok(None),
    };
    match session {
        Ok(Some(session)) => {
            tracing::Span::current().record("user", tracing::field::display(session.user.id));
            req.extensions_mut().insert(session);
            next.run(req).await
        }
        Ok(None) if path.starts_with("/fn/") => {
            ApiError::unauthenticated("sign in to the console first").into_response()
        }
        Ok(None) => {
            let target = req
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/");
            let login = if target == "/" {
                "/login".to_string()
            } else {
                format!("/login?next={}", encode_query_value(target))
            };
            Redirect::to(&login).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Percent-encodes a value for a query string, keeping '/' readable (the
/// value is a path).
fn encode_query_value(value: &str) -> String {
    herald_engine::model::query::query_escape(value).replace("%2F", "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_encoded_so_it_survives_the_round_trip() {
        assert_eq!(
            encode_query_value("/events?type=a&x=1"),
            "/events%3Ftype%3Da%26x%3D1"
        );
    }

    #[test]
    fn console_pages_and_functions_are_not_public() {
        for p in ["/", "/events", "/settings", "/fn/list_users", "/fn/logout"] {
            assert!(!is_public(p), "{p}");
        }
        for p in [
            "/login",
            "/fn/login",
            "/healthz",
            "/pkg/herald.wasm",
            "/api/v1/tenant",
        ] {
            assert!(is_public(p), "{p}");
        }
    }
}
