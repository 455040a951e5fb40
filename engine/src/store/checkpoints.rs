//! Checkpoints: named positions in the event sequence.

use super::*;

#[async_trait]
pub trait CheckpointStore: Send + Sync {
    async fn create_checkpoint(
        &self,
        tenant: TenantId,
        input: &CheckpointIn,
        actor: &Actor,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, CheckpointOut>,
    ) -> Result<CheckpointOut>;
    /// The tenant's checkpoints (or just `id`), newest position first.
    async fn list_checkpoints(
        &self,
        tenant: TenantId,
        id: Option<CheckpointId>,
    ) -> Result<Vec<CheckpointOut>>;
    /// A page of the tenant's checkpoints, newest first, after the cursor `before`.
    async fn page_checkpoints(
        &self,
        tenant: TenantId,
        before: Option<CheckpointId>,
        limit: u32,
    ) -> Result<Page<CheckpointOut>>;
}
