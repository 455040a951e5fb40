//! Receivers' acknowledgements of deliveries to effectively-once endpoints.

use super::*;
use crate::model::DeliveryState;
use crate::sign::Secret;

/// What verifying an acknowledgement of a delivery needs.
#[derive(Debug, Clone)]
pub struct AckTarget {
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    /// The endpoint's live secrets: current first, then rotated-out ones
    /// still in their grace period.
    pub secrets: Vec<Secret>,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acked {
    /// The delivery is done (or, acknowledged while an attempt was in
    /// flight, ends done when that attempt's receipt comes).
    Acked,
    /// It was acknowledged before; nothing changed.
    AlreadyAcked,
    /// It is in no state to be acknowledged (never answered at an
    /// endpoint that does not ask for acknowledgements, or ended).
    NotAwaiting(DeliveryState),
    /// No such delivery.
    Unknown,
}

#[async_trait]
pub trait AckStore: Send + Sync {
    /// The tenant, endpoint and live secrets of a delivery, to verify an
    /// acknowledgement of it; `None` when there is no such delivery.
    async fn ack_target(
        &self,
        delivery: DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<AckTarget>>;
    /// Records a verified acknowledgement: a delivery awaiting it (or
    /// pending again after its deadline) succeeds now and its ordered stream
    /// goes on; one in flight is marked and succeeds with its receipt. The
    /// statistics count it in the same transaction.
    async fn acknowledge(&self, delivery: DeliveryId, now: DateTime<Utc>) -> Result<Acked>;
    /// Makes every delivery whose acknowledgement deadline passed by `now`
    /// pending again, due now, marked so its next attempt is an
    /// `ack_timeout` one; how many. Counted in the statistics.
    async fn expire_acks(&self, now: DateTime<Utc>) -> Result<u64>;
}

/// Whether a delivery in `state` at an endpoint of `semantics` (and marked
/// `ack_timed_out` when sent again for want of one) takes an
/// acknowledgement: one awaiting it, and one pending or in flight at an
/// endpoint that asks for them or sent again for want of one.
pub(crate) fn takes_ack(state: &str, semantics: &str, ack_timed_out: bool) -> bool {
    state == "awaiting_ack"
        || ((state == "pending" || state == "in_flight")
            && (semantics == "effectively_once" || ack_timed_out))
}
