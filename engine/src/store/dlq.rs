//! The dead-letter queue.

use super::*;

#[async_trait]
pub trait DlqStore: Send + Sync {
    async fn list_dlq(
        &self,
        tenant: TenantId,
        filter: &DlqQuery,
        limit: u32,
    ) -> Result<Page<DlqEntryOut>>;
    async fn dlq_count(&self, tenant: TenantId, filter: &DlqQuery) -> Result<u64>;
    async fn dlq_entry(&self, tenant: TenantId, id: DlqEntryId) -> Result<Option<DlqDetail>>;
    /// Up to `limit` ids of entries matching `filter`, newest first.
    async fn dlq_ids(
        &self,
        tenant: TenantId,
        filter: &DlqQuery,
        limit: u32,
    ) -> Result<Vec<DlqEntryId>>;
    /// Starts a fresh attempt chain for each entry's delivery (same webhook-id)
    /// and takes it out of the DLQ, recording who and why; at most
    /// [`REPROCESS_BATCH`] ids per call, in one transaction.
    async fn reprocess_dlq(
        &self,
        tenant: TenantId,
        ids: &[DlqEntryId],
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, ReprocessOut>,
    ) -> Result<ReprocessOut>;
    /// Removes the entry (the delivery stays dead), recording who and why, and
    /// appends `audit`, in one transaction.
    async fn discard_dlq(
        &self,
        tenant: TenantId,
        id: DlqEntryId,
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
        audit: &NewAudit,
    ) -> Result<bool>;
}
