//! Signing in and out. Sessions live in the database; the browser holds only an
//! opaque token in an HttpOnly cookie.

use herald_engine::model::UserOut;
use leptos::prelude::*;

use crate::error::ConsoleError;

/// Checks the credentials, starts a session and redirects to `next` (same-site
/// paths only). A wrong email and a wrong password answer the same.
#[server(prefix = "/fn", endpoint = "login")]
pub async fn login(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), ConsoleError> {
    use crate::ssr::{client_ip, console_state, correlation_id, fail, safe_next, session_cookie};
    use herald_engine::auth::{Lock, SignIn, SignInAttempt, sign_in};
    use herald_engine::limit::retry_after_secs;

    let state = console_state()?;
    let address = client_ip();
    if let Some(ip) = address
        && let Err(wait) = state.login_limiter.check(&ip).await
    {
        return Err(fail(ConsoleError::RateLimited {
            message: "Too many sign-in attempts from your address; wait a moment.".into(),
            retry_after_secs: retry_after_secs(wait),
        }));
    }
    let attempt = SignInAttempt {
        email,
        password,
        client: address.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
        correlation_id: Some(correlation_id()),
        session_ttl: state.session_ttl,
    };
    let now = chrono::Utc::now();
    let policy = herald_engine::store::LockoutPolicy::default();
    match sign_in(state.store.as_ref(), attempt, &policy, now).await? {
        SignIn::Started { token, .. } => set_cookie(&session_cookie(
            &token,
            state.session_ttl,
            state.secure_cookies,
        )),
        SignIn::Refused => return Err(fail(ConsoleError::InvalidCredentials)),
        SignIn::Locked { lock, until } => {
            return Err(fail(ConsoleError::RateLimited {
                message: match lock {
                    Lock::Address => "Too many failed sign-ins to this account from your address; try again later.",
                    Lock::Account => "This account is locked after repeated failed sign-ins; try again later.",
                }
                .into(),
                retry_after_secs: u64::try_from((until - now).num_seconds())
                    .unwrap_or(0)
                    .max(1),
            }));
        }
    }
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Changes the signed-in user's own password. Every session of theirs ends,
/// this one included: they sign in again with the new password.
#[server(prefix = "/fn", endpoint = "change_password")]
pub async fn change_password(current: String, new_password: String) -> Result<(), ConsoleError> {
    use crate::ssr::{clear_session_cookie, console_state, correlation_id, fail, session};

    let state = console_state()?;
    let user = session()
        .ok_or_else(|| fail(ConsoleError::Unauthenticated))?
        .user;
    herald_engine::auth::change_password(
        state.store.as_ref(),
        &user,
        current,
        new_password,
        Some(correlation_id()),
    )
    .await?;
    set_cookie(&clear_session_cookie(state.secure_cookies));
    leptos_axum::redirect("/login");
    Ok(())
}

/// Ends the current session (in the database and in the browser).
#[server(prefix = "/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), ConsoleError> {
    use crate::ssr::{clear_session_cookie, console_state, session_token_from};

    let state = console_state()?;
    if let Some(parts) = use_context::<http::request::Parts>()
        && let Some(token) = session_token_from(&parts.headers)
    {
        herald_engine::auth::sign_out(state.store.as_ref(), &token).await?;
    }
    set_cookie(&clear_session_cookie(state.secure_cookies));
    leptos_axum::redirect("/login");
    Ok(())
}

/// Who is signed in, for the layout.
#[server(prefix = "/fn", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<UserOut>, ConsoleError> {
    Ok(crate::ssr::session().map(|s| s.user))
}

#[cfg(feature = "ssr")]
fn set_cookie(value: &str) {
    if let (Some(options), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(value),
    ) {
        options.append_header(http::header::SET_COOKIE, value);
    }
}
