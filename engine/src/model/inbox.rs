//! Pull inboxes: an endpoint of kind `inbox` has no URL; its consumers
//! lease messages, then acknowledge them (done) or hand them back (nack).
//! A lease not settled within its visibility timeout ends on its own and
//! the message becomes visible again. Each lease is one attempt of the
//! delivery, counted by the endpoint's retry policy and receipted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{DeliveryId, EndpointId, EventId};

/// What an endpoint is: a URL Herald sends to, or an inbox consumers pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// Herald sends each delivery to the endpoint's URL.
    #[default]
    Webhook,
    /// Consumers pull deliveries with `GET /api/v1/inbox/{endpoint_id}`.
    Inbox,
}

impl EndpointKind {
    pub const ALL: [EndpointKind; 2] = [EndpointKind::Webhook, EndpointKind::Inbox];

    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Webhook => "webhook",
            EndpointKind::Inbox => "inbox",
        }
    }
}

str_enum!(EndpointKind, "endpoint kind");

/// Messages a pull leases by default, and at most.
pub const DEFAULT_PULL_LIMIT: u32 = 10;
pub const MAX_PULL_LIMIT: u32 = 1_000;
/// How long a lease lasts by default, and at most (12 hours).
pub const DEFAULT_VISIBILITY_SECS: u32 = 30;
pub const MAX_VISIBILITY_SECS: u32 = 43_200;
/// Ids one ack or nack may name.
pub const MAX_SETTLE_IDS: usize = 1_000;
/// The longest a nack may ask a message to stay hidden (one day).
pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// A pull's query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    /// Messages to lease at most, 1 to 1000 (default 10).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
    /// Seconds the leased messages stay hidden from other consumers unless
    /// acknowledged or handed back first, 1 to 43200 (default 30).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 43200))]
    pub visibility_secs: Option<u32>,
    /// The consumer's name, shown on the inbox's page and in receipts, 1 to
    /// 100 printable ASCII characters (default: the API key's id).
    #[cfg_attr(
        feature = "openapi",
        param(min_length = 1, max_length = 100, pattern = "^[ -~]+$")
    )]
    pub consumer: Option<String>,
}

/// One leased message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxMessage {
    /// The `webhook-id`: what an ack or nack names, and what a consumer
    /// deduplicates on (a message leased again keeps it).
    pub id: DeliveryId,
    pub event_id: EventId,
    pub event_type: String,
    /// The event's payload, as published.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
    /// This lease's attempt number (1 for the first lease).
    pub attempt: u32,
    pub correlation_id: Option<String>,
    /// Until when this lease hides the message.
    pub leased_until: DateTime<Utc>,
}

/// What a pull leased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pulled {
    pub messages: Vec<InboxMessage>,
}

/// Messages to acknowledge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AckIn {
    /// 1 to 1000 message ids (`webhook-id`s).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub ids: Vec<DeliveryId>,
}

/// Messages to hand back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NackIn {
    /// 1 to 1000 message ids (`webhook-id`s).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub ids: Vec<DeliveryId>,
    /// Seconds before they are visible again, 0 to 86400; default: the
    /// retry policy's next delay. A message whose retry policy is spent
    /// goes to the dead-letter queue instead.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 86400))]
    pub retry_after_secs: Option<u64>,
}

/// What an ack or nack did, id by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxSettled {
    /// Leases this request ended.
    pub settled: Vec<DeliveryId>,
    /// Of those handed back, the ones whose retry policy was spent: now in
    /// the dead-letter queue.
    pub dead: Vec<DeliveryId>,
    /// Ids not leased now (never, or no longer: the lease ran out, or the
    /// message was settled already); nothing was done to them.
    pub not_leased: Vec<DeliveryId>,
}

/// A consumer seen pulling from an inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxConsumer {
    pub name: String,
    pub first_pull_at: DateTime<Utc>,
    pub last_pull_at: DateTime<Utc>,
    pub pulls: u64,
    /// Messages it leased, in all.
    pub leased: u64,
}

/// An inbox as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxOut {
    pub endpoint_id: EndpointId,
    /// Messages a pull would lease now.
    pub ready: u64,
    /// Messages waiting for a later time (handed back with a delay, or due
    /// again on the retry policy).
    pub delayed: u64,
    /// Messages leased now.
    pub leased: u64,
    /// When the oldest message waiting (ready, delayed or leased) was made.
    pub oldest_at: Option<DateTime<Utc>>,
    /// Consumers by their last pull, most recent first.
    pub consumers: Vec<InboxConsumer>,
}
