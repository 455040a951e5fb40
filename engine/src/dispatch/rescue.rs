//! Taking back deliveries whose worker is gone: at start on a single node
//! (whatever is in flight was claimed by the previous run), and whenever a
//! lease runs out.

use chrono::Utc;

use super::Dispatcher;
use crate::store::Settled;

impl Dispatcher {
    /// On a single node, whatever is in flight at start was claimed by an
    /// earlier run that stopped without finishing: take it back now rather
    /// than wait for those leases to run out.
    pub(super) async fn recover_left_in_flight(&self) {
        if !self.store.capabilities().single_node {
            return;
        }
        let every_lease =
            Utc::now() + chrono::Duration::from_std(self.config.lease).unwrap_or_default();
        match self
            .store
            .reclaim_expired(every_lease + chrono::Duration::seconds(1), Utc::now())
            .await
        {
            Ok(settled) => self.settled(
                settled,
                "recovered deliveries left in flight by the previous run",
            ),
            Err(e) => tracing::error!(error = %e, "cannot recover deliveries left in flight"),
        }
    }

    /// Requeues (or, at most once, dead-letters) deliveries whose lease expired.
    pub(super) async fn reclaim_expired(&self) {
        let now = Utc::now();
        match self.store.reclaim_expired(now, now).await {
            Ok(settled) => self.settled(settled, "reclaimed deliveries whose lease had expired"),
            Err(e) => tracing::error!(error = %e, "cannot reclaim expired leases"),
        }
    }

    /// Reports (and counts) what settling in-flight deliveries did.
    pub(super) fn settled(&self, settled: Settled, what: &str) {
        self.metrics.dlq_added(settled.dead_lettered);
        if settled.requeued + settled.dead > 0 {
            tracing::warn!(
                requeued = settled.requeued,
                outcome_unknown = settled.dead,
                "{what}"
            );
        }
    }
}
