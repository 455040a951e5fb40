//! Credentials: password hashing (argon2id), API keys and session tokens.
//!
//! API keys and session tokens are 256-bit random values, so a fast SHA-256
//! digest is enough to store them: there is nothing to brute-force. Passwords
//! are chosen by people and get argon2id.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::audit::AuditBy;
use crate::model::{
    ApiKeyId, ApiKeyOut, AuditAction, Permission, Role, Scope, TenantId, TenantOut, UserId,
    UserOut, UserPatch,
};
use chrono::{DateTime, Utc};

use std::sync::Arc;

use crate::store::{ApiKeyAuth, LockoutPolicy, NewApiKey, NewAudit, NewUser, SessionUser, Store};
use crate::{EngineError, Result};

/// Every API key starts with this, so leaked keys are easy to recognise and scan for.
pub const API_KEY_PREFIX: &str = "hrld_";
/// How many characters of a key are kept in clear to tell keys apart in lists.
const DISPLAY_PREFIX_LEN: usize = API_KEY_PREFIX.len() + 8;
pub const MIN_PASSWORD_LEN: usize = 8;

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256 of a secret token; what the store keeps instead of the token.
pub fn token_digest(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// SHA-256 of `data` in lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// A freshly generated API key. `key` is shown to its creator once and never stored.
pub struct NewApiKeySecret {
    pub key: String,
    pub display_prefix: String,
    pub digest: String,
}

pub fn generate_api_key() -> NewApiKeySecret {
    let key = format!("{API_KEY_PREFIX}{}", random_token());
    NewApiKeySecret {
        display_prefix: key[..DISPLAY_PREFIX_LEN].to_string(),
        digest: token_digest(&key),
        key,
    }
}

/// A session token for a cookie, and the digest the store keeps.
pub fn generate_session_token() -> (String, String) {
    let token = random_token();
    let digest = token_digest(&token);
    (token, digest)
}

/// A random password for the first-run admin: 24 characters from a 56-character
/// alphabet without look-alikes (about 139 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    // 256 % 56 != 0, so reject the top values to keep the choice uniform.
    let mut out = String::with_capacity(24);
    let mut buf = [0u8; 1];
    for b in bytes {
        let mut v = b;
        while v as usize >= 256 - 256 % ALPHABET.len() {
            OsRng.fill_bytes(&mut buf);
            v = buf[0];
        }
        out.push(ALPHABET[v as usize % ALPHABET.len()] as char);
    }
    out
}

pub fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(EngineError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters long"),
        ));
    }
    Ok(())
}

/// Argon2id hash in PHC string form. CPU-heavy: call from a blocking thread.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| EngineError::Internal(format!("password hashing failed: {e}")))
}

/// Constant-time check of a password against a stored PHC hash. CPU-heavy.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password nobody knows. Login against an unknown email
/// verifies against it, so both paths cost the same and timing reveals nothing.
pub fn dummy_password_hash() -> &'static str {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&generate_password()).unwrap_or_default())
}

pub async fn hash_password_async(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| EngineError::Internal(format!("hashing task failed: {e}")))?
}

pub async fn verify_password_async(phc: String, password: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&phc, &password))
        .await
        .unwrap_or(false)
}

/// Whether text looks like an email address: something, `@`, something, no spaces.
pub fn plausible_email(s: &str) -> bool {
    matches!(s.split_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty())
        && !s.contains(char::is_whitespace)
}

/// Creates a console user: checks the email and password, hashes the password
/// (argon2id) and stores the account with its audit entry. The one way users
/// are made.
pub async fn register_user(
    store: &dyn Store,
    by: &AuditBy,
    email: &str,
    password: String,
    role: Role,
) -> Result<UserOut> {
    register_user_in(store, by, email, password, role, None).await
}

/// Admins are global; other roles may be global or bound to one tenant.
pub fn validate_binding(role: Role, tenant: Option<TenantId>) -> Result<()> {
    if role == Role::Admin && tenant.is_some() {
        return Err(EngineError::invalid(
            "tenant",
            "admins are global: leave the tenant empty, or choose another role",
        ));
    }
    Ok(())
}

/// How the audit log names a user's tenant binding: `tenant acme` or `global`.
async fn binding_text(store: &dyn Store, tenant: Option<TenantId>) -> Result<String> {
    let Some(tenant) = tenant else {
        return Ok("global".into());
    };
    let slug = store
        .list_tenants()
        .await?
        .into_iter()
        .find(|t| t.id == tenant)
        .map_or_else(|| tenant.to_string(), |t| t.slug);
    Ok(format!("tenant {slug}"))
}

/// `register_user` for a user bound to `tenant` (`None`: global).
pub async fn register_user_in(
    store: &dyn Store,
    by: &AuditBy,
    email: &str,
    password: String,
    role: Role,
    tenant: Option<TenantId>,
) -> Result<UserOut> {
    by.require(Permission::ManageUsers)?;
    validate_binding(role, tenant)?;
    if !plausible_email(email) {
        return Err(EngineError::invalid(
            "email",
            format!("'{email}' is not an email address"),
        ));
    }
    validate_password(&password)?;
    let password_hash = hash_password_async(password).await?;
    let email = crate::store::normalise_email(email);
    let audit = by.entry(
        None,
        AuditAction::UserCreate,
        &email,
        format!(
            "created {role} user {email} ({})",
            binding_text(store, tenant).await?
        ),
    );
    let user = store
        .create_user(
            NewUser {
                email,
                password_hash,
                role,
                tenant_id: tenant,
            },
            &audit,
        )
        .await?;
    crate::audit::logged(&audit);
    Ok(user)
}

/// Gives a user another role and tenant binding; `None` when there is no such
/// user.
pub async fn update_user(
    store: &dyn Store,
    by: &AuditBy,
    id: UserId,
    role: Role,
    tenant: Option<TenantId>,
) -> Result<Option<UserOut>> {
    by.require(Permission::ManageUsers)?;
    validate_binding(role, tenant)?;
    let Some(user) = store.get_user(id).await? else {
        return Ok(None);
    };
    let audit = by.entry(
        None,
        AuditAction::UserUpdate,
        &user.email,
        format!("role {role}, {}", binding_text(store, tenant).await?),
    );
    let patch = UserPatch {
        role: Some(role),
        tenant_id: Some(tenant),
    };
    let updated = store.update_user(id, patch, &audit).await?;
    if updated.is_some() {
        crate::audit::logged(&audit);
    }
    Ok(updated)
}

/// Deletes a user and so ends their sessions; false when there is no such user.
pub async fn delete_user(store: &dyn Store, by: &AuditBy, id: UserId) -> Result<bool> {
    by.require(Permission::ManageUsers)?;
    let Some(user) = store.get_user(id).await? else {
        return Ok(false);
    };
    let audit = by.entry(
        None,
        AuditAction::UserDelete,
        &user.email,
        "deleted the user",
    );
    let deleted = store.delete_user(id, &audit).await?;
    if deleted {
        crate::audit::logged(&audit);
    }
    Ok(deleted)
}

/// Creates a tenant (its slug checked), or answers the existing one with
/// `false`; a new tenant's audit entry commits with it.
pub async fn create_tenant(
    store: &dyn Store,
    by: &AuditBy,
    slug: &str,
    name: &str,
) -> Result<(TenantOut, bool)> {
    by.require(Permission::ManageUsers)?;
    crate::validate::tenant_slug(slug)?;
    let audit = by.entry(
        None,
        AuditAction::TenantCreate,
        slug,
        format!("created tenant '{slug}'"),
    );
    let (tenant, created) = store.create_tenant(slug, name, &audit).await?;
    if created {
        crate::audit::logged(&audit);
    }
    Ok((tenant, created))
}

/// An API key's name, trimmed: 1 to 100 characters.
pub fn validate_key_name(name: &str) -> Result<&str> {
    let name = name.trim_matches(crate::validate::pattern_space);
    if name.is_empty() || name.chars().count() > 100 {
        return Err(EngineError::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(name)
}

/// Issues an API key for a tenant: the listing, and the key itself, which is
/// shown once and never stored (only its digest is). The one way keys are
/// made; the audit entry commits with the key.
pub async fn issue_api_key(
    store: &dyn Store,
    by: &AuditBy,
    tenant: TenantId,
    name: &str,
    scope: Scope,
) -> Result<(ApiKeyOut, String)> {
    issue_bound_api_key(store, by, tenant, name, scope, KeyBinding::default()).await
}

/// What a key is bound to besides its tenant and scope.
#[derive(Debug, Clone, Default)]
pub struct KeyBinding {
    /// The inbox a `consume` key consumes (required then, refused for any
    /// other scope).
    pub endpoint: Option<crate::model::EndpointId>,
    /// The source of the events it publishes that name none.
    pub default_source: Option<String>,
}

/// [`issue_api_key`] for any scope and binding.
pub async fn issue_bound_api_key(
    store: &dyn Store,
    by: &AuditBy,
    tenant: TenantId,
    name: &str,
    scope: Scope,
    binding: KeyBinding,
) -> Result<(ApiKeyOut, String)> {
    by.require(Permission::ManageApiKeys)?;
    let name = validate_key_name(name)?;
    let KeyBinding {
        endpoint,
        default_source,
    } = binding;
    if let Some(source) = &default_source {
        crate::validate::source_name(source)
            .map_err(|m| EngineError::invalid("default_source", m))?;
    }
    match (scope, endpoint) {
        (Scope::Consume, None) => {
            return Err(EngineError::invalid(
                "endpoint_id",
                "a key of scope 'consume' is bound to one inbox: name its endpoint_id",
            ));
        }
        (Scope::Consume, Some(id)) => {
            let inbox = store
                .get_endpoint(tenant, id)
                .await?
                .ok_or_else(|| EngineError::not_found("endpoint", id))?;
            if inbox.kind != crate::model::EndpointKind::Inbox {
                return Err(EngineError::Conflict {
                    message: format!(
                        "endpoint '{id}' is a webhook endpoint; a consume key is bound to an inbox"
                    ),
                });
            }
        }
        (_, Some(_)) => {
            return Err(EngineError::invalid(
                "endpoint_id",
                "only a key of scope 'consume' is bound to an endpoint",
            ));
        }
        (_, None) => {}
    }
    let secret = generate_api_key();
    let id = ApiKeyId::new();
    let audit = by.entry(
        Some(tenant),
        AuditAction::ApiKeyCreate,
        id,
        match endpoint {
            Some(inbox) => format!("created key '{name}' with scope '{scope}' for inbox {inbox}"),
            None => format!("created key '{name}' with scope '{scope}'"),
        },
    );
    let listing = store
        .create_api_key(
            NewApiKey {
                id,
                tenant_id: tenant,
                name: name.to_string(),
                display_prefix: secret.display_prefix,
                key_digest: secret.digest,
                scope,
                endpoint_id: endpoint,
                default_source,
            },
            &audit,
        )
        .await?;
    crate::audit::logged(&audit);
    Ok((listing, secret.key))
}

/// Revokes a live key of the tenant; false when there is none by that id.
pub async fn revoke_api_key(
    store: &dyn Store,
    by: &AuditBy,
    tenant: TenantId,
    id: ApiKeyId,
) -> Result<bool> {
    by.require(Permission::ManageApiKeys)?;
    let audit = by.entry(
        Some(tenant),
        AuditAction::ApiKeyRevoke,
        id,
        "revoked the key",
    );
    let revoked = store.revoke_api_key(tenant, id, &audit).await?;
    if revoked {
        crate::audit::logged(&audit);
    }
    Ok(revoked)
}

/// How often a key's `last_used_at` is written at most: a write per request
/// would cost ingest throughput for no one's benefit.
const TOUCH_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

/// The live API key a request presents (the key itself, not its digest).
pub async fn api_key(store: &dyn Store, key: &str) -> Result<Option<ApiKeyAuth>> {
    store.api_key_by_digest(&token_digest(key)).await
}

/// Notes that a key was used at `now`: at most once a minute, on its own
/// task so the request does not wait for the write.
pub fn note_key_use(store: &Arc<dyn Store>, key: &ApiKeyAuth, now: DateTime<Utc>) {
    if key.last_used_at.is_some_and(|t| now - t <= TOUCH_INTERVAL) {
        return;
    }
    let store = Arc::clone(store);
    let id = key.id;
    // In the request's span, so a failure logs its correlation id.
    tokio::spawn(tracing::Instrument::in_current_span(async move {
        if let Err(e) = store.touch_api_key(id, now).await {
            tracing::warn!(error = %e, key = %id, "could not record API key use");
        }
    }));
}

/// The signed-in user a session cookie's token belongs to, while the session
/// lasts.
pub async fn session(
    store: &dyn Store,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<SessionUser>> {
    store.session_user(&token_digest(token), now).await
}

/// Whether the session whose token has this digest still lasts at `now` (a
/// long-lived connection checks this now and then, holding only the digest).
pub async fn session_lasts(store: &dyn Store, digest: &str, now: DateTime<Utc>) -> Result<bool> {
    Ok(store.session_user(digest, now).await?.is_some())
}

/// Whether the API key with this digest is still live (not revoked).
pub async fn key_lasts(store: &dyn Store, digest: &str) -> Result<bool> {
    Ok(store.api_key_by_digest(digest).await?.is_some())
}

/// A console sign-in attempt.
#[derive(Debug, Clone)]
pub struct SignInAttempt {
    pub email: String,
    pub password: String,
    /// The address it comes from: lockout counts per account and address.
    pub client: String,
    pub correlation_id: Option<String>,
    /// How long the session lasts.
    pub session_ttl: chrono::Duration,
}

/// Which lock turned a sign-in away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// This address failed too often for this account; others may sign in.
    Address,
    /// The account failed too often; addresses with no recent failures may
    /// still sign in.
    Account,
}

/// Where a sign-in attempt ended. Each is in the audit log.
#[derive(Debug)]
pub enum SignIn {
    /// The credentials were right and a session started; `token` is the
    /// session cookie's value (only its digest is stored).
    Started { user: UserOut, token: String },
    /// The email or the password was wrong; the two look the same, timing
    /// included.
    Refused,
    /// A lock is in force: no password was checked.
    Locked { lock: Lock, until: DateTime<Utc> },
}

/// Checks a sign-in against the account and its locks, counts a failure
/// towards the locks, and starts a session on success.
pub async fn sign_in(
    store: &dyn Store,
    attempt: SignInAttempt,
    policy: &LockoutPolicy,
    now: DateTime<Utc>,
) -> Result<SignIn> {
    let attempted: String = attempt.email.trim().chars().take(200).collect();
    let refused = |summary: String| {
        crate::audit::record(
            store,
            NewAudit {
                tenant_id: None,
                actor: attempted.clone(),
                role: "-".into(),
                action: AuditAction::LoginFailure,
                target: attempted.clone(),
                summary,
                correlation_id: attempt.correlation_id.clone(),
            },
        )
    };
    let Some((user, hash)) = store.user_credentials(&attempt.email).await? else {
        // Spend the same time as a real check so timing does not reveal
        // which emails have accounts.
        verify_password_async(dummy_password_hash().to_string(), attempt.password).await;
        tracing::info!(email = %attempted, "sign-in refused: unknown email");
        refused("no account with this email".into()).await;
        return Ok(SignIn::Refused);
    };
    let standing = store
        .client_login_state(user.id, &attempt.client, now, policy)
        .await?;
    if let Some(until) = standing.locked_until {
        refused("this address is locked out of the account after repeated failures".into()).await;
        return Ok(SignIn::Locked {
            lock: Lock::Address,
            until,
        });
    }
    // The whole account is locked only for addresses that failed recently:
    // its owner, signing in from an address with no recent failures, gets in.
    if let Some(until) = user.locked_until.filter(|u| *u > now)
        && standing.recent_failures > 0
    {
        refused("the account is locked after repeated failures".into()).await;
        return Ok(SignIn::Locked {
            lock: Lock::Account,
            until,
        });
    }
    if !verify_password_async(hash, attempt.password).await {
        tracing::info!(user = %user.id, "sign-in refused: wrong password");
        let locks = store
            .record_failed_login(user.id, &attempt.client, now, policy)
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
        return Ok(SignIn::Refused);
    }
    let (token, digest) = generate_session_token();
    store
        .create_session(user.id, &digest, now + attempt.session_ttl)
        .await?;
    store.record_login(user.id, &attempt.client, now).await?;
    tracing::info!(user = %user.id, role = %user.role, "signed in");
    let by = AuditBy::user(&user, attempt.correlation_id);
    crate::audit::record(
        store,
        by.entry(
            user.tenant_id,
            AuditAction::LoginSuccess,
            &user.email,
            "signed in",
        ),
    )
    .await;
    Ok(SignIn::Started { user, token })
}

/// Changes a user's own password after checking the current one. Every
/// session of theirs ends, in the same transaction as the change and its
/// audit entry.
pub async fn change_password(
    store: &dyn Store,
    user: &UserOut,
    current: String,
    new_password: String,
    correlation_id: Option<String>,
) -> Result<()> {
    let (_, hash) = store
        .user_credentials(&user.email)
        .await?
        .ok_or_else(|| EngineError::not_found("user", user.id))?;
    if !verify_password_async(hash, current).await {
        return Err(EngineError::invalid(
            "current",
            "is not your current password",
        ));
    }
    validate_password(&new_password).map_err(|e| match e {
        EngineError::Invalid { message, .. } => EngineError::invalid("new_password", message),
        other => other,
    })?;
    let new_hash = hash_password_async(new_password).await?;
    let audit = AuditBy::user(user, correlation_id).entry(
        None,
        AuditAction::UserPassword,
        &user.email,
        "changed own password; sessions ended",
    );
    if !store.set_password(user.id, &new_hash, &audit).await? {
        return Err(EngineError::not_found("user", user.id));
    }
    crate::audit::logged(&audit);
    Ok(())
}

/// Ends the session a cookie's token names (nothing when there is none).
pub async fn sign_out(store: &dyn Store, token: &str) -> Result<()> {
    store.delete_session(&token_digest(token)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_in_lowercase_hex() {
        // The SHA-256 test vector for "abc" (FIPS 180-2).
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(token_digest("abc"), sha256_hex(b"abc"));
    }

    #[test]
    fn password_hash_is_argon2id_and_verifies() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password(&phc, "correct horse battery"));
        assert!(!verify_password(&phc, "correct horse battery!"));
        assert!(!verify_password("not a hash", "anything"));
    }

    #[test]
    fn api_keys_are_unique_and_stored_only_as_digests() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with(API_KEY_PREFIX));
        assert!(a.key.starts_with(&a.display_prefix));
        assert_eq!(a.digest.len(), 64);
        assert!(!a.digest.contains(&a.key));
        // SHA-256("abc"), from FIPS 180-2.
        assert_eq!(
            token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn emails_need_both_sides_and_no_spaces() {
        assert!(plausible_email("ops@example.com"));
        assert!(!plausible_email("ops@"));
        assert!(!plausible_email("@example.com"));
        assert!(!plausible_email("ops example@com"));
        assert!(!plausible_email("ops.example.com"));
    }

    #[test]
    fn generated_passwords_are_long_and_valid() {
        let p = generate_password();
        assert_eq!(p.chars().count(), 24);
        assert!(validate_password(&p).is_ok());
        assert!(validate_password("short").is_err());
        assert_ne!(p, generate_password());
    }
}
