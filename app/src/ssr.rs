//! Server-side plumbing for server functions: the state they reach the engine
//! through, who is calling, and turning failures into statuses.

use std::sync::Arc;

use herald_engine::model::{Permission, UserOut};
use herald_engine::store::{SessionUser, Store};
use http::request::Parts;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use crate::error::ConsoleError;

/// The session cookie: HttpOnly, SameSite=Lax, the whole site.
pub const SESSION_COOKIE: &str = "herald_session";
/// The request header carrying the correlation id (set by the server's middleware).
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// What server functions need from the server, provided through context.
#[derive(Clone)]
pub struct ConsoleState {
    pub engine: herald_engine::service::Engine,
    pub store: Arc<dyn Store>,
    pub session_ttl: chrono::Duration,
    pub secure_cookies: bool,
}

pub fn console_state() -> Result<ConsoleState, ConsoleError> {
    use_context::<ConsoleState>().ok_or_else(|| internal("console state missing from context"))
}

fn request_parts() -> Option<Parts> {
    use_context::<Parts>()
}

pub fn correlation_id() -> String {
    request_parts()
        .and_then(|p| {
            p.headers
                .get(CORRELATION_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "none".into())
}

/// Sets the response status for `err` and hands it back, for `map_err`/`return Err(fail(..))`.
pub fn fail(err: ConsoleError) -> ConsoleError {
    if let Some(options) = use_context::<ResponseOptions>() {
        options.set_status(
            http::StatusCode::from_u16(err.status())
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        );
    }
    err
}

/// Logs an unexpected failure with its cause and correlation id; the caller sees
/// only the id.
pub fn internal(cause: impl std::fmt::Display) -> ConsoleError {
    let correlation_id = correlation_id();
    tracing::error!(%correlation_id, error = %cause, "console server function failed");
    fail(ConsoleError::Internal { correlation_id })
}

impl From<herald_engine::EngineError> for ConsoleError {
    fn from(e: herald_engine::EngineError) -> Self {
        use herald_engine::EngineError as E;
        match e {
            E::Invalid { field, message } | E::TooLarge { field, message } => {
                fail(ConsoleError::Invalid { field, message })
            }
            E::Conflict { message } => fail(ConsoleError::Conflict { message }),
            E::NotFound { what, id } => fail(ConsoleError::NotFound {
                message: format!("{what} '{id}' was not found"),
            }),
            other => internal(other),
        }
    }
}

/// The tenant console users work in. Console users are not yet bound to
/// tenants: they see the default one, which API keys made by `herald api-key
/// create` also belong to unless told otherwise.
pub async fn console_tenant(
    state: &ConsoleState,
) -> Result<herald_engine::model::TenantId, ConsoleError> {
    state
        .store
        .tenant_by_slug(herald_engine::store::DEFAULT_TENANT)
        .await?
        .map(|t| t.id)
        .ok_or_else(|| internal("the default tenant is missing"))
}

/// Parses an id from a form or URL; a malformed one is simply not found.
pub fn parse_id<T: std::str::FromStr>(what: &str, id: &str) -> Result<T, ConsoleError> {
    id.trim().parse().map_err(|_| {
        fail(ConsoleError::NotFound {
            message: format!("{what} '{id}' was not found"),
        })
    })
}

/// Who is acting, as the action log and replay jobs record it.
pub fn user_actor(user: &UserOut) -> herald_engine::store::Actor {
    herald_engine::store::Actor(format!("user {}", user.email))
}

/// A form field's error, with the status set.
pub fn invalid_field(e: crate::forms::FieldError) -> ConsoleError {
    fail(ConsoleError::Invalid {
        field: e.field.into(),
        message: e.message,
    })
}

/// The signed-in user, as resolved from the session cookie by the server's
/// middleware before the request reached Leptos.
pub fn session() -> Option<SessionUser> {
    request_parts().and_then(|p| p.extensions.get::<SessionUser>().cloned())
}

/// The one permission check for console server functions: the same role matrix
/// the REST API's keys are checked against (`herald_engine::model`).
pub fn require(permission: Permission) -> Result<UserOut, ConsoleError> {
    let user = session()
        .ok_or_else(|| fail(ConsoleError::Unauthenticated))?
        .user;
    if user.role.allows(permission) {
        Ok(user)
    } else {
        Err(fail(ConsoleError::Forbidden {
            role: user.role.to_string(),
            permission: permission.to_string(),
        }))
    }
}

/// `Set-Cookie` value that starts a session.
pub fn session_cookie(token: &str, max_age: chrono::Duration, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        max_age.num_seconds(),
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` value that ends a session in the browser.
pub fn clear_session_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The session token from a `Cookie` header, if any.
pub fn session_token_from(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

/// Where to send someone after signing in: only same-site paths, so a crafted
/// `next` cannot bounce them to another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/events?type=a")), "/events?type=a");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn session_token_is_found_among_other_cookies() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            "a=1; herald_session=tok123; b=2".parse().unwrap(),
        );
        assert_eq!(session_token_from(&headers).as_deref(), Some("tok123"));
        headers.insert(http::header::COOKIE, "herald_session=".parse().unwrap());
        assert_eq!(session_token_from(&headers), None);
    }

    #[test]
    fn cookies_are_http_only_and_lax() {
        let c = session_cookie("t", chrono::Duration::hours(1), false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Max-Age=3600"));
        assert!(!c.contains("Secure"));
        assert!(session_cookie("t", chrono::Duration::hours(1), true).ends_with("; Secure"));
    }
}
