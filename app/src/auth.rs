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
    use crate::ssr::{audit, client_ip, console_state, fail, safe_next, session_cookie};
    use herald_engine::auth::{dummy_password_hash, generate_session_token, verify_password_async};
    use herald_engine::limit::retry_after_secs;

    let state = console_state()?;
    let address = client_ip();
    // Lockout is counted per account and address.
    let client = address.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let policy = herald_engine::store::LockoutPolicy::default();
    if let Some(ip) = address
        && let Err(wait) = state.login_limiter.check(&ip)
    {
        return Err(fail(ConsoleError::RateLimited {
            message: "Too many sign-in attempts from your address; wait a moment.".into(),
            retry_after_secs: retry_after_secs(wait),
        }));
    }
    let attempted: String = email.trim().chars().take(200).collect();
    let refused = |summary: String| {
        audit(
            None,
            attempted.clone(),
            "-".into(),
            herald_engine::model::AuditAction::LoginFailure,
            attempted.clone(),
            summary,
        )
    };
    let Some((user, hash)) = state.store.user_credentials(&email).await? else {
        // Spend the same time as a real check so timing does not reveal
        // which emails have accounts.
        verify_password_async(dummy_password_hash().to_string(), password).await;
        tracing::info!(email = %attempted, "sign-in refused: unknown email");
        refused("no account with this email".into()).await;
        return Err(fail(ConsoleError::InvalidCredentials));
    };
    let now = chrono::Utc::now();
    let locked = |until: chrono::DateTime<chrono::Utc>, message: &str| {
        fail(ConsoleError::RateLimited {
            message: message.into(),
            retry_after_secs: u64::try_from((until - now).num_seconds())
                .unwrap_or(0)
                .max(1),
        })
    };
    // This address failed too often for this account: it waits, whoever else
    // may still sign in.
    let standing = state
        .store
        .client_login_state(user.id, &client, now, &policy)
        .await?;
    if let Some(until) = standing.locked_until {
        refused("this address is locked out of the account after repeated failures".into()).await;
        return Err(locked(
            until,
            "Too many failed sign-ins to this account from your address; try again later.",
        ));
    }
    // The whole account is locked only for addresses that failed recently:
    // its owner, signing in from an address with no recent failures, gets in.
    if let Some(until) = user.locked_until.filter(|u| *u > now)
        && standing.recent_failures > 0
    {
        refused("the account is locked after repeated failures".into()).await;
        return Err(locked(
            until,
            "This account is locked after repeated failed sign-ins; try again later.",
        ));
    }
    if !verify_password_async(hash, password).await {
        tracing::info!(user = %user.id, "sign-in refused: wrong password");
        let locks = state
            .store
            .record_failed_login(user.id, &client, now, &policy)
            .await?;
        let mut summary = String::from("wrong password");
        if let Some(until) = locks.client_locked_until {
            summary.push_str(&format!(
                "; this address is locked out until {}",
                until.to_rfc3339()
            ));
        }
        if let Some(until) = locks.account_locked_until {
            summary.push_str(&format!(
                "; the account is locked until {} for addresses with recent failures",
                until.to_rfc3339()
            ));
        }
        refused(summary).await;
        return Err(fail(ConsoleError::InvalidCredentials));
    }

    let (token, digest) = generate_session_token();
    state
        .store
        .create_session(user.id, &digest, now + state.session_ttl)
        .await?;
    state.store.record_login(user.id, &client, now).await?;
    set_cookie(&session_cookie(
        &token,
        state.session_ttl,
        state.secure_cookies,
    ));
    tracing::info!(user = %user.id, role = %user.role, "signed in");
    audit(
        user.tenant_id,
        crate::ssr::user_actor(&user).0,
        user.role.to_string(),
        herald_engine::model::AuditAction::LoginSuccess,
        &user.email,
        "signed in",
    )
    .await;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Changes the signed-in user's own password. Every session of theirs ends,
/// this one included: they sign in again with the new password.
#[server(prefix = "/fn", endpoint = "change_password")]
pub async fn change_password(current: String, new_password: String) -> Result<(), ConsoleError> {
    use crate::ssr::{audit_by, clear_session_cookie, console_state, fail, session};
    use herald_engine::auth::{hash_password_async, validate_password, verify_password_async};

    let state = console_state()?;
    let user = session()
        .ok_or_else(|| fail(ConsoleError::Unauthenticated))?
        .user;
    let (_, hash) = state
        .store
        .user_credentials(&user.email)
        .await?
        .ok_or_else(|| fail(ConsoleError::Unauthenticated))?;
    if !verify_password_async(hash, current).await {
        return Err(fail(ConsoleError::Invalid {
            field: "current".into(),
            message: "is not your current password".into(),
        }));
    }
    validate_password(&new_password).map_err(|e| {
        fail(ConsoleError::Invalid {
            field: "new_password".into(),
            message: e.to_string().trim_start_matches("password: ").to_string(),
        })
    })?;
    let new_hash = hash_password_async(new_password).await?;
    state.store.set_password(user.id, &new_hash).await?;
    audit_by(
        &user,
        None,
        herald_engine::model::AuditAction::UserPassword,
        &user.email,
        "changed own password; sessions ended",
    )
    .await;
    set_cookie(&clear_session_cookie(state.secure_cookies));
    leptos_axum::redirect("/login");
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
