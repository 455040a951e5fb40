//! Checking what callers send before anything is stored: one implementation for
//! the REST API and the console's server functions. Errors name the field.

use std::collections::BTreeMap;

use crate::dispatch::RESERVED_HEADERS;
use crate::model::event_type::{validate_event_type, validate_pattern};
use crate::model::{EndpointIn, EndpointKind, EndpointPatch, EventIn, OrderingMode, Semantics};
use crate::retry::RetryPolicy;
use crate::sign::Secret;
use crate::store::{NewEndpoint, NewEvent};
use crate::{EngineError, Result};

pub const DEFAULT_TIMEOUT_MS: u32 = 15_000;
pub const MAX_TIMEOUT_MS: u32 = 60_000;
/// How long an effectively-once endpoint waits for an acknowledgement by
/// default, and the bounds of what it may set (seconds).
pub const DEFAULT_ACK_TIMEOUT_SECS: u32 = 300;
pub const ACK_TIMEOUT_SECS: std::ops::RangeInclusive<u32> = 5..=604_800;
const MAX_PATTERNS: usize = 50;
const MAX_HEADERS: usize = 20;
const MAX_KEY_LEN: usize = 255;

/// A correlation id travels as the `X-Correlation-ID` header and into log lines:
/// 1 to 128 of A-Z, a-z, 0-9 and `-_.:`. The same rule applies to the header
/// on API requests and to an event's `correlation_id`.
pub fn correlation_id_ok(id: &str) -> bool {
    (1..=MAX_CORRELATION_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub const MAX_CORRELATION_LEN: usize = 128;

/// Whether text can be sent as a header value as it is.
pub fn is_header_safe(value: &str) -> bool {
    http::header::HeaderValue::from_str(value).is_ok()
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> EngineError {
    EngineError::invalid(field, message)
}

/// The syntax of an endpoint URL, as a regular expression that JSON Schema
/// (the OpenAPI document), Python and Rust read alike:
/// `http(s)://[userinfo@]host[:port][/path][?query]` in ASCII, where the host
/// is a name whose last label does not start with a digit, a dotted-quad IPv4
/// address or a bracketed IPv6 address, and the port is 0 to 65535. No
/// fragment, spaces, backslashes or other forms the URL standard repairs
/// (`http:host`, `http://2130706433`): what is stored is what was meant.
pub fn endpoint_url_pattern() -> &'static str {
    static PATTERN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let h16 = "[0-9A-Fa-f]{1,4}";
        let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
        let ipv4 = format!("{octet}(?:\\.{octet}){{3}}");
        let ls32 = format!("(?:{h16}:{h16}|{ipv4})");
        // RFC 3986's nine forms of IPv6address.
        let head = |n: usize| format!("(?:(?:{h16}:){{0,{n}}}{h16})?");
        let ipv6 = [
            format!("(?:{h16}:){{6}}{ls32}"),
            format!("::(?:{h16}:){{5}}{ls32}"),
            format!("(?:{h16})?::(?:{h16}:){{4}}{ls32}"),
            format!("{}::(?:{h16}:){{3}}{ls32}", head(1)),
            format!("{}::(?:{h16}:){{2}}{ls32}", head(2)),
            format!("{}::{h16}:{ls32}", head(3)),
            format!("{}::{ls32}", head(4)),
            format!("{}::{h16}", head(5)),
            format!("{}::", head(6)),
        ]
        .join("|");
        let name = "(?:[A-Za-z0-9_-]+\\.)*[A-Za-z_-][A-Za-z0-9_-]*";
        let port =
            "(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";
        let userinfo = "[A-Za-z0-9._~!$&'()*+,;=:%-]*@";
        let path = "/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*";
        let query = "\\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*";
        format!(
            "^[hH][tT][tT][pP][sS]?://(?:{userinfo})?(?:{name}|{ipv4}|\\[(?:{ipv6})\\])(?::{port})?(?:{path})?(?:{query})?$"
        )
    });
    &PATTERN
}

fn endpoint_url(raw: &str) -> Result<String> {
    static SYNTAX: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(endpoint_url_pattern()).expect("the endpoint URL pattern compiles")
    });
    if !SYNTAX.is_match(raw) {
        return Err(invalid(
            "url",
            format!(
                "'{}' is not an endpoint URL: use http(s)://host[:port][/path][?query] in ASCII \
                 (no spaces, fragment or backslashes; a non-ASCII host in its xn-- form)",
                raw.chars().take(100).collect::<String>()
            ),
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| {
        invalid(
            "url",
            format!(
                "'{}' is not a URL ({e})",
                raw.chars().take(100).collect::<String>()
            ),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "url",
            "must be an http:// or https:// URL with a host",
        ));
    }
    if raw.len() > 2_048 {
        return Err(invalid("url", "at most 2048 characters"));
    }
    Ok(url.to_string())
}

fn patterns(event_types: &[String]) -> Result<()> {
    if event_types.is_empty() || event_types.len() > MAX_PATTERNS {
        return Err(invalid(
            "event_types",
            format!(
                "list 1 to {MAX_PATTERNS} patterns, such as [\"order.*\"] or [\"*\"] for everything"
            ),
        ));
    }
    for (i, pattern) in event_types.iter().enumerate() {
        validate_pattern(pattern).map_err(|m| invalid(format!("event_types[{i}]"), m))?;
    }
    Ok(())
}

/// Headers that govern the connection or the body's framing and encoding: set
/// by an endpoint, they would change what the receiver reads (a
/// `Transfer-Encoding: chunked` empties a non-chunked body), so they are Herald's.
const FRAMING_HEADERS: [&str; 7] = [
    "connection",
    "content-encoding",
    "expect",
    "keep-alive",
    "te",
    "transfer-encoding",
    "upgrade",
];
/// What a custom header's name may be: an HTTP token...
pub const HEADER_NAME_PATTERN: &str = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
/// ...and its value: visible ASCII, spaces and tabs.
pub const HEADER_VALUE_PATTERN: &str = "^[\t -~]*$";

/// The names `headers` refuses whatever their case, as one regular expression
/// for the OpenAPI document: the framing headers, the ones Herald sets, and
/// the `proxy-` and `herald-` families.
pub fn reserved_header_pattern() -> String {
    let any_case = |name: &str| -> String {
        name.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let names = FRAMING_HEADERS
        .iter()
        .chain(RESERVED_HEADERS.iter())
        .map(|name| any_case(name))
        .chain(["proxy-", "herald-"].map(|prefix| format!("{}.*", any_case(prefix))));
    format!("^(?:{})$", names.collect::<Vec<_>>().join("|"))
}

/// How many custom headers an endpoint may have.
pub const MAX_CUSTOM_HEADERS: usize = MAX_HEADERS;

/// The longest custom header value, and all of an endpoint's values together.
pub const MAX_HEADER_VALUE_BYTES: usize = 4 * 1024;
pub const MAX_HEADERS_TOTAL_BYTES: usize = 16 * 1024;

fn headers(headers: &BTreeMap<String, String>) -> Result<()> {
    if headers.len() > MAX_HEADERS {
        return Err(invalid("headers", format!("at most {MAX_HEADERS}")));
    }
    let total: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if total > MAX_HEADERS_TOTAL_BYTES {
        return Err(invalid(
            "headers",
            format!(
                "names and values come to {total} bytes; at most {MAX_HEADERS_TOTAL_BYTES} in all"
            ),
        ));
    }
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if FRAMING_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            return Err(invalid(
                "headers",
                format!(
                    "'{name}' governs the connection or the body's framing; Herald sets \
                     those itself"
                ),
            ));
        }
        if value.len() > MAX_HEADER_VALUE_BYTES {
            return Err(invalid(
                "headers",
                format!("the value of '{name}' is longer than {MAX_HEADER_VALUE_BYTES} bytes"),
            ));
        }
        if http::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
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
        // Visible ASCII, spaces and tabs (`HEADER_VALUE_PATTERN`): `HeaderValue`
        // would also take the bytes of other characters.
        if !value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            return Err(invalid(
                "headers",
                format!("the value of '{name}' is not a valid header value"),
            ));
        }
    }
    Ok(())
}

/// An endpoint's name: at most 100 characters, no control characters.
fn endpoint_name(text: &str) -> Result<()> {
    if text.chars().count() > 100 {
        return Err(invalid("name", "at most 100 characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            "no control characters (such as line breaks)",
        ));
    }
    Ok(())
}

fn description(text: &str) -> Result<()> {
    if text.chars().count() > 500 {
        return Err(invalid("description", "at most 500 characters"));
    }
    Ok(())
}

fn timeout(ms: u32) -> Result<()> {
    if !(1..=MAX_TIMEOUT_MS).contains(&ms) {
        return Err(invalid(
            "timeout_ms",
            format!("must be from 1 to {MAX_TIMEOUT_MS}"),
        ));
    }
    Ok(())
}

fn breaker(settings: &crate::model::BreakerSettings) -> Result<()> {
    settings
        .validate()
        .map_err(|(field, message)| invalid(field, message))
}

fn ack_timeout(secs: u32) -> Result<()> {
    if !ACK_TIMEOUT_SECS.contains(&secs) {
        return Err(invalid(
            "ack_timeout_secs",
            format!(
                "must be from {} to {} seconds",
                ACK_TIMEOUT_SECS.start(),
                ACK_TIMEOUT_SECS.end()
            ),
        ));
    }
    Ok(())
}

fn policy(policy: &RetryPolicy) -> Result<()> {
    policy.validate().map_err(|m| invalid("retry_policy", m))
}

/// The most requests in flight one endpoint may be given.
pub const MAX_IN_FLIGHT: u32 = 256;

fn rate_limit(limit: &crate::model::RateLimit) -> Result<()> {
    if (1..=crate::model::MAX_RATE_LIMIT).contains(&limit.limit) {
        Ok(())
    } else {
        Err(invalid(
            "rate_limit.limit",
            format!("must be from 1 to {}", crate::model::MAX_RATE_LIMIT),
        ))
    }
}

fn max_in_flight(n: u32) -> Result<()> {
    if !(1..=MAX_IN_FLIGHT).contains(&n) {
        return Err(invalid(
            "max_in_flight",
            format!("must be from 1 to {MAX_IN_FLIGHT}"),
        ));
    }
    Ok(())
}

/// Checks a new endpoint; generates its secret unless one is supplied.
pub fn endpoint(input: EndpointIn) -> Result<NewEndpoint> {
    let url = match input.kind {
        EndpointKind::Webhook if input.url.is_empty() => {
            return Err(invalid(
                "url",
                "required: the URL Herald sends deliveries to (an endpoint of kind 'inbox' has none)",
            ));
        }
        EndpointKind::Webhook => endpoint_url(&input.url)?,
        EndpointKind::Inbox => {
            inbox_fields(
                Some(&input.url),
                Some(&input.headers),
                Some(input.semantics),
                Some(input.ordering),
                input.rate_limit.is_some(),
                input.transform.is_some(),
            )?;
            String::new()
        }
    };
    patterns(&input.event_types)?;
    if let Some(f) = &input.filter {
        content_filter(f)?;
    }
    headers(&input.headers)?;
    description(&input.description)?;
    let name = input.name.trim().to_string();
    endpoint_name(&name)?;
    if input.retry_policy.is_some() && input.retry_policy_id.is_some() {
        return Err(invalid(
            "retry_policy_id",
            "give either retry_policy (inline) or retry_policy_id (named), not both",
        ));
    }
    let retry_policy = input.retry_policy.unwrap_or_default();
    policy(&retry_policy)?;
    let timeout_ms = input.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    timeout(timeout_ms)?;
    if let Some(n) = input.max_in_flight {
        max_in_flight(n)?;
    }
    if let Some(limit) = &input.rate_limit {
        rate_limit(limit)?;
    }
    let ack_timeout_secs = input.ack_timeout_secs.unwrap_or(DEFAULT_ACK_TIMEOUT_SECS);
    ack_timeout(ack_timeout_secs)?;
    if let Some(settings) = &input.circuit_breaker {
        breaker(settings)?;
    }
    let secret = match input.secret {
        Some(text) => Secret::parse(&text).map_err(|e| invalid("secret", e.to_string()))?,
        None => Secret::generate(),
    };
    Ok(NewEndpoint {
        id: crate::model::EndpointId::new(),
        kind: input.kind,
        url,
        name,
        description: input.description,
        event_types: input.event_types,
        filter: input.filter,
        transform: input.transform,
        headers: input.headers,
        semantics: input.semantics,
        retry_policy,
        retry_policy_id: input.retry_policy_id,
        timeout_ms,
        max_in_flight: input.max_in_flight,
        ordering: input.ordering,
        on_dead: input.on_dead,
        rate_limit: input.rate_limit,
        ack_timeout_secs,
        circuit_breaker: input.circuit_breaker,
        secret,
    })
}

/// Checks an endpoint's content filter; the error names the place in it.
fn content_filter(filter: &serde_json::Value) -> Result<()> {
    crate::model::Filter::parse(filter)
        .map(drop)
        .map_err(|e| invalid("filter", filter_message(&e)))
}

/// A filter's error as an API message: where, then what.
pub fn filter_message(e: &crate::model::FilterError) -> String {
    if e.at.is_empty() {
        e.message.clone()
    } else {
        format!("at {}: {}", e.at, e.message)
    }
}

/// What an inbox endpoint may not have: it sends no requests, so no URL,
/// headers or rate limit; consumers settle each message, so it is at least
/// once; they pull in due order, so it is not ordered.
fn inbox_fields(
    url: Option<&str>,
    headers: Option<&BTreeMap<String, String>>,
    semantics: Option<Semantics>,
    ordering: Option<OrderingMode>,
    rate_limit: bool,
    transform: bool,
) -> Result<()> {
    if url.is_some_and(|u| !u.is_empty()) {
        return Err(invalid(
            "url",
            "an inbox has no URL: its consumers pull its messages (GET /api/v1/inbox/{endpoint_id})",
        ));
    }
    if headers.is_some_and(|h| !h.is_empty()) {
        return Err(invalid(
            "headers",
            "an inbox sends no requests, so it takes no headers",
        ));
    }
    if semantics.is_some_and(|s| s != Semantics::AtLeastOnce) {
        return Err(invalid(
            "semantics",
            "an inbox is at_least_once: a message is done when a consumer acknowledges it",
        ));
    }
    if ordering.is_some_and(|o| o != OrderingMode::None) {
        return Err(invalid(
            "ordering",
            "an inbox is not ordered: consumers lease its messages in due order",
        ));
    }
    if rate_limit {
        return Err(invalid(
            "rate_limit",
            "an inbox has no rate limit: its consumers pull at their own pace",
        ));
    }
    if transform {
        return Err(invalid(
            "transform",
            "an inbox hands out each event as it was published; transforms shape webhook requests",
        ));
    }
    Ok(())
}

/// Checks a change to an inbox endpoint against what an inbox may have.
pub fn inbox_patch(patch: &EndpointPatch) -> Result<()> {
    inbox_fields(
        patch.url.as_deref(),
        patch.headers.as_ref(),
        patch.semantics,
        patch.ordering,
        matches!(patch.rate_limit, Some(Some(_))),
        matches!(patch.transform, Some(Some(_))),
    )
}

/// Checks the fields a change to an endpoint sets, with the same rules as
/// creating one; fields left out stay as they are.
pub fn endpoint_patch(mut patch: EndpointPatch) -> Result<EndpointPatch> {
    if let Some(url) = &patch.url {
        patch.url = Some(endpoint_url(url)?);
    }
    if let Some(p) = &patch.event_types {
        patterns(p)?;
    }
    if let Some(Some(f)) = &patch.filter {
        content_filter(f)?;
    }
    if let Some(h) = &patch.headers {
        headers(h)?;
    }
    if let Some(d) = &patch.description {
        description(d)?;
    }
    if let Some(n) = &patch.name {
        endpoint_name(n.trim())?;
    }
    if patch.retry_policy.is_some() && patch.retry_policy_id.is_some() {
        return Err(invalid(
            "retry_policy_id",
            "give either retry_policy (inline) or retry_policy_id (named), not both",
        ));
    }
    if let Some(p) = &patch.retry_policy {
        policy(p)?;
    }
    if let Some(ms) = patch.timeout_ms {
        timeout(ms)?;
    }
    if let Some(n) = patch.max_in_flight {
        max_in_flight(n)?;
    }
    if let Some(Some(limit)) = &patch.rate_limit {
        rate_limit(limit)?;
    }
    if let Some(secs) = patch.ack_timeout_secs {
        ack_timeout(secs)?;
    }
    if let Some(settings) = &patch.circuit_breaker {
        breaker(settings)?;
    }
    Ok(patch)
}

/// Checks an event and turns it into what the store takes. `at` is its
/// position in a batch, which prefixes field names in errors (`events[3].`);
/// `header_key` is an `Idempotency-Key` header.
pub fn event(
    input: EventIn,
    header_key: Option<&str>,
    at: Option<usize>,
    max_payload: usize,
) -> Result<NewEvent> {
    // Formatted only for an error: a batch's events are nearly always fine.
    let field = |name: &str| match at {
        Some(i) => format!("events[{i}].{name}"),
        None => name.to_owned(),
    };
    validate_event_type(&input.event_type).map_err(|m| invalid(field("event_type"), m))?;
    if !input.payload.is_object() {
        return Err(invalid(field("payload"), "must be a JSON object"));
    }
    // Canonical text (keys sorted, no whitespace), made as it was read:
    // equal payloads give equal bytes, signatures and digests.
    let payload = input.payload.into_text();
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
    if let Some(id) = &input.correlation_id
        && !correlation_id_ok(id)
    {
        return Err(invalid(
            field("correlation_id"),
            format!(
                "must be 1 to {MAX_CORRELATION_LEN} characters of A-Z, a-z, 0-9 and -_.: \
                 (it travels as the X-Correlation-ID header)"
            ),
        ));
    }
    for (name, value) in [
        ("idempotency_key", &idempotency_key),
        ("entity_id", &input.entity_id),
        ("ordering_key", &input.ordering_key),
    ] {
        // Characters, as the OpenAPI document's maxLength counts them.
        if value
            .as_ref()
            .is_some_and(|v| v.is_empty() || v.chars().count() > MAX_KEY_LEN)
        {
            return Err(invalid(
                field(name),
                format!("must be 1 to {MAX_KEY_LEN} characters"),
            ));
        }
    }
    if let Some(source) = &input.source {
        source_name(source).map_err(|message| invalid(field("source"), message))?;
    }
    Ok(NewEvent {
        event_type: input.event_type,
        payload,
        idempotency_key,
        correlation_id: input.correlation_id,
        entity_id: input.entity_id,
        ordering_key: input.ordering_key,
        metadata: input.metadata,
        source: input.source,
        only_endpoint: None,
        operational: false,
        schema_version: None,
        schema_problems: Vec::new(),
    })
}

/// The longest source name.
pub const MAX_SOURCE_LEN: usize = 100;

/// Checks the name of a publishing service (an event's `source`, an API
/// key's `default_source`): what is wrong with it, or nothing.
pub fn source_name(source: &str) -> std::result::Result<(), String> {
    let ok = !source.is_empty()
        && source.len() <= MAX_SOURCE_LEN
        && source
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {MAX_SOURCE_LEN} characters of A-Z, a-z, 0-9 and -_.:/"
        ))
    }
}

/// Longest payload-dedup window a tenant may set: 7 days.
pub const MAX_DEDUP_WINDOW_SECS: u64 = 7 * 24 * 3_600;

/// Checks a change to a tenant's settings.
/// A tenant's slug: 1 to 40 of a-z, 0-9 and '-', starting with a letter or digit.
pub fn tenant_slug(slug: &str) -> Result<()> {
    let ok = (1..=40).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(EngineError::invalid(
            "slug",
            format!("'{slug}' must be 1 to 40 of a-z, 0-9 and '-', not starting with '-'"),
        ))
    }
}

pub fn tenant_patch(patch: &crate::model::TenantPatch) -> Result<()> {
    if let Some(Some(secs)) = patch.payload_dedup_window_secs
        && !(1..=MAX_DEDUP_WINDOW_SECS).contains(&secs)
    {
        return Err(invalid(
            "payload_dedup_window_secs",
            format!(
                "must be from 1 to {MAX_DEDUP_WINDOW_SECS} seconds (7 days), or null to turn dedup off"
            ),
        ));
    }
    if let Some(Some(n)) = patch.dlq_alert_threshold
        && !(1..=MAX_DLQ_ALERT_THRESHOLD).contains(&n)
    {
        return Err(invalid(
            "dlq_alert_threshold",
            format!("must be from 1 to {MAX_DLQ_ALERT_THRESHOLD} entries, or null for no alert"),
        ));
    }
    for (field, days) in [
        ("event_retention_days", patch.event_retention_days),
        ("stats_retention_days", patch.stats_retention_days),
    ] {
        if let Some(Some(n)) = days
            && !(1..=MAX_RETENTION_DAYS).contains(&n)
        {
            return Err(invalid(
                field,
                format!("must be from 1 to {MAX_RETENTION_DAYS} days, or null to keep forever"),
            ));
        }
    }
    Ok(())
}

/// The longest retention a tenant may set, in days (100 years).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// The largest dead-letter alert threshold a tenant may set.
pub const MAX_DLQ_ALERT_THRESHOLD: u64 = 10_000_000;

/// White space as the API document's patterns mean it (`\s` of the
/// ECMAScript regular expressions JSON Schema uses). Rust's own white space
/// differs at two characters: it counts U+0085 (next line) and not U+FEFF.
pub(crate) fn pattern_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

fn policy_name(name: &str) -> Result<()> {
    let trimmed = name.trim_matches(pattern_space);
    if trimmed.is_empty() || trimmed.chars().count() > 80 || trimmed != name {
        return Err(invalid(
            "name",
            "must be 1 to 80 characters without leading or trailing spaces",
        ));
    }
    Ok(())
}

/// Checks a named retry policy before it is stored.
pub fn retry_policy_in(input: &crate::model::RetryPolicyIn) -> Result<()> {
    policy_name(&input.name)?;
    description(&input.description)?;
    input.policy.validate().map_err(|m| invalid("policy", m))
}

/// Checks the fields a change to a named retry policy sets.
pub fn retry_policy_patch(patch: &crate::model::RetryPolicyPatch) -> Result<()> {
    if let Some(name) = &patch.name {
        policy_name(name)?;
    }
    if let Some(d) = &patch.description {
        description(d)?;
    }
    if let Some(p) = &patch.policy {
        p.validate().map_err(|m| invalid("policy", m))?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
