//! What operational webhooks read: a tenant's operations endpoint, and the
//! tenants whose dead-letter queue crossed their alert threshold.

use super::*;

/// A tenant whose dead-letter queue went past its threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqAlert {
    pub tenant_id: TenantId,
    /// Entries in the queue when it was counted (at least `threshold + 1`).
    pub entries: u64,
    pub threshold: u64,
}

#[async_trait]
pub trait OpsStore: Send + Sync {
    /// The tenant's operations endpoint, when it names one that exists.
    async fn operations_endpoint(&self, tenant: TenantId) -> Result<Option<EndpointId>>;
    /// The tenants whose dead-letter queue holds more entries than their
    /// threshold and who were not told yet: each is marked told, so of
    /// several nodes asking at once one gets it. A tenant whose queue is
    /// back at or under its threshold is unmarked, to be told again when it
    /// next crosses it.
    async fn dlq_alerts(&self, now: DateTime<Utc>) -> Result<Vec<DlqAlert>>;
}
