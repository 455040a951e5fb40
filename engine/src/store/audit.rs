//! The audit log. A change appends its entry inside its own transaction; this
//! area reads the log and appends entries that record no change (sign-ins).

use super::*;

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, entry: NewAudit) -> Result<()>;
    /// Newest first. `tenant: None` lists every tenant's entries and the
    /// console-wide ones (global admins); `Some` lists that tenant's only.
    async fn list_audit(
        &self,
        tenant: Option<TenantId>,
        filter: &AuditQuery,
        limit: u32,
    ) -> Result<Page<AuditOut>>;
}
