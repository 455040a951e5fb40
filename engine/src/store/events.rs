//! Ingest (events and their deliveries, durable in one transaction) and the events read back.

use super::*;

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Writes a group of publish requests in one transaction, each request
    /// all or nothing on its own: a failing one changes nothing and fails none
    /// of its neighbours. One answer per request, in order; `Err` when the
    /// transaction itself failed and nothing in it was stored. An idempotency
    /// key seen before (in the tenant, or earlier in the same request) yields
    /// the original event and creates nothing.
    async fn ingest_group(&self, group: Vec<Publish>) -> Result<Vec<Result<Vec<Ingested>>>>;
    /// One publish request on its own, in its own transaction.
    async fn ingest(
        &self,
        tenant: TenantId,
        events: Vec<NewEvent>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Ingested>> {
        let publish = Publish {
            tenant,
            events,
            now,
            audit: None,
            catalog_revision: None,
        };
        self.ingest_group(vec![publish])
            .await?
            .pop()
            .unwrap_or_else(|| {
                Err(EngineError::Internal(
                    "an ingest group lost its answer".into(),
                ))
            })
    }
    /// Every event type the tenant has published, alphabetically.
    async fn event_types(&self, tenant: TenantId) -> Result<Vec<EventTypeSummary>>;
    async fn event_detail(&self, tenant: TenantId, id: EventId) -> Result<Option<EventDetail>>;
    async fn list_events(
        &self,
        tenant: TenantId,
        filter: &EventQuery,
        limit: u32,
    ) -> Result<Page<EventSummary>>;
    /// The endpoint's deliveries of the tenant's newest events, newest first.
    async fn recent_deliveries(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        limit: u32,
    ) -> Result<Vec<crate::model::RecentDelivery>>;
}
