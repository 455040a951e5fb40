//! Delivery statistics and the gauges `/metrics` reports.

use super::*;

#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Adds samples to the delivery statistics (recording attempts does this itself).
    async fn record_stats(&self, samples: Vec<StatSample>) -> Result<()>;
    /// The tenant's delivery statistics for a range.
    async fn stats(&self, tenant: TenantId, query: &StatsScope) -> Result<crate::model::StatsOut>;
    /// Queue, DLQ, endpoint and replay counts for `/metrics`, across tenants.
    async fn gauges(&self, now: DateTime<Utc>) -> Result<crate::metrics::Gauges>;
}
