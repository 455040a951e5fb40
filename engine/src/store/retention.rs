//! Retention: removing what tenants no longer keep, in small batches, and
//! erasing one event for a privacy request.

use super::*;

/// A tenant's retention settings, in days (`None`: kept forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub tenant_id: TenantId,
    pub events_days: Option<u32>,
    pub stats_days: Option<u32>,
}

/// What one pruning batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Events removed, with their deliveries, receipts and actions.
    pub removed: u64,
    /// Events looked at and kept: a delivery of theirs is pending, in
    /// flight, awaiting its acknowledgement or in the dead-letter queue.
    pub held: u64,
    /// The last event looked at: the next batch starts after it. `None`
    /// when nothing older than the cutoff is left to look at.
    pub cursor: Option<String>,
}

/// What erasing an event did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expunged {
    /// Receipts whose response headers and body were erased.
    pub receipts: u64,
    /// Deliveries still waiting that were ended (never to send an erased payload).
    pub deliveries_ended: u64,
    /// Dead-letter entries taken out of the queue.
    pub dlq_removed: u64,
}

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Every tenant that keeps events or statistics for a limited time.
    async fn retentions(&self) -> Result<Vec<Retention>>;
    /// Removes up to `limit` of the tenant's events received before
    /// `before`, starting after `cursor` (in id order), in one short
    /// transaction; an event with a delivery still pending, in flight,
    /// awaiting acknowledgement or in the DLQ is kept.
    async fn prune_events(
        &self,
        tenant: TenantId,
        before: DateTime<Utc>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Pruned>;
    /// Removes up to `limit` of the tenant's statistics rows whose bucket
    /// starts before `before`; returns how many.
    async fn prune_stats(&self, tenant: TenantId, before: DateTime<Utc>, limit: u32)
    -> Result<u64>;
    /// Erases an event's payload, metadata and payload digest and its
    /// receipts' response headers and bodies, keeping that it existed; ends
    /// its deliveries that still wait and takes its entries out of the DLQ.
    /// Refused (conflict) while one of its deliveries is in flight.
    async fn expunge_event(
        &self,
        tenant: TenantId,
        event: EventId,
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, Expunged>,
    ) -> Result<Expunged>;
}
