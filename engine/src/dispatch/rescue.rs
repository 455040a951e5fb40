//! Taking back deliveries whose worker is gone: at start, what this node's
//! previous run left in flight, and whenever a lease runs out.

use chrono::Utc;

use super::Dispatcher;
use crate::store::Settled;

impl Dispatcher {
    /// Whatever this node left in flight in an earlier run (on a single
    /// node, everything in flight) is taken back at start rather than when
    /// those leases run out; other nodes' work is left to them.
    pub(super) async fn recover_left_in_flight(&self) {
        match self.store.reclaim_own(Utc::now()).await {
            Ok(settled) => {
                self.metrics
                    .leases_taken_back(settled.requeued + settled.dead, false);
                self.settled(
                    settled,
                    "recovered deliveries left in flight by the previous run",
                );
            }
            Err(e) => tracing::error!(error = %e, "cannot recover deliveries left in flight"),
        }
    }

    /// Requeues (or, at most once, dead-letters) deliveries whose lease expired.
    pub(super) async fn reclaim_expired(&self) {
        let now = Utc::now();
        match self.store.reclaim_expired(now, now).await {
            Ok(settled) => {
                self.metrics
                    .leases_taken_back(settled.requeued + settled.dead, true);
                self.settled(settled, "reclaimed deliveries whose lease had expired");
            }
            Err(e) => tracing::error!(error = %e, "cannot reclaim expired leases"),
        }
        // Deliveries whose receiver did not acknowledge them in time go out
        // again (or end, when their policy allows no more attempts).
        match self.store.expire_acks(now).await {
            Ok(0) => {}
            Ok(expired) => {
                self.metrics.ack_timeouts(expired);
                tracing::info!(expired, "deliveries not acknowledged in time are due again");
                self.wake.notify_one();
            }
            Err(e) => tracing::error!(error = %e, "cannot expire unacknowledged deliveries"),
        }
        // Inbox leases whose visibility timeout ran out end as failed
        // attempts: visible again, or dead when the retry policy is spent.
        match crate::inbox::expire_leases(self.store.as_ref(), now).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(
                expired,
                "inbox leases ran out; their messages are visible again"
            ),
            Err(e) => tracing::error!(error = %e, "cannot end inbox leases that ran out"),
        }
        // The safety net of ordered streams: one whose next delivery no
        // write armed (a change of `on_dead`, or a write that failed after
        // its commit) goes on here.
        match self.store.advance_stalled_streams(None, now).await {
            Ok(0) => {}
            Ok(armed) => tracing::info!(armed, "armed ordered streams that had nothing in flight"),
            Err(e) => tracing::error!(error = %e, "cannot advance ordered streams"),
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
