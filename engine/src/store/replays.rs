//! Single-event replays and replay jobs.

use super::*;

#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Re-arms the event's deliveries (to `endpoints`, or to every endpoint it
    /// matches now). `None` when the event is not the tenant's.
    #[allow(clippy::too_many_arguments)] // the row's inputs and the audit entry
    async fn replay_event(
        &self,
        tenant: TenantId,
        event: EventId,
        endpoints: Option<&[EndpointId]>,
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, Vec<ReplayedDelivery>>,
    ) -> Result<Option<Vec<ReplayedDelivery>>>;
    async fn replay_preview(
        &self,
        tenant: TenantId,
        filter: &ReplayFilter,
        max_events: Option<u64>,
    ) -> Result<ReplayPreview>;
    async fn create_replay(
        &self,
        tenant: TenantId,
        replay: NewReplay,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, ReplayPreview>,
    ) -> Result<ReplayOut>;
    /// The job (of `tenant`, when given).
    async fn get_replay(&self, tenant: Option<TenantId>, id: ReplayId)
    -> Result<Option<ReplayOut>>;
    async fn list_replays(
        &self,
        tenant: TenantId,
        before: Option<ReplayId>,
        limit: u32,
    ) -> Result<Page<ReplayOut>>;
    /// Moves a job (of `tenant`, when given) from one of `from` to `to`;
    /// false when it was in none of those states.
    #[allow(clippy::too_many_arguments)] // the row's inputs and the audit entry
    async fn set_replay_state(
        &self,
        tenant: Option<TenantId>,
        id: ReplayId,
        from: &[ReplayState],
        to: ReplayState,
        error: Option<&str>,
        now: DateTime<Utc>,
        audit: Option<&NewAudit>,
    ) -> Result<bool>;
    /// Every pending or running job, across tenants.
    async fn active_replays(&self) -> Result<Vec<(ReplayId, ReplayState)>>;
    /// The runner's view: leases to this node, until `until`, every pending
    /// or running job that no other node holds (no owner, or a lease that
    /// ended before `now`), renews those it holds, and returns them all. On
    /// a single-node backend every active job is this node's.
    async fn lease_replays(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(ReplayId, ReplayState)>>;
    /// Takes the job's next `max_events` events and arms their deliveries,
    /// saving the cursor in the same transaction. Only the node holding the
    /// job's lease steps it: for any other node nothing changes and the step
    /// says the job is not running (here).
    async fn replay_step(
        &self,
        id: ReplayId,
        max_events: u32,
        now: DateTime<Utc>,
    ) -> Result<ReplayStep>;
}
