//! Checking what callers send before anything is stored: one implementation for
//! the REST API and the console's server functions. Errors name the field.

use sha2::{Digest, Sha256};

use crate::dispatch::RESERVED_HEADERS;
use crate::model::event_type::{validate_event_type, validate_pattern};
use crate::model::{EndpointIn, EventIn};
use crate::sign::Secret;
use crate::store::{NewEndpoint, NewEvent};
use crate::{EngineError, Result};

pub const DEFAULT_TIMEOUT_MS: u32 = 15_000;
pub const MAX_TIMEOUT_MS: u32 = 60_000;
const MAX_PATTERNS: usize = 50;
const MAX_HEADERS: usize = 20;
const MAX_KEY_LEN: usize = 255;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> EngineError {
    EngineError::invalid(field, message)
}

/// Checks a new endpoint; generates its secret unless one is supplied.
pub fn endpoint(input: EndpointIn) -> Result<NewEndpoint> {
    let url = url::Url::parse(input.url.trim()).map_err(|e| {
        invalid(
            "url",
            format!(
                "'{}' is not a URL ({e})",
                input.url.chars().take(100).collect::<String>()
            ),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "url",
            "must be an http:// or https:// URL with a host",
        ));
    }
    if url.as_str().len() > 2_048 {
        return Err(invalid("url", "at most 2048 characters"));
    }
    if input.event_types.is_empty() || input.event_types.len() > MAX_PATTERNS {
        return Err(invalid(
            "event_types",
            format!(
                "list 1 to {MAX_PATTERNS} patterns, such as [\"order.*\"] or [\"*\"] for everything"
            ),
        ));
    }
    for (i, pattern) in input.event_types.iter().enumerate() {
        validate_pattern(pattern).map_err(|m| invalid(format!("event_types[{i}]"), m))?;
    }
    if input.headers.len() > MAX_HEADERS {
        return Err(invalid("headers", format!("at most {MAX_HEADERS}")));
    }
    for (name, value) in &input.headers {
        let lower = name.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(
                "headers",
                format!("'{name}' is not a valid header name"),
            ));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("herald-") {
            return Err(invalid(
                "headers",
                format!("'{name}' is set by Herald and cannot be overridden"),
            ));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(invalid(
                "headers",
                format!("the value of '{name}' is not a valid header value"),
            ));
        }
    }
    if input.description.chars().count() > 500 {
        return Err(invalid("description", "at most 500 characters"));
    }
    let retry_policy = input.retry_policy.unwrap_or_default();
    retry_policy
        .validate()
        .map_err(|m| invalid("retry_policy", m))?;
    let timeout_ms = input.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(invalid(
            "timeout_ms",
            format!("must be from 1 to {MAX_TIMEOUT_MS}"),
        ));
    }
    let secret = match input.secret {
        Some(text) => Secret::parse(&text).map_err(|e| invalid("secret", e.to_string()))?,
        None => Secret::generate(),
    };
    Ok(NewEndpoint {
        url: url.to_string(),
        description: input.description,
        event_types: input.event_types,
        headers: input.headers,
        semantics: input.semantics,
        retry_policy,
        timeout_ms,
        secret,
    })
}

/// Checks an event and turns it into what the store takes. `at` prefixes field
/// names (`events[3].`) for batches; `header_key` is an `Idempotency-Key` header.
pub fn event(
    input: EventIn,
    header_key: Option<&str>,
    at: &str,
    max_payload: usize,
) -> Result<NewEvent> {
    let field = |name: &str| format!("{at}{name}");
    validate_event_type(&input.event_type).map_err(|m| invalid(field("event_type"), m))?;
    if !input.payload.is_object() {
        return Err(invalid(field("payload"), "must be a JSON object"));
    }
    // serde_json keeps object keys sorted, so this text is canonical: equal
    // payloads give equal bytes, signatures and digests.
    let payload = input.payload.to_string();
    if payload.len() > max_payload {
        return Err(EngineError::TooLarge {
            field: field("payload"),
            message: format!(
                "{} bytes is more than the limit of {max_payload}",
                payload.len()
            ),
        });
    }
    if input.metadata.as_ref().is_some_and(|m| !m.is_object()) {
        return Err(invalid(field("metadata"), "must be a JSON object"));
    }
    let idempotency_key = match (input.idempotency_key, header_key) {
        (Some(body), Some(header)) if body != header => {
            return Err(invalid(
                field("idempotency_key"),
                "differs from the Idempotency-Key header; send one or make them equal",
            ));
        }
        (Some(key), _) => Some(key),
        (None, header) => header.map(str::to_owned),
    };
    for (name, value) in [
        ("idempotency_key", &idempotency_key),
        ("correlation_id", &input.correlation_id),
        ("entity_id", &input.entity_id),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| v.is_empty() || v.len() > MAX_KEY_LEN)
        {
            return Err(invalid(
                field(name),
                format!("must be 1 to {MAX_KEY_LEN} characters"),
            ));
        }
    }
    Ok(NewEvent {
        event_type: input.event_type,
        payload_sha256: format!("{:x}", Sha256::digest(payload.as_bytes())),
        payload,
        idempotency_key,
        correlation_id: input.correlation_id,
        entity_id: input.entity_id,
        metadata: input.metadata,
        only_endpoint: None,
    })
}
