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

use crate::model::{ApiKeyOut, Role, Scope, TenantId, UserOut};
use crate::store::{NewApiKey, NewUser, Store};
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
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
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
/// (argon2id) and stores the account. The one way users are made.
pub async fn register_user(
    store: &dyn Store,
    email: &str,
    password: String,
    role: Role,
) -> Result<UserOut> {
    register_user_in(store, email, password, role, None).await
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

/// `register_user` for a user bound to `tenant` (`None`: global).
pub async fn register_user_in(
    store: &dyn Store,
    email: &str,
    password: String,
    role: Role,
    tenant: Option<TenantId>,
) -> Result<UserOut> {
    validate_binding(role, tenant)?;
    if !plausible_email(email) {
        return Err(EngineError::invalid(
            "email",
            format!("'{email}' is not an email address"),
        ));
    }
    validate_password(&password)?;
    let password_hash = hash_password_async(password).await?;
    store
        .create_user(NewUser {
            email: email.to_string(),
            password_hash,
            role,
            tenant_id: tenant,
        })
        .await
}

/// An API key's name, trimmed: 1 to 100 characters.
pub fn validate_key_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(EngineError::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(name)
}

/// Issues an API key for a tenant: the listing, and the key itself, which is
/// shown once and never stored (only its digest is). The one way keys are made.
pub async fn issue_api_key(
    store: &dyn Store,
    tenant: TenantId,
    name: &str,
    scope: Scope,
) -> Result<(ApiKeyOut, String)> {
    let name = validate_key_name(name)?;
    let secret = generate_api_key();
    let listing = store
        .create_api_key(NewApiKey {
            tenant_id: tenant,
            name: name.to_string(),
            display_prefix: secret.display_prefix,
            key_digest: secret.digest,
            scope,
        })
        .await?;
    Ok((listing, secret.key))
}

#[cfg(test)]
mod tests {
    use super::*;

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
