//! Pull inboxes as the store keeps them: leases are claims of an inbox
//! endpoint's deliveries (`in_flight` until the visibility timeout, with
//! `next_attempt_at` holding when the lease began); their ends are
//! recorded as attempts ([`DispatchStore::record_attempts`]).

use super::*;
use crate::model::InboxOut;
use crate::store::Claimed;

#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Leases up to `limit` of the inbox's messages visible at `now` (due
    /// and pending), earliest due first, until `until`, to `consumer`
    /// (counted in the inbox's consumers). Of consumers pulling at once,
    /// each message goes to one.
    async fn lease_inbox(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        consumer: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Claimed>>;
    /// The current leases of those of `ids` that are leased now, each with
    /// when its lease began.
    async fn inbox_leases(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        ids: &[DeliveryId],
    ) -> Result<Vec<(Claimed, DateTime<Utc>)>>;
    /// Up to `limit` leases, of any inbox, whose visibility timeout ended
    /// before `now`, each with when it began.
    async fn expired_inbox_leases(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Claimed, DateTime<Utc>)>>;
    /// The inbox's depth (ready, delayed, leased), oldest message and
    /// consumers.
    async fn inbox_state(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        now: DateTime<Utc>,
    ) -> Result<InboxOut>;
}
