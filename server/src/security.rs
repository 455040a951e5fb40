//! Browser-facing hardening: security headers on every response, and a
//! same-origin check on every state-changing console request (CSRF).
//!
//! The console's Content-Security-Policy carries a per-response nonce, so it
//! is set where the page is rendered (`herald_app::shell`); this layer gives
//! every other response a deny-all policy.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, header};

use crate::error::ApiError;
use crate::state::AppState;

/// Adds the headers every response carries.
pub async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if state.console.secure_cookies {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// Refuses a state-changing console request (server functions, forms) that a
/// page of another site made: the browser names the page's origin in `Origin`
/// (or at least says `Sec-Fetch-Site`), and it must be this server. The API is
/// exempt: it authenticates with bearer keys, which browsers never attach on
/// their own. So are the probes, which change nothing whatever the method
/// (an undeclared one gets the router's 405 with `Allow`).
pub async fn same_origin(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    let exempt = path.starts_with("/api/") || matches!(path, "/healthz" | "/readyz" | "/metrics");
    if safe || exempt {
        return next.run(req).await;
    }
    match cross_site_reason(req.headers()) {
        None => next.run(req).await,
        Some(reason) => {
            tracing::warn!(path = %req.uri().path(), reason, "cross-site request refused");
            ApiError::forbidden(format!(
                "cross-site request refused: {reason}; console changes must come from Herald's own pages"
            ))
            .into_response()
        }
    }
}

pub(crate) fn cross_site_reason(headers: &http::HeaderMap) -> Option<&'static str> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN) {
        let authority = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest.trim_end_matches('/'));
        return match (authority, host) {
            (Some(a), Some(h)) if a.eq_ignore_ascii_case(h) => None,
            _ => Some("the Origin header names another site"),
        };
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin" | "none") => None,
        Some(_) => Some("Sec-Fetch-Site says the request came from another site"),
        None => Some("the request has neither an Origin nor a Sec-Fetch-Site header"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_this_sites_pages_may_change_things() {
        let ok = [
            headers(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3000"),
            ]),
            headers(&[
                ("host", "herald.example"),
                ("origin", "https://herald.example"),
            ]),
            headers(&[
                ("host", "herald.example"),
                ("sec-fetch-site", "same-origin"),
            ]),
        ];
        for h in ok {
            assert_eq!(cross_site_reason(&h), None, "{h:?}");
        }
        let refused = [
            headers(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://evil.example"),
            ]),
            headers(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3001"),
            ]),
            headers(&[("host", "127.0.0.1:3000"), ("origin", "null")]),
            headers(&[("host", "herald.example"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "herald.example")]),
        ];
        for h in refused {
            assert!(cross_site_reason(&h).is_some(), "{h:?}");
        }
    }
}
