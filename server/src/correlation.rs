//! Correlation ids: accept a caller's `X-Correlation-ID` (when it is sane) or mint
//! one, echo it on the response, and put it on every log line of the request.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::Instrument;

pub const HEADER: &str = "x-correlation-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The correlation id of the request being handled, or "none" outside one.
pub fn current() -> String {
    CURRENT
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "none".into())
}

/// An incoming id is kept only if it is short and made of safe characters, so
/// nobody can inject text into logs or headers through it.
fn acceptable(id: &str) -> bool {
    herald_engine::validate::correlation_id_ok(id)
}

/// The caller's own correlation id (a request extension), when it sent an
/// acceptable one; absent when Herald minted the request's id.
#[derive(Debug, Clone)]
pub struct FromCaller(pub String);

pub async fn layer(mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned);
    if let Some(id) = &given {
        req.extensions_mut().insert(FromCaller(id.clone()));
    }
    let id = given.unwrap_or_else(|| ulid::Ulid::new().to_string());
    let value =
        HeaderValue::from_str(&id).expect("checked or generated ids are valid header values");
    // Downstream code (server functions, the API) reads it from the request too.
    req.headers_mut().insert(HEADER, value.clone());

    // The span carries what every line of the request needs; its method and
    // path are on the request's own closing line (the fmt layer formats a
    // span's fields when the span is made, for every request).
    let span = tracing::info_span!(
        "request",
        correlation_id = %id,
        api_key = tracing::field::Empty,
        user = tracing::field::Empty,
    );
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let mut response = CURRENT
        .scope(id, next.run(req))
        .instrument(span.clone())
        .await;
    response.headers_mut().insert(HEADER, value);
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Successful requests are the bulk of ingest traffic: keep them out of the
    // default log level, and show everything that went wrong.
    span.in_scope(|| match status {
        500.. => tracing::warn!(%method, %path, status, latency_ms, "request failed"),
        400.. => tracing::info!(%method, %path, status, latency_ms, "request refused"),
        _ => tracing::debug!(%method, %path, status, latency_ms, "request finished"),
    });
    response
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_short_safe_ids_are_accepted() {
        assert!(acceptable("req-123_abc.def:9"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable("line\nbreak"));
        assert!(!acceptable(&"x".repeat(129)));
    }
}
