//! Wire types of the delivery domain: endpoints, events, deliveries, attempts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    AttemptId, DeliveryId, EndpointId, EventId, OnDead, OrderingMode, RateLimit, RetryPolicyId,
};
use crate::retry::RetryPolicy;

/// How an endpoint's deliveries are attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Semantics {
    /// Retried until success, exhaustion or disablement.
    #[default]
    AtLeastOnce,
    /// One attempt, marked sent before the request goes out; never retried.
    AtMostOnce,
    /// At-least-once until the receiver acknowledges it: a 2xx leaves the
    /// delivery `awaiting_ack`, and no acknowledgement (`POST /api/v1/acks`)
    /// within the endpoint's `ack_timeout_secs` sends it again with the same
    /// `webhook-id`. `exactly_once`, the design's name for it, is accepted
    /// as another name.
    #[serde(alias = "exactly_once")]
    EffectivelyOnce,
}

impl Semantics {
    pub fn as_str(self) -> &'static str {
        match self {
            Semantics::AtLeastOnce => "at_least_once",
            Semantics::AtMostOnce => "at_most_once",
            Semantics::EffectivelyOnce => "effectively_once",
        }
    }
}

/// A string type of the OpenAPI document: 1 to 128 characters matching
/// `pattern`, described by `description`.
#[cfg(feature = "openapi")]
macro_rules! event_type_schema {
    ($(#[$doc:meta])* $name:ident, $pattern:literal, $description:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some(128))
                    .pattern(Some($pattern))
                    .description(Some($description))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

#[cfg(feature = "openapi")]
event_type_schema!(
    /// A subscription pattern in the OpenAPI document: an event type whose
    /// segments may be `*`.
    EventPattern,
    "^(\\*|[A-Za-z0-9_-]+)(\\.(\\*|[A-Za-z0-9_-]+))*$",
    "An event type in which whole segments may be `*`: `order.*`, `*.created`, `*`."
);

#[cfg(feature = "openapi")]
event_type_schema!(
    /// An event type in the OpenAPI document: dot-separated words.
    EventTypeName,
    "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$",
    "Dot-separated words of letters, digits, `_` and `-`: `order.created`."
);

/// Creating an endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EndpointIn {
    /// `webhook` (default): Herald sends each delivery to `url`; `inbox`:
    /// no URL, consumers pull (`GET /api/v1/inbox/{endpoint_id}`).
    #[serde(default)]
    pub kind: super::EndpointKind,
    /// Required for a webhook, refused for an inbox:
    /// `http(s)://[userinfo@]host[:port][/path][?query]` in ASCII (a
    /// non-ASCII host in its `xn--` form), at most 2048 characters; the
    /// pattern states the syntax exactly.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub url: String,
    /// 1 to 50 patterns such as `order.*` or `*`.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Vec<EventPattern>, min_items = 1, max_items = 50)
    )]
    pub event_types: Vec<String>,
    /// Besides `event_types`: which events this endpoint wants by what
    /// they carry, a filter over `{event_type, source, payload, metadata}`
    /// such as `{"payload.total": {"$gte": 100}, "source": "billing"}`
    /// (operators `$eq $neq $gt $gte $lt $lte $in $nin $exists $and $or
    /// $not`; dotted paths; at most 8 KiB). Checked when saved: an error
    /// names the place in the filter (a JSON pointer).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filter: Option<Value>,
    /// A jq program applied to each event's payload before it is signed and
    /// sent (at most 4 KiB; 1 s and 1 MiB of output per run), such as
    /// `{id: .order_id, cents: (.total * 100)}`. Its first output is the
    /// body. Checked when saved; a run that fails is an attempt with error
    /// class `transform`, not retried. Webhook endpoints only.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 4096, example = "{id: .order_id, cents: (.total * 100)}")
    )]
    pub transform: Option<String>,
    /// A name people know it by, shown instead of its URL (at most 100
    /// characters; empty: none).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 100,
            pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$",
            example = "Billing service"
        )
    )]
    pub name: String,
    /// At most 500 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub description: String,
    /// Up to 20 extra headers sent with every request (values are never shown
    /// in receipts; at most 4 KiB each and 16 KiB in all).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub semantics: Semantics,
    /// An inline retry policy (default: the Standard Webhooks schedule).
    #[serde(default)]
    pub retry_policy: Option<RetryPolicy>,
    /// A named retry policy of the tenant's to follow instead of an inline one.
    #[serde(default)]
    pub retry_policy_id: Option<RetryPolicyId>,
    /// Per-request timeout in milliseconds, 1 to 60000 (default 15000).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 60_000))]
    pub timeout_ms: Option<u32>,
    /// Requests in flight to this endpoint at once, 1 to 256 (default: the
    /// server's `endpoint_concurrency`, 8 unless configured).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 256))]
    pub max_in_flight: Option<u32>,
    /// Whether deliveries go out in order: `none` (default), `endpoint` (one
    /// stream) or `key` (one stream per ordering key).
    #[serde(default)]
    pub ordering: OrderingMode,
    /// What a dead delivery does to its stream when the endpoint is ordered:
    /// `block` (default: the stream waits until the DLQ entry is reprocessed
    /// or discarded) or `skip`.
    #[serde(default)]
    pub on_dead: OnDead,
    /// At most this many deliveries per second or minute, over every node
    /// (default: none). Throttled deliveries wait; they are not attempts.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// With `semantics: "effectively_once"`: how long, in seconds, Herald
    /// waits for the receiver's acknowledgement after a 2xx before sending
    /// the delivery again, 5 to 604800 (default 300).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 5, maximum = 604_800))]
    pub ack_timeout_secs: Option<u32>,
    /// When failures pause the endpoint (default: on, 50 % of at least 20
    /// attempts in 2 minutes; a 30 s cool-down, doubled per failed probe).
    #[serde(default)]
    pub circuit_breaker: Option<super::BreakerSettings>,
    /// A `whsec_…` secret to sign with (base64 of 24 to 64 bytes, canonical
    /// padding); generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

/// Changing an endpoint: every field is optional, and those left out stay.
/// `headers`, when given, replaces all custom headers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub url: Option<String>,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<Vec<EventPattern>>, min_items = 1, max_items = 50)
    )]
    pub event_types: Option<Vec<String>>,
    /// A new content filter, or `null` to remove it.
    #[serde(default, with = "super::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filter: Option<Option<Value>>,
    /// A new transform, or `null` to remove it.
    #[serde(default, with = "super::double_option")]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub transform: Option<Option<String>>,
    /// `""` removes the name.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")
    )]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub description: Option<String>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub semantics: Option<Semantics>,
    /// An inline policy; the endpoint stops following a named one.
    #[serde(default)]
    pub retry_policy: Option<RetryPolicy>,
    /// Follow this named policy from now on.
    #[serde(default)]
    pub retry_policy_id: Option<RetryPolicyId>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 60_000))]
    pub timeout_ms: Option<u32>,
    /// Requests in flight to this endpoint at once, 1 to 256.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 256))]
    pub max_in_flight: Option<u32>,
    /// Applies to deliveries made from now on; those already waiting in a
    /// stream keep their place.
    #[serde(default)]
    pub ordering: Option<OrderingMode>,
    #[serde(default)]
    pub on_dead: Option<OnDead>,
    /// A new rate limit, or `null` to lift it.
    #[serde(default, with = "super::double_option")]
    pub rate_limit: Option<Option<RateLimit>>,
    /// Applies to acknowledgements awaited from now on.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 5, maximum = 604_800))]
    pub ack_timeout_secs: Option<u32>,
    /// New breaker settings (fields left out take their defaults); the
    /// breaker closes.
    #[serde(default)]
    pub circuit_breaker: Option<super::BreakerSettings>,
}

/// An endpoint as shown (never its secret, never its header values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointOut {
    pub id: EndpointId,
    /// `webhook` or `inbox`.
    #[serde(default)]
    pub kind: super::EndpointKind,
    /// The URL deliveries go to; `""` for an inbox.
    pub url: String,
    /// `""` when it has none.
    #[serde(default)]
    pub name: String,
    pub description: String,
    pub event_types: Vec<String>,
    /// The content filter (absent: every event of its types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filter: Option<Value>,
    /// The transform (absent: the payload is sent as published).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
    pub header_names: Vec<String>,
    pub semantics: Semantics,
    /// The policy in force: the named one when `retry_policy_id` is set.
    pub retry_policy: RetryPolicy,
    pub retry_policy_id: Option<RetryPolicyId>,
    pub timeout_ms: u32,
    /// Requests in flight to this endpoint at once; `null`: the server's
    /// `endpoint_concurrency`.
    pub max_in_flight: Option<u32>,
    pub ordering: OrderingMode,
    pub on_dead: OnDead,
    pub rate_limit: Option<RateLimit>,
    /// Seconds Herald waits for an acknowledgement (effectively-once
    /// endpoints; kept, unused, by the others).
    pub ack_timeout_secs: u32,
    pub circuit_breaker: super::BreakerSettings,
    /// The breaker now.
    pub breaker: super::BreakerOut,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Problems noticed when the endpoint was saved that did not stop the save
    /// (a URL that resolves to an address deliveries are refused). Only in the
    /// answer to a create or update.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Publishing an event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// Dot-separated words of letters, digits, `_` and `-` (`order.created`).
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 128, pattern = "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$")
    )]
    pub event_type: String,
    /// A JSON object: the body every endpoint receives.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: super::CanonicalJson,
    /// 1 to 255 characters; must equal the `Idempotency-Key` header when both are sent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 255))]
    pub idempotency_key: Option<String>,
    /// Sent as `X-Correlation-ID`: 1 to 128 of A-Z, a-z, 0-9 and `-_.:`.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 128, pattern = "^[A-Za-z0-9._:-]+$")
    )]
    pub correlation_id: Option<String>,
    /// 1 to 255 characters: events of one entity replay in order.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 255))]
    pub entity_id: Option<String>,
    /// 1 to 255 characters: at endpoints ordered by key, the stream the
    /// event's delivery joins (default: its `entity_id`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 255))]
    pub ordering_key: Option<String>,
    /// A JSON object kept with the event (never sent to receivers).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Value>,
    /// The service that published it, 1 to 100 of A-Z, a-z, 0-9 and
    /// `-_.:/` (default: the API key's `default_source`, if it has one).
    /// Events, replays and endpoint filters narrow by it.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = "^[A-Za-z0-9._:/-]+$", example = "billing")
    )]
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventOut {
    pub id: EventId,
    pub event_type: String,
    pub payload: Value,
    pub seq: i64,
    pub idempotency_key: Option<String>,
    pub correlation_id: Option<String>,
    pub entity_id: Option<String>,
    pub ordering_key: Option<String>,
    pub metadata: Option<Value>,
    /// The service that published it (absent: not named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub received_at: DateTime<Utc>,
    /// When the event was expunged (a privacy request): its payload,
    /// metadata and receipts' response bodies were erased; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expunged_at: Option<DateTime<Utc>>,
    /// The version of its type's schema it was checked against at ingest
    /// (absent: not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
    /// What that schema found wrong, when the tenant's `schema_mode` is
    /// `warn` and the event was accepted anyway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_problems: Vec<crate::model::SchemaProblem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a worker; the request may be on the wire.
    InFlight,
    Succeeded,
    /// No more automatic attempts: exhausted, endpoint gone, or at-most-once failed.
    Dead,
    /// Answered 2xx at an effectively-once endpoint; sent again when no
    /// acknowledgement comes by `next_attempt_at`.
    AwaitingAck,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 5] = [
        DeliveryState::Pending,
        DeliveryState::InFlight,
        DeliveryState::Succeeded,
        DeliveryState::Dead,
        DeliveryState::AwaitingAck,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::InFlight => "in_flight",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Dead => "dead",
            DeliveryState::AwaitingAck => "awaiting_ack",
        }
    }
}

str_enum!(DeliveryState, "delivery state");

/// Why an attempt failed, in classes an operator can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The host name did not resolve.
    Dns,
    /// No TCP connection (refused, unreachable).
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// No complete answer within the endpoint's timeout.
    Timeout,
    /// The receiver answered with a non-2xx status (redirects included: they are not followed).
    HttpStatus,
    /// The connection broke while sending or reading.
    Connection,
    /// The endpoint's URL cannot be requested.
    InvalidUrl,
    /// The answer's body was larger than Herald reads (a receiver should answer briefly).
    ResponseTooLarge,
    /// The URL leads to an address Herald refuses to reach (loopback, private,
    /// link-local, …): never retried.
    BlockedDestination,
    /// Herald could not make the attempt for a reason of its own (a request it
    /// could not build, or a fault in the attempt itself). Logged as an error and
    /// retried on the policy like any other failure.
    Internal,
    /// A consumer of a pull inbox handed the message back (`nack`).
    Nacked,
    /// The endpoint's (or the replay's) transform failed on the payload, ran
    /// past its time limit or gave output too large: nothing was sent. Never
    /// retried: the same program on the same payload fails the same way.
    Transform,
    /// Not an attempt's class but a DLQ entry's: an at-most-once delivery was
    /// on the wire when its worker stopped (shutdown, crash or an expired
    /// lease), so whether the receiver got it is unknown. Never retried.
    OutcomeUnknown,
}

impl ErrorClass {
    /// Every class an attempt's receipt can carry (each has a statistics
    /// column); [`ErrorClass::OutcomeUnknown`] marks DLQ entries only.
    pub const ALL: [ErrorClass; 12] = [
        ErrorClass::Dns,
        ErrorClass::Connect,
        ErrorClass::Tls,
        ErrorClass::Timeout,
        ErrorClass::HttpStatus,
        ErrorClass::Connection,
        ErrorClass::InvalidUrl,
        ErrorClass::ResponseTooLarge,
        ErrorClass::BlockedDestination,
        ErrorClass::Internal,
        ErrorClass::Nacked,
        ErrorClass::Transform,
    ];

    /// Every class a DLQ entry can carry: the attempts' and `outcome_unknown`.
    pub const ANY: [ErrorClass; 13] = {
        let mut any = [ErrorClass::OutcomeUnknown; 13];
        let mut i = 0;
        while i < Self::ALL.len() {
            any[i] = Self::ALL[i];
            i += 1;
        }
        any
    };

    /// The classes' names, comma-separated, for messages and documentation.
    pub fn names() -> String {
        Self::ANY.map(Self::as_str).join(", ")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Dns => "dns",
            ErrorClass::Connect => "connect",
            ErrorClass::Tls => "tls",
            ErrorClass::Timeout => "timeout",
            ErrorClass::HttpStatus => "http_status",
            ErrorClass::Connection => "connection",
            ErrorClass::InvalidUrl => "invalid_url",
            ErrorClass::ResponseTooLarge => "response_too_large",
            ErrorClass::BlockedDestination => "blocked_destination",
            ErrorClass::Internal => "internal",
            ErrorClass::Nacked => "nacked",
            ErrorClass::Transform => "transform",
            ErrorClass::OutcomeUnknown => "outcome_unknown",
        }
    }
}

str_enum!(ErrorClass, "error class", ANY);

/// What started an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Scheduled,
    Manual,
    Replay,
    /// Sent again because the receiver did not acknowledge the delivery
    /// within its endpoint's `ack_timeout_secs`.
    AckTimeout,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [
        Trigger::Scheduled,
        Trigger::Manual,
        Trigger::Replay,
        Trigger::AckTimeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Scheduled => "scheduled",
            Trigger::Manual => "manual",
            Trigger::Replay => "replay",
            Trigger::AckTimeout => "ack_timeout",
        }
    }
}

str_enum!(Trigger, "trigger");

/// The receipt of one attempt. Immutable once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptOut {
    pub id: AttemptId,
    pub attempt: u32,
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub latency_ms: u64,
    pub request_headers: BTreeMap<String, String>,
    pub response_status: Option<u16>,
    pub response_headers: BTreeMap<String, String>,
    /// At most 4 KiB of the response body.
    pub response_excerpt: String,
    pub error_class: Option<ErrorClass>,
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryOut {
    /// The `webhook-id` the receiver sees, the same on every attempt.
    pub id: DeliveryId,
    pub endpoint_id: EndpointId,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When it is due; `null` while pending means it waits for the delivery
    /// before it in its stream.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The ordered stream it belongs to (`""`: the endpoint's one stream),
    /// `null` when unordered.
    #[serde(default)]
    pub stream: Option<String>,
    /// When the receiver acknowledged it (effectively-once endpoints).
    #[serde(default)]
    pub acked_at: Option<DateTime<Utc>>,
    pub attempt_log: Vec<AttemptOut>,
    /// What people did to it by hand (reprocess, discard, replay), oldest first.
    #[serde(default)]
    pub actions: Vec<super::DeliveryActionOut>,
}

/// An event with what became of it at each endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: EventOut,
    pub deliveries: Vec<DeliveryOut>,
}

/// Creating a named retry policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetryPolicyIn {
    /// 1 to 80 characters, no surrounding spaces.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 80, pattern = "^\\S([\\s\\S]*\\S)?$")
    )]
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub description: String,
    pub policy: RetryPolicy,
}

/// Changing a named retry policy; fields left out stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetryPolicyPatch {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 80, pattern = "^\\S([\\s\\S]*\\S)?$")
    )]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub description: Option<String>,
    #[serde(default)]
    pub policy: Option<RetryPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetryPolicyOut {
    pub id: RetryPolicyId,
    pub name: String,
    pub description: String,
    pub policy: RetryPolicy,
    /// Seconds after the first attempt at which each attempt is planned (no jitter).
    pub schedule_secs: Vec<u64>,
    /// How many endpoints follow it.
    pub endpoints: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One row of the event list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventSummary {
    pub id: EventId,
    pub seq: i64,
    pub event_type: String,
    pub correlation_id: Option<String>,
    pub entity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub received_at: DateTime<Utc>,
    pub deliveries: u32,
    pub succeeded: u32,
    pub dead: u32,
}

/// One of an endpoint's latest deliveries, with its last attempt: what its
/// page lists first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentDelivery {
    pub delivery_id: DeliveryId,
    pub event_id: EventId,
    pub event_type: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// The last attempt's answer, latency, error class and start (none
    /// before the first attempt).
    pub last_status: Option<u16>,
    pub last_latency_ms: Option<u64>,
    pub last_error_class: Option<ErrorClass>,
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// An event type a tenant has published, with how often and how recently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventTypeSummary {
    pub event_type: String,
    pub events: u64,
    pub last_seen_at: DateTime<Utc>,
    /// Events accepted with schema problems (`schema_mode: warn`).
    #[serde(default)]
    pub schema_warnings: u64,
}

/// What is queued or parked for an endpoint: its health at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointBacklog {
    /// Waiting for their first attempt.
    pub pending: u32,
    /// Failed at least once and waiting for a retry.
    pub retrying: u32,
    pub in_flight: u32,
    /// Gave up: in the dead-letter queue.
    pub dead: u32,
    /// Waiting for the delivery before them in their ordered stream.
    #[serde(default)]
    pub waiting: u32,
    /// Answered, waiting for the receiver's acknowledgement.
    #[serde(default)]
    pub awaiting_ack: u32,
    /// Deliveries are due but its rate limit holds them back right now.
    #[serde(default)]
    pub throttled: bool,
}
