//! Standard Webhooks signing.
//!
//! Every request carries `webhook-id`, `webhook-timestamp` (unix seconds) and
//! `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`, one per live secret, so receivers keep verifying
//! while a secret is rotated.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";
const MIN_SECRET_BYTES: usize = 24;
const MAX_SECRET_BYTES: usize = 64;
/// `Secret::parse`'s rule as a regular expression, for the OpenAPI document:
/// `whsec_` and the canonical standard base64 (padded, no stray bits) of 24
/// to 64 bytes. 3k bytes are k groups of four characters; 3k+1 end in `xY==`
/// and 3k+2 in `xyZ=`, where Y and Z may only be characters whose unused low
/// bits are zero.
pub const SECRET_PATTERN: &str = "^whsec_(?:(?:[A-Za-z0-9+/]{4}){8,21}(?:[A-Za-z0-9+/][AQgw]==)?|(?:[A-Za-z0-9+/]{4}){8,20}[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)$";
/// What `Secret::generate` makes: 32 bytes, 256 bits.
const GENERATED_SECRET_BYTES: usize = 32;

/// An endpoint's signing secret. Deliberately not `Serialize`: it leaves the
/// server only when it is created or rotated, through an explicit call.
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
    /// HMAC-SHA256 with the key already absorbed (its inner and outer pads
    /// hashed once, when the secret is made): each signature then starts from
    /// a copy instead of hashing the pads again, two of the six SHA-256
    /// blocks a typical delivery's signature costs.
    keyed: Hmac<Sha256>,
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Secret {}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a signing secret starts with '{SECRET_PREFIX}'")]
    MissingPrefix,
    #[error("the part after '{SECRET_PREFIX}' is not valid base64")]
    NotBase64,
    #[error(
        "a signing secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes; this one holds {0}"
    )]
    WrongLength(usize),
}

impl Secret {
    pub fn generate() -> Self {
        let mut key = vec![0u8; GENERATED_SECRET_BYTES];
        OsRng.fill_bytes(&mut key);
        Self::from_key(key)
    }

    fn from_key(key: Vec<u8>) -> Self {
        let keyed = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
        Self { key, keyed }
    }

    /// Parses `whsec_<base64 of 24 to 64 bytes>`.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
            return Err(SecretError::WrongLength(key.len()));
        }
        Ok(Self::from_key(key))
    }

    /// The `whsec_…` text form, for showing once and for storing.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.key))
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mac = self.message_mac(webhook_id, &timestamp.to_string(), body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }

    /// The HMAC of `{webhook_id}.{timestamp}.{body}`, before it is finalised.
    fn message_mac(&self, webhook_id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(webhook_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The prefix of an acknowledgement token (`herald-ack-token`).
pub const ACK_TOKEN_PREFIX: &str = "ack_";
/// What an acknowledgement token is an HMAC of, before the `webhook-id`: a
/// message no Standard Webhooks signature can have (its id would have to be
/// this text, and ids are Herald's own `dlv_…`).
const ACK_TOKEN_DOMAIN: &[u8] = b"herald-ack-token.";

impl Secret {
    /// The acknowledgement token of one delivery: `ack_` and the URL-safe
    /// base64 of HMAC-SHA256 of `herald-ack-token.{webhook_id}` under this
    /// secret. Sent with every attempt at an effectively-once endpoint, so a
    /// receiver can acknowledge without computing a signature.
    pub fn ack_token(&self, webhook_id: &str) -> String {
        format!(
            "{ACK_TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.ack_mac(webhook_id).finalize().into_bytes())
        )
    }

    /// The HMAC of an acknowledgement token, before it is finalised.
    fn ack_mac(&self, webhook_id: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(ACK_TOKEN_DOMAIN);
        mac.update(webhook_id.as_bytes());
        mac
    }

    /// Whether `token` is this secret's acknowledgement token for
    /// `webhook_id` (compared in constant time).
    fn ack_token_matches(&self, webhook_id: &str, token: &str) -> bool {
        let Some(tag) = token
            .strip_prefix(ACK_TOKEN_PREFIX)
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
        else {
            return false;
        };
        self.ack_mac(webhook_id).verify_slice(&tag).is_ok()
    }

    /// Whether `signature` (the base64 part of a `v1,` signature) signs the
    /// message under this secret (compared in constant time).
    fn signs(&self, webhook_id: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
        let Ok(tag) = BASE64.decode(signature) else {
            return false;
        };
        self.message_mac(webhook_id, timestamp, body)
            .verify_slice(&tag)
            .is_ok()
    }
}

/// Whether a `webhook-signature` header (space-separated `v1,…` entries)
/// holds a signature of `{webhook_id}.{timestamp}.{body}` by any of
/// `secrets`: how a receiver's acknowledgement is verified, exactly as a
/// receiver verifies Herald's requests.
pub fn signature_verifies(
    secrets: &[Secret],
    webhook_id: &str,
    timestamp: &str,
    body: &[u8],
    header: &str,
) -> bool {
    header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .take(MAX_SIGNATURES)
        .any(|sig| {
            secrets
                .iter()
                .any(|s| s.signs(webhook_id, timestamp, body, sig))
        })
}

/// The most signatures of one header that are tried.
const MAX_SIGNATURES: usize = 8;

/// Whether `token` is the acknowledgement token of `webhook_id` under any of
/// `secrets` (the current one or one still in its grace period).
pub fn ack_token_verifies(secrets: &[Secret], webhook_id: &str, token: &str) -> bool {
    secrets
        .iter()
        .any(|s| s.ack_token_matches(webhook_id, token))
}

/// The `webhook-signature` header value: one signature per secret, space-separated.
pub fn signature_header(
    secrets: &[Secret],
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(webhook_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from the Standard Webhooks specification's reference tests.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn an_acknowledgement_verifies_under_any_live_secret_and_nothing_else() {
        let (current, old, other) = (Secret::generate(), Secret::generate(), Secret::generate());
        let live = [current.clone(), old.clone()];
        let signature = old.sign("dlv_1", 1_700_000_000, b"{}");
        let header = format!("v1,bm9wZQ== {signature}");
        assert!(signature_verifies(
            &live,
            "dlv_1",
            "1700000000",
            b"{}",
            &header
        ));
        assert!(!signature_verifies(
            &live,
            "dlv_2",
            "1700000000",
            b"{}",
            &header
        ));
        assert!(!signature_verifies(
            &live,
            "dlv_1",
            "1700000001",
            b"{}",
            &header
        ));
        assert!(!signature_verifies(
            &live,
            "dlv_1",
            "1700000000",
            b"{ }",
            &header
        ));
        assert!(!signature_verifies(
            std::slice::from_ref(&other),
            "dlv_1",
            "1700000000",
            b"{}",
            &header
        ));
        assert!(!signature_verifies(
            &live,
            "dlv_1",
            "1700000000",
            b"{}",
            "v1,not base64!"
        ));

        let token = current.ack_token("dlv_1");
        assert!(token.starts_with(ACK_TOKEN_PREFIX));
        assert!(ack_token_verifies(&live, "dlv_1", &token));
        assert!(!ack_token_verifies(&live, "dlv_2", &token));
        assert!(!ack_token_verifies(&[other], "dlv_1", &token));
        assert!(!ack_token_verifies(
            &live,
            "dlv_1",
            &token[..token.len() - 1]
        ));
        assert!(!ack_token_verifies(&live, "dlv_1", "dlv_1"));
        // A token is not a signature of anything a receiver is sent.
        assert_ne!(token, current.sign("dlv_1", 0, b""));
    }

    #[test]
    fn signs_the_specification_example() {
        let secret = Secret::parse(SPEC_SECRET).unwrap();
        assert_eq!(
            secret.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        assert_eq!(secret.expose(), SPEC_SECRET);
    }

    #[test]
    fn any_change_to_id_timestamp_or_body_changes_the_signature() {
        let secret = Secret::parse(SPEC_SECRET).unwrap();
        assert_ne!(
            secret.sign("msg_other", SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        assert_ne!(
            secret.sign(SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY),
            SPEC_SIGNATURE
        );
        assert_ne!(
            secret.sign(SPEC_ID, SPEC_TIMESTAMP, br#"{"test": 2432232315}"#),
            SPEC_SIGNATURE
        );
    }

    #[test]
    fn during_rotation_both_signatures_are_sent() {
        let old = Secret::parse(SPEC_SECRET).unwrap();
        let new = Secret::generate();
        let header = signature_header(&[new.clone(), old], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], new.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY));
        assert_eq!(parts[1], SPEC_SIGNATURE);
    }

    #[test]
    fn generated_secrets_are_fresh_and_parse_back() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_ne!(a, b);
        assert_eq!(Secret::parse(&a.expose()).unwrap(), a);
        assert!(a.expose().starts_with(SECRET_PREFIX));
        assert_eq!(format!("{a:?}"), "Secret(redacted)");
    }

    #[test]
    fn malformed_secrets_are_refused_with_a_reason() {
        assert_eq!(
            Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::MissingPrefix)
        );
        assert_eq!(Secret::parse("whsec_!!!"), Err(SecretError::NotBase64));
        assert_eq!(
            Secret::parse(&format!("whsec_{}", BASE64.encode([0u8; 16]))),
            Err(SecretError::WrongLength(16))
        );
        assert_eq!(
            Secret::parse(&format!("whsec_{}", BASE64.encode([0u8; 65]))),
            Err(SecretError::WrongLength(65))
        );
        assert!(Secret::parse(&format!("whsec_{}", BASE64.encode([7u8; 64]))).is_ok());
    }
}
