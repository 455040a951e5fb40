//! Ingest (events and their deliveries, durable in one transaction) and the events read back.

use super::*;

#[async_trait]
pub trait EventStore: Send + Sync {
    /// All or nothing. An idempotency key seen before (in the tenant, or earlier
    /// in the same batch) yields the original event and creates nothing.
    async fn ingest(
        &self,
        tenant: TenantId,
        events: Vec<NewEvent>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Ingested>>;
    /// [`EventStore::ingest`] with an audit entry, built from what was
    /// ingested, that commits with the events.
    async fn ingest_audited(
        &self,
        tenant: TenantId,
        events: Vec<NewEvent>,
        now: DateTime<Utc>,
        audit: IngestAudit,
    ) -> Result<Vec<Ingested>>;
    /// Every event type the tenant has published, alphabetically.
    async fn event_types(&self, tenant: TenantId) -> Result<Vec<EventTypeSummary>>;
    async fn event_detail(&self, tenant: TenantId, id: EventId) -> Result<Option<EventDetail>>;
    async fn list_events(
        &self,
        tenant: TenantId,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Page<EventSummary>>;
}
