//! Named retry policies.

use super::*;

#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// Fails with `Conflict` when the tenant already has a policy of that name.
    /// Creates the policy (with the id the caller chose) and appends `audit`,
    /// in one transaction.
    async fn create_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
        policy: RetryPolicyIn,
        audit: &NewAudit,
    ) -> Result<RetryPolicyOut>;
    async fn get_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
    ) -> Result<Option<RetryPolicyOut>>;
    async fn list_retry_policies(
        &self,
        tenant: TenantId,
        after: Option<RetryPolicyId>,
        limit: u32,
    ) -> Result<Page<RetryPolicyOut>>;
    /// A changed policy applies to every endpoint following it, from its next attempt.
    async fn update_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
        patch: RetryPolicyPatch,
        audit: &NewAudit,
    ) -> Result<Option<RetryPolicyOut>>;
    /// Fails with `Conflict` while an endpoint follows the policy.
    async fn delete_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
        audit: &NewAudit,
    ) -> Result<bool>;
}
