//! SQLite: reading events back: the event list, one event with its deliveries
//! and receipts, and the event types a tenant has published.

use async_trait::async_trait;
use std::collections::HashMap;

use sqlx::{FromRow, QueryBuilder, Sqlite};

use super::endpoints::{EVENT_COLUMNS, EventRow, from_json};

use crate::Result;
use crate::model::EventQuery;
use crate::model::{
    AttemptId, AttemptOut, DeliveryActionOut, DeliveryOut, EventDetail, EventId, EventOut, Page,
    TenantId,
};
use crate::store::{
    EventSummary, EventTypeSummary, Ingested, Publish, SqliteStore, from_millis, page_of,
    stored_id, to_millis,
};

/// One row of an event list, with its delivery counts: the select ends with
/// `where e.tenant_id = ` for the caller to bind and narrow.
pub(super) const SUMMARY_SELECT: &str = r"select e.id, e.seq, e.event_type, e.correlation_id, e.entity_id, e.received_at,
       (select count(*) from deliveries d where d.event_id = e.id) as deliveries,
       (select count(*) from deliveries d where d.event_id = e.id and d.state = 'succeeded') as succeeded,
       (select count(*) from deliveries d where d.event_id = e.id and d.state = 'dead') as dead
  from events e where e.tenant_id = ";

#[derive(FromRow)]
pub(super) struct SummaryRow {
    id: String,
    seq: i64,
    event_type: String,
    correlation_id: Option<String>,
    entity_id: Option<String>,
    received_at: i64,
    deliveries: i64,
    succeeded: i64,
    dead: i64,
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
            received_at: from_millis(r.received_at),
            deliveries: count(r.deliveries),
            succeeded: count(r.succeeded),
            dead: count(r.dead),
        })
    }
}

#[async_trait]
impl crate::store::EventStore for SqliteStore {
    async fn event_types(&self, tenant: TenantId) -> Result<Vec<EventTypeSummary>> {
        // Kept up to date by ingest: no counting over the events themselves.
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            r"select event_type, events, last_seen_at from event_type_stats
              where tenant_id = $1 order by event_type",
        )
        .bind(tenant.to_string())
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(event_type, events, last)| EventTypeSummary {
                event_type,
                events: u64::try_from(events).unwrap_or(0),
                last_seen_at: from_millis(last),
            })
            .collect())
    }

    async fn event_detail(&self, tenant: TenantId, id: EventId) -> Result<Option<EventDetail>> {
        let Some(row) = sqlx::query_as::<_, EventRow>(&format!(
            "select {EVENT_COLUMNS} from events where tenant_id = $1 and id = $2"
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await?
        else {
            return Ok(None);
        };
        let event = EventOut::try_from(row)?;

        #[derive(FromRow)]
        struct DeliveryRow {
            id: String,
            endpoint_id: String,
            state: String,
            attempts: i64,
            next_attempt_at: Option<i64>,
        }
        let deliveries = sqlx::query_as::<_, DeliveryRow>(
            "select id, endpoint_id, state, attempts, next_attempt_at from deliveries where event_id = $1 order by id",
        )
        .bind(id.to_string())
        .fetch_all(self.reader())
        .await?;

        #[derive(FromRow)]
        struct AttemptRow {
            id: String,
            delivery_id: String,
            attempt_no: i64,
            trigger: String,
            started_at: i64,
            latency_ms: i64,
            request_headers: String,
            response_status: Option<i64>,
            response_headers: String,
            response_excerpt: String,
            error_class: Option<String>,
            error_message: Option<String>,
        }
        let attempts = sqlx::query_as::<_, AttemptRow>(
            r"select a.id, a.delivery_id, a.attempt_no, a.trigger, a.started_at, a.latency_ms, a.request_headers,
                     a.response_status, a.response_headers, a.response_excerpt, a.error_class, a.error_message
              from attempts a join deliveries d on d.id = a.delivery_id
              where d.event_id = $1 order by a.delivery_id, a.attempt_no",
        )
        .bind(id.to_string())
        .fetch_all(self.reader())
        .await?;
        let mut by_delivery: HashMap<String, Vec<AttemptOut>> = HashMap::new();
        for a in attempts {
            let out = AttemptOut {
                id: stored_id::<AttemptId>(&a.id)?,
                attempt: u32::try_from(a.attempt_no).unwrap_or(0),
                trigger: from_json(&format!("\"{}\"", a.trigger), "attempt trigger")?,
                started_at: from_millis(a.started_at),
                latency_ms: u64::try_from(a.latency_ms).unwrap_or(0),
                request_headers: from_json(&a.request_headers, "request headers")?,
                response_status: a.response_status.and_then(|s| u16::try_from(s).ok()),
                response_headers: from_json(&a.response_headers, "response headers")?,
                response_excerpt: a.response_excerpt,
                error_class: a
                    .error_class
                    .map(|c| from_json(&format!("\"{c}\""), "error class"))
                    .transpose()?,
                error_message: a.error_message,
            };
            by_delivery.entry(a.delivery_id).or_default().push(out);
        }
        let mut actions: HashMap<String, Vec<DeliveryActionOut>> = HashMap::new();
        let rows: Vec<(String, String, String, String, Option<String>, i64)> = sqlx::query_as(
            r"select a.delivery_id, a.action, a.actor, a.reason, a.replay_id, a.created_at
              from delivery_actions a join deliveries d on d.id = a.delivery_id
              where d.event_id = $1 order by a.created_at, a.id",
        )
        .bind(id.to_string())
        .fetch_all(self.reader())
        .await?;
        for (delivery, action, actor, reason, replay, at) in rows {
            actions
                .entry(delivery)
                .or_default()
                .push(DeliveryActionOut {
                    action,
                    actor,
                    reason,
                    replay_id: replay.as_deref().map(stored_id).transpose()?,
                    created_at: from_millis(at),
                });
        }
        let deliveries = deliveries
            .into_iter()
            .map(|d| {
                Ok(DeliveryOut {
                    attempt_log: by_delivery.remove(&d.id).unwrap_or_default(),
                    actions: actions.remove(&d.id).unwrap_or_default(),
                    id: stored_id(&d.id)?,
                    endpoint_id: stored_id(&d.endpoint_id)?,
                    state: from_json(&format!("\"{}\"", d.state), "delivery state")?,
                    attempts: u32::try_from(d.attempts).unwrap_or(0),
                    next_attempt_at: d.next_attempt_at.map(from_millis),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(EventDetail { event, deliveries }))
    }

    async fn list_events(
        &self,
        tenant: TenantId,
        filter: &EventQuery,
        limit: u32,
    ) -> Result<Page<EventSummary>> {
        let mut q = QueryBuilder::<Sqlite>::new(SUMMARY_SELECT);
        q.push_bind(tenant.to_string());
        if let Some(t) = &filter.event_type {
            q.push(" and e.event_type = ").push_bind(t.clone());
        }
        if let Some(c) = &filter.correlation_id {
            q.push(" and e.correlation_id = ").push_bind(c.clone());
        }
        if let Some(en) = &filter.entity_id {
            q.push(" and e.entity_id = ").push_bind(en.clone());
        }
        if let Some(from) = filter.from {
            q.push(" and e.received_at >= ").push_bind(to_millis(from));
        }
        if let Some(to) = filter.to {
            q.push(" and e.received_at < ").push_bind(to_millis(to));
        }
        if let Some(before) = filter.cursor {
            q.push(" and e.id < ").push_bind(before.to_string());
        }
        if filter.endpoint_id.is_some() || filter.state.is_some() {
            q.push(" and exists (select 1 from deliveries d where d.event_id = e.id");
            if let Some(ep) = filter.endpoint_id {
                q.push(" and d.endpoint_id = ").push_bind(ep.to_string());
            }
            if let Some(state) = filter.state {
                q.push(" and d.state = ").push_bind(state.as_str());
            }
            q.push(")");
        }
        q.push(" order by e.id desc limit ")
            .push_bind(i64::from(limit) + 1);

        let items = q
            .build_query_as::<SummaryRow>()
            .fetch_all(self.reader())
            .await?
            .into_iter()
            .map(EventSummary::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, limit, |e| e.id.to_string()))
    }

    async fn ingest_group(&self, group: Vec<Publish>) -> Result<Vec<Result<Vec<Ingested>>>> {
        super::ingest::write_group(self.pool(), group).await
    }
}
