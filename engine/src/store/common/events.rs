//! SQLite: reading events back: the event list, one event with its deliveries
//! and receipts, and the event types a tenant has published.

use async_trait::async_trait;

use super::Db;
use sqlx::QueryBuilder;

use crate::store::rows::{ActionRow, AttemptRow, DeliveryRow, EventRow, SummaryRow, event_detail};
use crate::store::sql::{
    ACTIONS_OF_EVENT, ATTEMPTS_OF_EVENT, DELIVERIES_OF_EVENT, EVENT_COLUMNS, SUMMARY_SELECT,
};

use super::This;
use super::{Conditions, row_by_id};
use crate::Result;
use crate::model::EventQuery;
use crate::model::{EndpointId, EventDetail, EventId, Page, TenantId};
use crate::store::{
    EventSummary, EventTypeSummary, Ingested, Publish, from_millis, page_of, stored_id,
};

#[async_trait]
impl crate::store::EventStore for This {
    async fn event_types(&self, tenant: TenantId) -> Result<Vec<EventTypeSummary>> {
        // Kept up to date by ingest: no counting over the events themselves.
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            r"select event_type, events, last_seen_at, schema_warnings from event_type_stats
              where tenant_id = $1 order by event_type",
        )
        .bind(tenant.to_string())
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(event_type, events, last, warnings)| EventTypeSummary {
                event_type,
                events: u64::try_from(events).unwrap_or(0),
                last_seen_at: from_millis(last),
                schema_warnings: u64::try_from(warnings).unwrap_or(0),
            })
            .collect())
    }

    async fn event_detail(&self, tenant: TenantId, id: EventId) -> Result<Option<EventDetail>> {
        // One read transaction, so the page shows one moment: read statement
        // by statement, a receipt committed in between would show a delivery
        // from before an attempt beside that attempt.
        let mut read = self.snapshot().await?;
        let sql = format!("select {EVENT_COLUMNS} from events where tenant_id = $1 and id = $2");
        let Some(row) = row_by_id::<EventRow>(&mut *read, &sql, tenant, id).await? else {
            return Ok(None);
        };
        let deliveries = sqlx::query_as::<_, DeliveryRow>(DELIVERIES_OF_EVENT)
            .bind(id.to_string())
            .fetch_all(&mut *read)
            .await?;
        let attempts = sqlx::query_as::<_, AttemptRow>(ATTEMPTS_OF_EVENT)
            .bind(id.to_string())
            .fetch_all(&mut *read)
            .await?;
        let actions = sqlx::query_as::<_, ActionRow>(ACTIONS_OF_EVENT)
            .bind(id.to_string())
            .fetch_all(&mut *read)
            .await?;
        read.commit().await?;
        event_detail(row, deliveries, attempts, actions).map(Some)
    }

    async fn list_events(
        &self,
        tenant: TenantId,
        filter: &EventQuery,
        limit: u32,
    ) -> Result<Page<EventSummary>> {
        let mut q = QueryBuilder::<Db>::new(SUMMARY_SELECT);
        q.push_bind(tenant.to_string());
        Conditions(&mut q)
            .eq("e.event_type", filter.event_type.clone())
            .eq("e.correlation_id", filter.correlation_id.clone())
            .eq("e.entity_id", filter.entity_id.clone())
            .eq("e.source", filter.source.clone())
            .between("e.received_at", filter.from, filter.to)
            .before("e.id", filter.cursor);
        if filter.endpoint_id.is_some() || filter.state.is_some() {
            q.push(" and exists (select 1 from deliveries d where d.event_id = e.id");
            Conditions(&mut q)
                .eq("d.endpoint_id", filter.endpoint_id.map(|e| e.to_string()))
                .eq("d.state", filter.state.map(|s| s.as_str()));
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

    async fn recent_deliveries(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        limit: u32,
    ) -> Result<Vec<crate::model::RecentDelivery>> {
        type Row = (
            String,
            String,
            String,
            String,
            i64,
            i64,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<i64>,
        );
        // Newest events first, each looked up by (event, endpoint): the
        // events list's order and index, stopping at `limit`.
        let rows: Vec<Row> = sqlx::query_as(
            r"select d.id, d.event_id, e.event_type, d.state, d.attempts, d.created_at,
                     a.response_status, a.latency_ms, a.error_class, a.started_at
              from events e
              join deliveries d on d.event_id = e.id and d.endpoint_id = $2
              left join attempts a on a.delivery_id = d.id and a.attempt_no = d.attempts
              where e.tenant_id = $1
              order by e.id desc
              limit $3",
        )
        .bind(tenant.to_string())
        .bind(endpoint.to_string())
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter()
            .map(
                |(id, event, event_type, state, attempts, created, status, latency, class, at)| {
                    Ok(crate::model::RecentDelivery {
                        delivery_id: stored_id(&id)?,
                        event_id: stored_id(&event)?,
                        event_type,
                        state: stored_id(&state)?,
                        attempts: u32::try_from(attempts).unwrap_or(0),
                        created_at: from_millis(created),
                        last_status: status.and_then(|s| u16::try_from(s).ok()),
                        last_latency_ms: latency.and_then(|l| u64::try_from(l).ok()),
                        last_error_class: class.as_deref().map(stored_id).transpose()?,
                        last_attempt_at: at.map(from_millis),
                    })
                },
            )
            .collect()
    }

    async fn ingest_group(&self, group: Vec<Publish>) -> Result<Vec<Result<Vec<Ingested>>>> {
        super::ingest::write_group(self, group).await
    }
}
