//! The rows the store reads, as every backend's SQL returns them, and what
//! they become. A row holds the column types every backend's schema uses (ids
//! and enum values as text, times as milliseconds since the epoch, JSON as
//! text), so a backend decodes into these structs and never converts on its
//! own.

use std::collections::{BTreeMap, HashMap};

use sqlx::FromRow;

use super::EventSummary;
use super::convert::{count, from_json, from_millis, semantics_of, stored_id, to_millis};
use crate::model::{
    ApiKeyOut, AttemptId, AttemptOut, AuditOut, CheckpointOut, DeliveryActionOut, DeliveryOut,
    DlqEntryOut, EndpointOut, EventDetail, EventOut, ReplayOut, ReplayState, RetryPolicyOut,
    TenantOut, UserOut,
};
use crate::retry::RetryPolicy;
use crate::{EngineError, Result};

#[derive(FromRow)]
pub(crate) struct UserRow {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) role: String,
    pub(crate) tenant_id: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) last_login_at: Option<i64>,
    pub(crate) locked_until: Option<i64>,
}

impl TryFrom<UserRow> for UserOut {
    type Error = EngineError;
    fn try_from(r: UserRow) -> Result<Self> {
        Ok(UserOut {
            id: stored_id(&r.id)?,
            email: r.email,
            role: stored_id(&r.role)?,
            tenant_id: r.tenant_id.as_deref().map(stored_id).transpose()?,
            created_at: from_millis(r.created_at),
            last_login_at: r.last_login_at.map(from_millis),
            locked_until: r.locked_until.map(from_millis),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct ApiKeyRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) display_prefix: String,
    pub(crate) tenant: String,
    pub(crate) scope: String,
    pub(crate) created_at: i64,
    pub(crate) last_used_at: Option<i64>,
    pub(crate) endpoint_id: Option<String>,
    pub(crate) default_source: Option<String>,
}

impl TryFrom<ApiKeyRow> for ApiKeyOut {
    type Error = EngineError;
    fn try_from(r: ApiKeyRow) -> Result<Self> {
        Ok(ApiKeyOut {
            id: stored_id(&r.id)?,
            name: r.name,
            prefix: r.display_prefix,
            tenant: r.tenant,
            scope: stored_id(&r.scope)?,
            endpoint_id: r.endpoint_id.as_deref().map(stored_id).transpose()?,
            default_source: r.default_source,
            created_at: from_millis(r.created_at),
            last_used_at: r.last_used_at.map(from_millis),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct TenantRow {
    pub(crate) id: String,
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) payload_dedup_window_ms: Option<i64>,
    pub(crate) ops_endpoint_id: Option<String>,
    pub(crate) dlq_alert_threshold: Option<i64>,
    pub(crate) event_retention_days: Option<i64>,
    pub(crate) stats_retention_days: Option<i64>,
    pub(crate) schema_mode: String,
    pub(crate) require_registered_types: bool,
    pub(crate) created_at: i64,
}

impl TryFrom<TenantRow> for TenantOut {
    type Error = EngineError;
    fn try_from(r: TenantRow) -> Result<Self> {
        Ok(TenantOut {
            id: stored_id(&r.id)?,
            slug: r.slug,
            name: r.name,
            payload_dedup_window_secs: r
                .payload_dedup_window_ms
                .and_then(|ms| u64::try_from(ms / 1_000).ok()),
            operations_endpoint_id: r.ops_endpoint_id.as_deref().map(stored_id).transpose()?,
            dlq_alert_threshold: r.dlq_alert_threshold.and_then(|n| u64::try_from(n).ok()),
            event_retention_days: r.event_retention_days.and_then(|n| u32::try_from(n).ok()),
            stats_retention_days: r.stats_retention_days.and_then(|n| u32::try_from(n).ok()),
            schema_mode: stored_id(&r.schema_mode)?,
            require_registered_types: r.require_registered_types,
            created_at: from_millis(r.created_at),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct AuditRow {
    pub(crate) id: String,
    pub(crate) tenant_id: Option<String>,
    pub(crate) at: i64,
    pub(crate) actor: String,
    pub(crate) role: String,
    pub(crate) action: String,
    pub(crate) target: String,
    pub(crate) summary: String,
    pub(crate) correlation_id: Option<String>,
}

impl TryFrom<AuditRow> for AuditOut {
    type Error = EngineError;
    fn try_from(r: AuditRow) -> Result<Self> {
        Ok(AuditOut {
            id: stored_id(&r.id)?,
            tenant_id: r.tenant_id.as_deref().map(stored_id).transpose()?,
            at: from_millis(r.at),
            actor: r.actor,
            role: r.role,
            action: r.action,
            target: r.target,
            summary: r.summary,
            correlation_id: r.correlation_id,
        })
    }
}

pub(crate) type CheckpointRow = (String, String, i64, Option<String>, String, i64);

pub(crate) fn checkpoint_out(
    (id, name, seq, endpoint, by, at): CheckpointRow,
) -> Result<CheckpointOut> {
    Ok(CheckpointOut {
        id: stored_id(&id)?,
        name,
        seq,
        endpoint_id: endpoint.as_deref().map(stored_id).transpose()?,
        created_by: by,
        created_at: from_millis(at),
    })
}

#[derive(FromRow)]
pub(crate) struct DlqEntryRow {
    pub(crate) id: String,
    pub(crate) delivery_id: String,
    pub(crate) endpoint_id: String,
    pub(crate) endpoint_url: String,
    pub(crate) endpoint_name: String,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) reason: String,
    pub(crate) error_class: Option<String>,
    pub(crate) attempts: i64,
    pub(crate) created_at: i64,
    pub(crate) last_status: Option<i64>,
}

impl TryFrom<DlqEntryRow> for DlqEntryOut {
    type Error = EngineError;
    fn try_from(r: DlqEntryRow) -> Result<Self> {
        Ok(DlqEntryOut {
            id: stored_id(&r.id)?,
            delivery_id: stored_id(&r.delivery_id)?,
            endpoint_id: stored_id(&r.endpoint_id)?,
            endpoint_url: r.endpoint_url,
            endpoint_name: r.endpoint_name,
            event_id: stored_id(&r.event_id)?,
            event_type: r.event_type,
            reason: r.reason,
            error_class: r.error_class.as_deref().map(stored_id).transpose()?,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            created_at: from_millis(r.created_at),
            last_status: r.last_status.and_then(|s| u16::try_from(s).ok()),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct EndpointRow {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) description: String,
    pub(crate) event_types: String,
    pub(crate) headers: String,
    pub(crate) semantics: String,
    pub(crate) retry_policy: String,
    pub(crate) retry_policy_id: Option<String>,
    pub(crate) timeout_ms: i64,
    pub(crate) max_in_flight: Option<i64>,
    pub(crate) ordering: String,
    pub(crate) on_dead: String,
    pub(crate) rate_limit: Option<i64>,
    pub(crate) rate_period_ms: Option<i64>,
    pub(crate) ack_timeout_secs: i64,
    pub(crate) breaker_settings: Option<String>,
    pub(crate) breaker_state: String,
    pub(crate) breaker_until: Option<i64>,
    pub(crate) breaker_opened_at: Option<i64>,
    pub(crate) breaker_trips: i64,
    pub(crate) breaker_failing_since: Option<i64>,
    pub(crate) disabled_reason: Option<String>,
    pub(crate) disabled_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) filter: Option<String>,
    pub(crate) transform: Option<String>,
}

impl TryFrom<EndpointRow> for EndpointOut {
    type Error = EngineError;
    fn try_from(r: EndpointRow) -> Result<Self> {
        let headers: BTreeMap<String, String> = from_json(&r.headers, "endpoint headers")?;
        Ok(EndpointOut {
            id: stored_id(&r.id)?,
            kind: stored_id(&r.kind)?,
            url: r.url,
            name: r.name,
            description: r.description,
            event_types: from_json(&r.event_types, "endpoint event types")?,
            filter: r
                .filter
                .as_deref()
                .map(|f| from_json(f, "endpoint filter"))
                .transpose()?,
            transform: r.transform,
            header_names: headers.into_keys().collect(),
            semantics: semantics_of(&r.semantics),
            retry_policy: from_json(&r.retry_policy, "retry policy")?,
            retry_policy_id: r.retry_policy_id.as_deref().map(stored_id).transpose()?,
            timeout_ms: u32::try_from(r.timeout_ms).unwrap_or(u32::MAX),
            max_in_flight: r.max_in_flight.and_then(|n| u32::try_from(n).ok()),
            ordering: stored_id(&r.ordering)?,
            on_dead: stored_id(&r.on_dead)?,
            rate_limit: rate_limit_of(r.rate_limit, r.rate_period_ms),
            ack_timeout_secs: u32::try_from(r.ack_timeout_secs).unwrap_or(u32::MAX),
            circuit_breaker: breaker_settings_of(r.breaker_settings.as_deref())?,
            breaker: breaker_of(
                &r.breaker_state,
                r.breaker_until,
                r.breaker_opened_at,
                r.breaker_trips,
                r.breaker_failing_since,
                to_millis(chrono::Utc::now()),
            ),
            enabled: r.disabled_at.is_none(),
            disabled_reason: r.disabled_reason,
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
            warnings: Vec::new(),
        })
    }
}

/// An endpoint's stored breaker settings (`None`: the defaults).
pub(crate) fn breaker_settings_of(stored: Option<&str>) -> Result<crate::model::BreakerSettings> {
    stored.map_or_else(
        || Ok(Default::default()),
        |text| from_json(text, "breaker settings"),
    )
}

/// An endpoint's breaker as stored, at `now_ms`: open until its probe time,
/// half-open after it.
pub(crate) fn breaker_of(
    state: &str,
    until: Option<i64>,
    opened_at: Option<i64>,
    trips: i64,
    failing_since: Option<i64>,
    now_ms: i64,
) -> crate::model::BreakerOut {
    use crate::model::{BreakerOut, BreakerState};
    if state != "open" {
        return BreakerOut::CLOSED;
    }
    BreakerOut {
        state: if until.is_some_and(|u| u > now_ms) {
            BreakerState::Open
        } else {
            BreakerState::HalfOpen
        },
        opened_at: opened_at.map(from_millis),
        probe_at: until.map(from_millis),
        trips: u32::try_from(trips).unwrap_or(0),
        failing_since: failing_since.map(from_millis),
    }
}

/// An endpoint's stored rate limit (a limit and its period), if it has one.
pub(crate) fn rate_limit_of(
    limit: Option<i64>,
    period_ms: Option<i64>,
) -> Option<crate::model::RateLimit> {
    Some(crate::model::RateLimit {
        limit: u32::try_from(limit?).ok()?,
        per: crate::model::RatePer::of_period_ms(period_ms?)?,
    })
}

#[derive(Clone, FromRow)]
pub(crate) struct EventRow {
    pub(crate) id: String,
    pub(crate) seq: i64,
    pub(crate) event_type: String,
    pub(crate) payload: String,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) entity_id: Option<String>,
    pub(crate) metadata: Option<String>,
    pub(crate) received_at: i64,
    pub(crate) ordering_key: Option<String>,
    pub(crate) expunged_at: Option<i64>,
    pub(crate) schema_version: Option<i64>,
    pub(crate) schema_problems: Option<String>,
    pub(crate) source: Option<String>,
}

impl TryFrom<EventRow> for EventOut {
    type Error = EngineError;
    fn try_from(r: EventRow) -> Result<Self> {
        Ok(EventOut {
            id: stored_id(&r.id)?,
            seq: r.seq,
            event_type: r.event_type,
            payload: from_json(&r.payload, "event payload")?,
            idempotency_key: r.idempotency_key,
            correlation_id: r.correlation_id,
            entity_id: r.entity_id,
            ordering_key: r.ordering_key,
            metadata: r
                .metadata
                .as_deref()
                .map(|m| from_json(m, "event metadata"))
                .transpose()?,
            source: r.source,
            received_at: from_millis(r.received_at),
            expunged_at: r.expunged_at.map(from_millis),
            schema_version: r.schema_version.and_then(|v| u32::try_from(v).ok()),
            schema_problems: r
                .schema_problems
                .as_deref()
                .map(|p| from_json(p, "event schema problems"))
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct SummaryRow {
    pub(crate) id: String,
    pub(crate) seq: i64,
    pub(crate) event_type: String,
    pub(crate) correlation_id: Option<String>,
    pub(crate) entity_id: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) received_at: i64,
    pub(crate) deliveries: i64,
    pub(crate) succeeded: i64,
    pub(crate) dead: i64,
}

impl TryFrom<SummaryRow> for EventSummary {
    type Error = crate::EngineError;
    fn try_from(r: SummaryRow) -> Result<Self> {
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(EventSummary {
            id: stored_id(&r.id)?,
            seq: r.seq,
            event_type: r.event_type,
            correlation_id: r.correlation_id,
            entity_id: r.entity_id,
            source: r.source,
            received_at: from_millis(r.received_at),
            deliveries: count(r.deliveries),
            succeeded: count(r.succeeded),
            dead: count(r.dead),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct PolicyRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) policy: String,
    pub(crate) endpoints: i64,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl TryFrom<PolicyRow> for RetryPolicyOut {
    type Error = EngineError;
    fn try_from(r: PolicyRow) -> Result<Self> {
        let policy: RetryPolicy = from_json(&r.policy, "retry policy")?;
        Ok(RetryPolicyOut {
            id: stored_id(&r.id)?,
            name: r.name,
            description: r.description,
            schedule_secs: policy.preview_offsets_secs(),
            policy,
            endpoints: u32::try_from(r.endpoints).unwrap_or(u32::MAX),
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct JobRow {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) state: String,
    pub(crate) filter: String,
    pub(crate) reason: String,
    pub(crate) rate_per_second: f64,
    pub(crate) total: i64,
    pub(crate) dispatched: i64,
    pub(crate) deliveries: i64,
    pub(crate) ordered: bool,
    pub(crate) created_by: String,
    pub(crate) error: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) started_at: Option<i64>,
    pub(crate) finished_at: Option<i64>,
    pub(crate) updated_at: i64,
    pub(crate) transform: Option<String>,
}

impl JobRow {
    /// The job as the API shows it, given how many of its deliveries are in
    /// each state (`(state, count)` rows).
    pub(crate) fn into_out(self, states: &[(String, i64)]) -> Result<ReplayOut> {
        let row = self;
        let of = |s: &str| {
            states
                .iter()
                .filter(|(state, _)| state == s)
                .map(|(_, n)| count(*n))
                .sum::<u64>()
        };
        Ok(ReplayOut {
            id: stored_id(&row.id)?,
            tenant_id: stored_id(&row.tenant_id)?,
            state: ReplayState::parse(&row.state).ok_or_else(|| {
                EngineError::Internal(format!("unknown replay state {}", row.state))
            })?,
            filter: from_json(&row.filter, "replay filter")?,
            reason: row.reason,
            transform: row.transform,
            rate_per_second: row.rate_per_second,
            total: count(row.total),
            dispatched: count(row.dispatched),
            deliveries: count(row.deliveries),
            succeeded: of("succeeded"),
            failed: of("dead"),
            in_progress: of("pending") + of("in_flight"),
            ordered: row.ordered,
            created_by: row.created_by,
            error: row.error,
            created_at: from_millis(row.created_at),
            started_at: row.started_at.map(from_millis),
            finished_at: row.finished_at.map(from_millis),
            updated_at: from_millis(row.updated_at),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct DeliveryRow {
    pub(crate) id: String,
    pub(crate) endpoint_id: String,
    pub(crate) state: String,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_at: Option<i64>,
    pub(crate) stream: Option<String>,
    pub(crate) acked_at: Option<i64>,
}

#[derive(FromRow)]
pub(crate) struct AttemptRow {
    pub(crate) id: String,
    pub(crate) delivery_id: String,
    pub(crate) attempt_no: i64,
    pub(crate) trigger: String,
    pub(crate) started_at: i64,
    pub(crate) latency_ms: i64,
    pub(crate) request_headers: String,
    pub(crate) response_status: Option<i64>,
    pub(crate) response_headers: String,
    pub(crate) response_excerpt: String,
    pub(crate) error_class: Option<String>,
    pub(crate) error_message: Option<String>,
}

impl TryFrom<AttemptRow> for AttemptOut {
    type Error = EngineError;
    fn try_from(a: AttemptRow) -> Result<Self> {
        Ok(AttemptOut {
            id: stored_id::<AttemptId>(&a.id)?,
            attempt: u32::try_from(a.attempt_no).unwrap_or(0),
            trigger: stored_id(&a.trigger)?,
            started_at: from_millis(a.started_at),
            latency_ms: count(a.latency_ms),
            request_headers: from_json(&a.request_headers, "request headers")?,
            response_status: a.response_status.and_then(|s| u16::try_from(s).ok()),
            response_headers: from_json(&a.response_headers, "response headers")?,
            response_excerpt: a.response_excerpt,
            error_class: a.error_class.as_deref().map(stored_id).transpose()?,
            error_message: a.error_message,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct ActionRow {
    pub(crate) delivery_id: String,
    pub(crate) action: String,
    pub(crate) actor: String,
    pub(crate) reason: String,
    pub(crate) replay_id: Option<String>,
    pub(crate) created_at: i64,
}

impl TryFrom<ActionRow> for DeliveryActionOut {
    type Error = EngineError;
    fn try_from(a: ActionRow) -> Result<Self> {
        Ok(DeliveryActionOut {
            action: a.action,
            actor: a.actor,
            reason: a.reason,
            replay_id: a.replay_id.as_deref().map(stored_id).transpose()?,
            created_at: from_millis(a.created_at),
        })
    }
}

/// One event with its deliveries, each with its attempts and the actions
/// people took on it, from the rows of `sql::DELIVERIES_OF_EVENT`,
/// `ATTEMPTS_OF_EVENT` and `ACTIONS_OF_EVENT`.
pub(crate) fn event_detail(
    event: EventRow,
    deliveries: Vec<DeliveryRow>,
    attempts: Vec<AttemptRow>,
    actions: Vec<ActionRow>,
) -> Result<EventDetail> {
    let mut attempts_of: HashMap<String, Vec<AttemptOut>> = HashMap::new();
    for a in attempts {
        let delivery = a.delivery_id.clone();
        attempts_of.entry(delivery).or_default().push(a.try_into()?);
    }
    let mut actions_of: HashMap<String, Vec<DeliveryActionOut>> = HashMap::new();
    for a in actions {
        let delivery = a.delivery_id.clone();
        actions_of.entry(delivery).or_default().push(a.try_into()?);
    }
    let deliveries = deliveries
        .into_iter()
        .map(|d| {
            Ok(DeliveryOut {
                attempt_log: attempts_of.remove(&d.id).unwrap_or_default(),
                actions: actions_of.remove(&d.id).unwrap_or_default(),
                id: stored_id(&d.id)?,
                endpoint_id: stored_id(&d.endpoint_id)?,
                state: stored_id(&d.state)?,
                attempts: u32::try_from(d.attempts).unwrap_or(0),
                next_attempt_at: d.next_attempt_at.map(from_millis),
                stream: d.stream,
                acked_at: d.acked_at.map(from_millis),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EventDetail {
        event: event.try_into()?,
        deliveries,
    })
}
