//! Store-side types of the delivery domain.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{DeliveryId, EndpointId, ErrorClass, EventId, Semantics, Trigger};
pub use crate::model::{EventSummary, EventTypeSummary};
use crate::retry::RetryPolicy;
use crate::sign::Secret;

#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// Chosen before the insert, so the audit entry can name it.
    pub id: EndpointId,
    pub kind: crate::model::EndpointKind,
    /// Empty for an inbox.
    pub url: String,
    pub name: String,
    pub description: String,
    pub event_types: Vec<String>,
    /// A content filter, checked.
    pub filter: Option<Value>,
    /// A transform (a jq program), checked.
    pub transform: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub semantics: Semantics,
    pub retry_policy: RetryPolicy,
    pub retry_policy_id: Option<crate::model::RetryPolicyId>,
    pub timeout_ms: u32,
    /// `None`: the server's endpoint concurrency.
    pub max_in_flight: Option<u32>,
    pub ordering: crate::model::OrderingMode,
    pub on_dead: crate::model::OnDead,
    pub rate_limit: Option<crate::model::RateLimit>,
    pub ack_timeout_secs: u32,
    pub circuit_breaker: Option<crate::model::BreakerSettings>,
    pub secret: Secret,
}

#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub event_type: String,
    /// The payload as JSON text (an object), stored and sent byte for byte.
    pub payload: String,
    pub idempotency_key: Option<String>,
    pub correlation_id: Option<String>,
    pub entity_id: Option<String>,
    pub ordering_key: Option<String>,
    pub metadata: Option<Value>,
    /// The publishing service, named by the event or its API key.
    pub source: Option<String>,
    /// A test event: delivered to this endpoint only, whatever its patterns,
    /// and marked `herald-test: true` on every request so a receiver can tell.
    pub only_endpoint: Option<EndpointId>,
    /// One of Herald's own events to a tenant's operations endpoint (with
    /// `only_endpoint` naming it): addressed like a test event, not marked as one.
    pub operational: bool,
    /// The version of its type's schema it was checked against (none: not
    /// checked), and what that found wrong when it was accepted anyway.
    pub schema_version: Option<u32>,
    pub schema_problems: Vec<crate::model::SchemaProblem>,
}

/// What a publisher is told of an event: enough to name it, not its
/// payload (which it sent, and which nothing reads back from an answer).
#[derive(Debug, Clone, PartialEq)]
pub struct IngestedEvent {
    pub id: EventId,
    /// Its position in the tenant's sequence.
    pub seq: i64,
    pub event_type: String,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ingested {
    Created {
        event: IngestedEvent,
        deliveries: u32,
    },
    /// Seen before: this is the original event, and nothing was created.
    Duplicate {
        event: IngestedEvent,
        why: DuplicateOf,
    },
}

/// What made an event a repeat: `idempotency_key` (the same key, at any time)
/// or `payload_dedup_window` (the same type and payload within the tenant's
/// dedup window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DuplicateOf {
    /// The same idempotency key, at any time.
    #[serde(rename = "idempotency_key")]
    IdempotencyKey,
    /// The same type and payload within the tenant's dedup window.
    #[serde(rename = "payload_dedup_window")]
    PayloadWindow,
}

impl DuplicateOf {
    pub const ALL: [DuplicateOf; 2] = [DuplicateOf::IdempotencyKey, DuplicateOf::PayloadWindow];

    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateOf::IdempotencyKey => "idempotency_key",
            DuplicateOf::PayloadWindow => "payload_dedup_window",
        }
    }
}

impl Ingested {
    pub fn event(&self) -> &IngestedEvent {
        match self {
            Ingested::Created { event, .. } | Ingested::Duplicate { event, .. } => event,
        }
    }
}

/// A replay job about to be made (validated by the service).
#[derive(Debug, Clone)]
pub struct NewReplay {
    /// Chosen by the caller, so its audit entry can name it.
    pub id: crate::model::ReplayId,
    pub filter: crate::model::ReplayFilter,
    pub rate_per_second: f64,
    pub max_events: Option<u64>,
    pub reason: String,
    pub actor: Actor,
    /// A one-off transform its deliveries use instead of their endpoints'.
    pub transform: Option<String>,
}

/// What one step of a replay job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayStep {
    pub events: u32,
    pub deliveries: u32,
    /// Every event of the job has been taken.
    pub scan_done: bool,
    /// False when the job was not running (paused or cancelled meanwhile).
    pub running: bool,
}

/// Who is acting, as receipts and the action log name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

/// A claim's fencing token: every claim of a delivery gets a new one, and
/// what its worker writes about the delivery counts only while it still holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimToken(pub i64);

/// A claimed delivery with everything needed to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: DeliveryId,
    pub claim: ClaimToken,
    pub tenant_id: crate::model::TenantId,
    pub event_id: EventId,
    pub event_type: String,
    pub payload: String,
    pub correlation_id: Option<String>,
    /// A test event (sent with `herald-test: true`).
    pub test: bool,
    pub endpoint_id: EndpointId,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub semantics: Semantics,
    /// How long an effectively-once endpoint gives its receiver to acknowledge.
    pub ack_timeout_secs: u32,
    pub retry_policy: RetryPolicy,
    pub timeout_ms: u32,
    /// Requests in flight to the endpoint at once, when it sets its own.
    pub max_in_flight: Option<u32>,
    /// Current secret first, then rotated-out ones still in their grace period.
    pub secrets: Vec<Secret>,
    /// False when the endpoint was disabled or deleted after the delivery was made.
    pub endpoint_active: bool,
    pub attempts: u32,
    /// Attempts in the current chain (a reprocess or replay starts a new one).
    pub chain_attempts: u32,
    /// When the chain's first attempt was made: the retry policy's age counts from it.
    pub first_attempt_at: Option<DateTime<Utc>>,
    /// What started the chain, and why (a replay's reason goes to the receiver).
    pub trigger: Trigger,
    /// Answered 2xx before, but not acknowledged in time: this attempt's
    /// trigger is `ack_timeout`.
    pub ack_timed_out: bool,
    /// Its endpoint's circuit breaker was open (half-open) when it was
    /// claimed: this attempt is the breaker's probe.
    pub breaker_probe: bool,
    pub reason: Option<String>,
    /// The jq program the payload goes through before it is signed: the
    /// replay job's one-off transform, else the endpoint's.
    pub transform: Option<String>,
}

impl Claimed {
    /// What the attempt about to be made is recorded as started by: the
    /// chain's trigger, or `ack_timeout` when it goes out again for want of
    /// an acknowledgement.
    pub fn attempt_trigger(&self) -> Trigger {
        if self.ack_timed_out {
            Trigger::AckTimeout
        } else {
            self.trigger
        }
    }
}

/// A receipt about to be written.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub latency_ms: u64,
    pub request_headers: BTreeMap<String, String>,
    pub response_status: Option<u16>,
    pub response_headers: BTreeMap<String, String>,
    pub response_excerpt: String,
    pub error_class: Option<ErrorClass>,
    pub error_message: Option<String>,
}

/// One finished attempt: its receipt and where its delivery goes next.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub delivery: DeliveryId,
    /// The claim the attempt was made under.
    pub claim: ClaimToken,
    pub attempt: NewAttempt,
    pub next: AfterAttempt,
    /// The event's type, for the statistics, when the caller knows it (the
    /// dispatcher does); otherwise the store looks it up.
    pub event_type: Option<String>,
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterAttempt {
    Succeeded,
    /// Answered 2xx at an effectively-once endpoint: awaiting the receiver's
    /// acknowledgement until this time, then due again.
    AwaitAck(DateTime<Utc>),
    RetryAt(DateTime<Utc>),
    /// No more automatic attempts; a DLQ entry records why.
    Dead {
        reason: String,
    },
}

impl AfterAttempt {
    /// The delivery's stored state after the attempt, and when it is due
    /// (for one awaiting acknowledgement: its deadline).
    pub(crate) fn stored(&self) -> (&'static str, Option<i64>) {
        match self {
            AfterAttempt::Succeeded => ("succeeded", None),
            AfterAttempt::AwaitAck(until) => ("awaiting_ack", Some(super::to_millis(*until))),
            AfterAttempt::RetryAt(at) => ("pending", Some(super::to_millis(*at))),
            AfterAttempt::Dead { .. } => ("dead", None),
        }
    }
}

/// What became of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored, and the delivery moved on; `dead_lettered` when that added a DLQ entry.
    Applied { dead_lettered: bool },
    /// Its claim was no longer held: nothing changed.
    Refused,
}

/// What settling in-flight deliveries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// At-least-once deliveries due again.
    pub requeued: u64,
    /// At-most-once deliveries ended with an unknown outcome.
    pub dead: u64,
    /// DLQ entries added for them.
    pub dead_lettered: u64,
}
