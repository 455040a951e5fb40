//! Wire types of the dead-letter queue, replays and checkpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    CheckpointId, DeliveryId, DeliveryOut, DlqEntryId, EndpointId, ErrorClass, EventId, EventOut,
    EventSummary, ReplayId,
};

/// One dead delivery waiting for a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DlqEntryOut {
    pub id: DlqEntryId,
    /// The delivery, whose id is the `webhook-id` every attempt carried.
    pub delivery_id: DeliveryId,
    pub endpoint_id: EndpointId,
    pub endpoint_url: String,
    /// The endpoint's name (empty: it has none).
    #[serde(default)]
    pub endpoint_name: String,
    pub event_id: EventId,
    pub event_type: String,
    pub reason: String,
    /// The last attempt's error class (none when no attempt was made).
    pub error_class: Option<ErrorClass>,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// The HTTP status of the last attempt, when the receiver answered.
    #[serde(default)]
    pub last_status: Option<u16>,
}

/// A DLQ entry with the event, every attempt and what people did to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DlqDetail {
    #[serde(flatten)]
    pub entry: DlqEntryOut,
    pub event: EventOut,
    /// The delivery with its attempts and the actions taken on it.
    pub delivery: DeliveryOut,
}

/// Something a person (or a key) did to a delivery by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryActionOut {
    /// `reprocess`, `discard` or `replay`.
    pub action: String,
    pub actor: String,
    pub reason: String,
    pub replay_id: Option<ReplayId>,
    pub created_at: DateTime<Utc>,
}

/// What a bulk reprocess did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReprocessOut {
    pub reprocessed: Vec<DlqEntryId>,
    /// Entries left in the DLQ, each with why.
    pub skipped: Vec<SkippedEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkippedEntry {
    pub id: DlqEntryId,
    pub reason: String,
}

/// `POST /api/v1/events/{id}/replay`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventReplayIn {
    #[serde(default)]
    pub reason: String,
    /// Only these endpoints (at least one); by default every endpoint the
    /// event matches now.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub endpoint_ids: Option<Vec<EndpointId>>,
}

/// What a single-event replay did at one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayedDelivery {
    pub delivery_id: DeliveryId,
    pub endpoint_id: EndpointId,
    /// `queued`, or `skipped` with `why` (an attempt is already under way).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// Which stored events a replay job re-sends. Every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayFilter {
    /// Events received at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events received before this time.
    pub to: Option<DateTime<Utc>>,
    /// Event types published in this tenant (a type never published is a 404).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::model::EventTypeName>))]
    pub event_types: Vec<String>,
    /// Deliver only to this endpoint (events it subscribes to now).
    pub endpoint_id: Option<EndpointId>,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub correlation_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub entity_id: Option<String>,
    /// Only events published by this source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = "^[A-Za-z0-9._:/-]+$")
    )]
    pub source: Option<String>,
    /// Only events with a dead delivery, and only those deliveries.
    #[serde(default)]
    pub only_failed: bool,
    /// Events after this checkpoint's position.
    pub after_checkpoint: Option<CheckpointId>,
}

impl ReplayFilter {
    /// A replay of one entity or one correlation re-sends a workflow: its
    /// events go one at a time, each after the previous one's deliveries ended.
    pub fn is_ordered(&self) -> bool {
        self.entity_id.is_some() || self.correlation_id.is_some()
    }
}

/// The most events one replay may be limited to (`max_events`).
pub const MAX_REPLAY_EVENTS: u64 = 1_000_000_000;

/// `POST /api/v1/replays`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayIn {
    #[serde(default)]
    pub filter: ReplayFilter,
    /// Events per second, more than 0 and at most 5000 (default 100).
    #[cfg_attr(
        feature = "openapi",
        schema(exclusive_minimum = 0.0, maximum = 5_000.0)
    )]
    pub rate_per_second: Option<f64>,
    /// Stop after this many events (1 to 1,000,000,000; none: no limit).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000))]
    pub max_events: Option<u64>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub reason: String,
    /// A jq program its deliveries apply to the payload instead of their
    /// endpoints' own transforms (at most 4 KiB; checked before the job
    /// starts): for a receiver that now expects another shape.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub transform: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReplayState {
    Pending,
    Running,
    Paused,
    Completed,
    Cancelled,
    Failed,
}

impl ReplayState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayState::Pending => "pending",
            ReplayState::Running => "running",
            ReplayState::Paused => "paused",
            ReplayState::Completed => "completed",
            ReplayState::Cancelled => "cancelled",
            ReplayState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => ReplayState::Pending,
            "running" => ReplayState::Running,
            "paused" => ReplayState::Paused,
            "completed" => ReplayState::Completed,
            "cancelled" => ReplayState::Cancelled,
            "failed" => ReplayState::Failed,
            _ => return None,
        })
    }

    /// No more changes: completed, cancelled or failed.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ReplayState::Completed | ReplayState::Cancelled | ReplayState::Failed
        )
    }
}

/// A replay job and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayOut {
    pub id: ReplayId,
    /// Whose job it is (the live feed routes by it; not part of the API).
    #[serde(skip, default = "unset_tenant")]
    pub tenant_id: super::TenantId,
    pub state: ReplayState,
    pub filter: ReplayFilter,
    pub reason: String,
    /// The one-off transform its deliveries use, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
    pub rate_per_second: f64,
    /// Events the job will re-send.
    pub total: u64,
    /// Events re-sent so far.
    pub dispatched: u64,
    /// Deliveries those events were re-sent as.
    pub deliveries: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Deliveries still pending or in flight.
    pub in_progress: u64,
    /// One event at a time, in sequence order (entity and correlation replays).
    pub ordered: bool,
    pub created_by: String,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When the job last changed (a step or a state change): of two reports
    /// of the same job, the later one is current.
    pub updated_at: DateTime<Utc>,
}

impl ReplayOut {
    /// Seconds until every event is dispatched at the job's rate; none for a
    /// finished job, and none while paused (it is not on its way).
    pub fn eta_secs(&self) -> Option<f64> {
        (!self.state.is_final() && self.state != ReplayState::Paused && self.rate_per_second > 0.0)
            .then(|| self.total.saturating_sub(self.dispatched) as f64 / self.rate_per_second)
    }
}

fn unset_tenant() -> super::TenantId {
    super::TenantId::nil()
}

/// A dry run: how many events a filter matches and the first few of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayPreview {
    pub total: u64,
    pub sample: Vec<EventSummary>,
}

/// `POST /api/v1/checkpoints`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckpointIn {
    /// 1 to 100 characters, no control characters (surrounding spaces are trimmed).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
        )
    )]
    pub name: String,
    /// A position in the tenant's sequence, at most the newest event's (the
    /// default); a position not reached yet is a 409.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub seq: Option<i64>,
    pub endpoint_id: Option<EndpointId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointOut {
    pub id: CheckpointId,
    pub name: String,
    pub seq: i64,
    pub endpoint_id: Option<EndpointId>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// What one finished attempt did, as the live feed reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryOutcome {
    pub delivery_id: DeliveryId,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    pub event_type: String,
    pub attempt: u32,
    pub trigger: super::Trigger,
    /// Where the delivery stands after the attempt.
    pub state: super::DeliveryState,
    pub response_status: Option<u16>,
    pub error_class: Option<ErrorClass>,
    pub latency_ms: u64,
    pub at: DateTime<Utc>,
}

/// A message on the live websocket (`/api/v1/live`), tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
pub enum LiveMessage {
    /// A replay job's progress: at least every 500 ms while it runs, and on
    /// every state change.
    #[serde(rename = "replay.progress")]
    ReplayProgress {
        replay: Box<ReplayOut>,
        eta_secs: Option<f64>,
    },
    /// An attempt finished.
    #[serde(rename = "delivery.outcome")]
    DeliveryOutcome(DeliveryOutcome),
    /// A receiver acknowledged a delivery (effectively-once endpoints).
    #[serde(rename = "delivery.acked")]
    DeliveryAcked {
        delivery_id: super::DeliveryId,
        endpoint_id: super::EndpointId,
        at: DateTime<Utc>,
    },
    /// An endpoint's circuit breaker opened, closed, or disabled it.
    #[serde(rename = "endpoint.breaker")]
    BreakerChanged {
        endpoint_id: super::EndpointId,
        change: super::BreakerChange,
        reason: String,
        /// When the next probe may go (opened).
        probe_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
}

impl LiveMessage {
    pub fn progress(replay: ReplayOut) -> Self {
        let eta_secs = replay.eta_secs();
        LiveMessage::ReplayProgress {
            replay: Box::new(replay),
            eta_secs,
        }
    }

    /// The wire name of the message's type.
    pub fn kind(&self) -> &'static str {
        match self {
            LiveMessage::ReplayProgress { .. } => "replay.progress",
            LiveMessage::DeliveryOutcome(_) => "delivery.outcome",
            LiveMessage::DeliveryAcked { .. } => "delivery.acked",
            LiveMessage::BreakerChanged { .. } => "endpoint.breaker",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: ReplayState) -> ReplayOut {
        let now = Utc::now();
        ReplayOut {
            id: ReplayId::new(),
            tenant_id: unset_tenant(),
            state,
            filter: ReplayFilter::default(),
            reason: String::new(),
            transform: None,
            rate_per_second: 10.0,
            total: 100,
            dispatched: 40,
            deliveries: 40,
            succeeded: 40,
            failed: 0,
            in_progress: 0,
            ordered: false,
            created_by: "ops".into(),
            error: None,
            created_at: now,
            started_at: Some(now),
            finished_at: None,
            updated_at: now,
        }
    }

    #[test]
    fn a_running_job_has_an_eta_a_paused_or_finished_one_none() {
        assert_eq!(job(ReplayState::Running).eta_secs(), Some(6.0));
        assert_eq!(job(ReplayState::Paused).eta_secs(), None);
        assert_eq!(job(ReplayState::Cancelled).eta_secs(), None);
    }
}
