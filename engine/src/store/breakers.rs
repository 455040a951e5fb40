//! Circuit breakers: what the dispatcher saw of each endpoint's attempts,
//! turned into the breaker's transitions (`model/breaker.rs` says how).

use super::*;
use crate::model::BreakerChange;

/// One finished attempt, as a breaker sees it.
#[derive(Debug, Clone, Copy)]
pub struct BreakerObservation {
    pub endpoint_id: EndpointId,
    pub failed: bool,
    /// It was claimed while the breaker was open (half-open): the probe.
    pub probe: bool,
}

/// A change of an endpoint's breaker, made and audited by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerTransition {
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    pub change: BreakerChange,
    /// In words: what opened, closed or disabled it.
    pub reason: String,
    /// When the next probe may go (opened).
    pub probe_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait BreakerStore: Send + Sync {
    /// Moves the breakers of the observed endpoints on, each in a
    /// transaction of its own that also writes the audit entry and counts
    /// the deliveries it held back: a closed one opens when its window's
    /// failures pass its threshold (only a failure can open it); an open
    /// one whose probe succeeded closes, and one whose probe failed opens again with a
    /// longer cool-down, or disables its endpoint. Another node's change in
    /// between wins: this one is then dropped.
    async fn observe_breakers(
        &self,
        seen: &[BreakerObservation],
        now: DateTime<Utc>,
    ) -> Result<Vec<BreakerTransition>>;
}
