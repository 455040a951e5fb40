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
    /// Sign-in attempts per client address.
    pub login_limiter: Arc<herald_engine::limit::SharedLimiter<std::net::IpAddr>>,
    /// The REST API's OpenAPI document, for the `/docs` page.
    pub api_doc: &'static serde_json::Value,
}

pub fn console_state() -> Result<ConsoleState, ConsoleError> {
    use_context::<ConsoleState>().ok_or_else(|| internal("console state missing from context"))
}

pub fn request_parts() -> Option<Parts> {
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
        if let ConsoleError::RateLimited {
            retry_after_secs, ..
        } = &err
        {
            options.insert_header(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(*retry_after_secs),
            );
        }
    }
    err
}

/// The signed-in `user`, as the audit log names who made a change.
pub fn by_user(user: &UserOut) -> herald_engine::audit::AuditBy {
    herald_engine::audit::AuditBy::user(user, Some(correlation_id()))
}

/// The client's address, as the server saw the connection.
pub fn client_ip() -> Option<std::net::IpAddr> {
    request_parts().and_then(|p| {
        p.extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
    })
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
            E::Forbidden { who, permission } => fail(ConsoleError::Forbidden {
                role: who,
                permission,
            }),
            E::IdempotencyConflict { .. } => fail(ConsoleError::Conflict {
                message: e.to_string(),
            }),
            E::NotFound { what, id } => fail(ConsoleError::NotFound {
                message: format!("{what} '{id}' was not found"),
            }),
            other => internal(other),
        }
    }
}

/// The cookie in which a global user keeps the tenant they work in.
pub const TENANT_COOKIE: &str = "herald_tenant";

/// The tenant the signed-in user works in: a bound user's own tenant, always;
/// for a global user, the one they chose (the `herald_tenant` cookie) or the
/// default tenant.
pub async fn console_tenant(
    state: &ConsoleState,
) -> Result<herald_engine::model::TenantId, ConsoleError> {
    let user = session()
        .ok_or_else(|| fail(ConsoleError::Unauthenticated))?
        .user;
    let headers = request_parts().map(|p| p.headers).unwrap_or_default();
    Ok(tenant_for(state.store.as_ref(), &user, &headers).await?)
}

/// `console_tenant` for a user and request headers (the live feed uses it too).
pub async fn tenant_for(
    store: &dyn Store,
    user: &UserOut,
    headers: &http::HeaderMap,
) -> Result<herald_engine::model::TenantId, herald_engine::EngineError> {
    if let Some(tenant) = user.tenant_id {
        return Ok(tenant);
    }
    if let Some(slug) = cookie_from(headers, TENANT_COOKIE)
        && let Some(tenant) = store.tenant_by_slug(&slug).await?
    {
        return Ok(tenant.id);
    }
    store
        .tenant_by_slug(herald_engine::store::DEFAULT_TENANT)
        .await?
        .map(|t| t.id)
        .ok_or_else(|| herald_engine::EngineError::Internal("the default tenant is missing".into()))
}

/// Gives this page a script nonce and sends the Content-Security-Policy that
/// allows exactly the scripts carrying it (Leptos's hydration and streaming
/// scripts), the site's own module script, and WebAssembly compilation.
pub fn content_security_policy() {
    use leptos::nonce::{provide_nonce, use_nonce};
    if use_nonce().is_none() {
        provide_nonce();
    }
    let (Some(nonce), Some(options)) = (use_nonce(), use_context::<ResponseOptions>()) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        options.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
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

/// The reason the console always asks for (recorded in the audit log):
/// refused when blank.
pub fn require_reason(reason: &str) -> Result<(), ConsoleError> {
    if reason.trim().is_empty() {
        return Err(fail(ConsoleError::Invalid {
            field: "reason".into(),
            message: "say why (it is recorded)".into(),
        }));
    }
    Ok(())
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

/// What a server function works with once the signed-in user may do what it
/// does: the user, the console's state and the tenant they work in.
pub struct Call {
    pub user: UserOut,
    pub state: ConsoleState,
    pub tenant: herald_engine::model::TenantId,
}

/// Opens a server function that needs `permission` in the working tenant: the
/// session's user (401 without one, 403 when their role lacks it), the state
/// and the tenant.
pub async fn open(permission: Permission) -> Result<Call, ConsoleError> {
    let user = require(permission)?;
    let state = console_state()?;
    let tenant = console_tenant(&state).await?;
    Ok(Call {
        user,
        state,
        tenant,
    })
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
    cookie_from(headers, SESSION_COOKIE)
}

/// A cookie's value from the `Cookie` headers, if set and not empty.
pub fn cookie_from(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

/// Where to send someone after signing in: only same-site paths, so a crafted
/// `next` cannot bounce them to another site. Browsers drop tabs and newlines
/// from URLs and read `\` as `/`, so `/<TAB>/evil.example` would become
/// `//evil.example`: only visible ASCII is accepted (anything else must be
/// percent-encoded), no backslash anywhere, and no `//` at the start.
/// The result is always a valid header value.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && n.len() <= 2_048
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
                && !n.starts_with("//") =>
        {
            n.to_string()
        }
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
        // Characters a browser strips or a header cannot carry.
        for sneaky in [
            "/\t/evil.example/",
            "/\n/evil.example",
            "/\r/evil.example",
            "/\x0b/x",
            "/\x0c/x",
            "/\x00/x",
            "/\x7f/x",
            "/ /evil.example",
            "/\u{3000}/evil.example",
            "/\\/evil.example",
        ] {
            assert_eq!(safe_next(Some(sneaky)), "/", "{sneaky:?}");
        }
        assert_eq!(
            safe_next(Some("/events?type=order.%2A&x=%09")),
            "/events?type=order.%2A&x=%09"
        );
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
