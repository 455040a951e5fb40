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
    use crate::ssr::{console_state, fail, safe_next, session_cookie};
    use herald_engine::auth::{dummy_password_hash, generate_session_token, verify_password_async};

    let state = console_state()?;
    let (user, hash) = match state.store.user_credentials(&email).await? {
        Some(found) => found,
        None => {
            // Spend the same time as a real check so timing does not reveal
            // which emails have accounts.
            verify_password_async(dummy_password_hash().to_string(), password).await;
            tracing::info!(email = %email.trim(), "sign-in refused: unknown email");
            return Err(fail(ConsoleError::InvalidCredentials));
        }
    };
    if !verify_password_async(hash, password).await {
        tracing::info!(user = %user.id, "sign-in refused: wrong password");
        return Err(fail(ConsoleError::InvalidCredentials));
    }

    let (token, digest) = generate_session_token();
    let now = chrono::Utc::now();
    state
        .store
        .create_session(user.id, &digest, now + state.session_ttl)
        .await?;
    state.store.record_login(user.id, now).await?;
    set_cookie(&session_cookie(
        &token,
        state.session_ttl,
        state.secure_cookies,
    ));
    tracing::info!(user = %user.id, role = %user.role, "signed in");
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Ends the current session (in the database and in the browser).
#[server(prefix = "/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), ConsoleError> {
    use crate::ssr::{clear_session_cookie, console_state, session_token_from};
    use herald_engine::auth::token_digest;

    let state = console_state()?;
    if let Some(parts) = use_context::<http::request::Parts>()
        && let Some(token) = session_token_from(&parts.headers)
    {
        state.store.delete_session(&token_digest(&token)).await?;
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
