//! Endpoints, their signing secrets and their backlog.

use super::*;

#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Creates the endpoint and appends `audit`, in one transaction.
    async fn create_endpoint(
        &self,
        tenant: TenantId,
        endpoint: NewEndpoint,
        audit: &NewAudit,
    ) -> Result<EndpointOut>;
    async fn get_endpoint(&self, tenant: TenantId, id: EndpointId) -> Result<Option<EndpointOut>>;
    async fn list_endpoints(
        &self,
        tenant: TenantId,
        after: Option<EndpointId>,
        limit: u32,
    ) -> Result<Page<EndpointOut>>;
    /// Applies a checked patch; `None` when there is no such endpoint in the tenant.
    async fn update_endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
        patch: crate::model::EndpointPatch,
        audit: &NewAudit,
    ) -> Result<Option<EndpointOut>>;
    /// What is queued and parked for each of these endpoints (absent: nothing).
    async fn endpoint_backlog(
        &self,
        tenant: TenantId,
        endpoints: &[EndpointId],
    ) -> Result<std::collections::HashMap<EndpointId, crate::model::EndpointBacklog>>;
    /// The endpoint's ordered streams that a DLQ entry holds up (its
    /// `on_dead` is `block`), oldest entry first, at most `limit`.
    async fn blocked_streams(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        limit: u32,
    ) -> Result<Vec<crate::model::BlockedStream>>;
    /// Soft-deletes; its pending deliveries end as dead when next claimed.
    async fn delete_endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
        audit: &NewAudit,
    ) -> Result<bool>;
    /// Turns an endpoint off (with a reason) or back on. False when there is
    /// no such endpoint in the tenant.
    async fn set_endpoint_enabled(
        &self,
        tenant: TenantId,
        id: EndpointId,
        enabled: bool,
        reason: Option<&str>,
        audit: Option<&NewAudit>,
    ) -> Result<bool>;
    /// Ends every pending delivery of the endpoint (none in flight) dead,
    /// without a DLQ entry: the backlog an operator chose to drop. Appends
    /// the audit entry `audit` makes of how many, in the same transaction.
    async fn discard_backlog(
        &self,
        tenant: TenantId,
        id: EndpointId,
        audit: &AuditWith<'_, u64>,
    ) -> Result<u64>;
    /// Makes `secret` the endpoint's signing secret; every older one keeps
    /// signing alongside it until `old_valid_until` at the latest. False when
    /// there is no such endpoint in the tenant.
    async fn rotate_secret(
        &self,
        tenant: TenantId,
        id: EndpointId,
        secret: crate::sign::Secret,
        old_valid_until: DateTime<Utc>,
        audit: &NewAudit,
    ) -> Result<bool>;
    /// Re-seals every endpoint secret and header value not sealed under the
    /// vault's current key (values in clear included), in one transaction;
    /// returns how many values changed. `audit` is asked for an entry before the
    /// commit.
    async fn reseal_secrets(&self, audit: &AuditWith<'_, u64>) -> Result<u64>;
}
