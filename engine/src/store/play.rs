//! Play inboxes: Herald's own test receiver (`model/play.rs`).

use super::*;
use crate::model::{PlayInboxId, PlayRequestOut};
use crate::sign::Secret;

/// A play inbox as receiving a request needs it.
#[derive(Debug, Clone)]
pub struct PlayTarget {
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    /// The endpoint's live secrets (none when the endpoint was deleted).
    pub secrets: Vec<Secret>,
}

#[async_trait]
pub trait PlayStore: Send + Sync {
    /// Makes play inbox `inbox` for `endpoint` (of `tenant`).
    async fn create_play_inbox(
        &self,
        tenant: TenantId,
        inbox: PlayInboxId,
        endpoint: EndpointId,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The inbox with its endpoint's secrets live at `now`.
    async fn play_target(
        &self,
        inbox: PlayInboxId,
        now: DateTime<Utc>,
    ) -> Result<Option<PlayTarget>>;
    /// Keeps a request, and only the newest [`crate::model::PLAY_KEEP`].
    async fn record_play_request(&self, inbox: PlayInboxId, request: &PlayRequestOut)
    -> Result<()>;
    /// The inbox's requests, newest first (none when it is not the tenant's).
    async fn play_requests(
        &self,
        tenant: TenantId,
        inbox: PlayInboxId,
        limit: u32,
    ) -> Result<Vec<PlayRequestOut>>;
}
