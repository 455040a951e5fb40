//! Retention: a background task that removes what each tenant no longer
//! keeps (events with their deliveries and receipts, statistics), and
//! expunging one event for a privacy request.
//!
//! Pruning goes in small batches, each its own short transaction, with a
//! pause between them: on SQLite every batch holds the one writer, so a
//! batch's length is what an ingest arriving during it waits, and the pause
//! keeps the writer free most of the time. An event whose delivery is still
//! pending, in flight, awaiting acknowledgement or in the dead-letter queue
//! is kept, and looked at again on the next pass.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::Result;
use crate::audit::AuditBy;
use crate::metrics::Metrics;
use crate::model::{AuditAction, EventId, ExpungeIn, ExpungeOut, Permission, TenantId};
use crate::service::Engine;
use crate::store::{Actor, Store};

/// How the pruner paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Time between passes over every tenant.
    pub interval: Duration,
    /// Events (or statistics rows) one transaction removes at most. An
    /// event with a delivery and a receipt took about 15 µs to delete on
    /// SQLite (the rows, their indexes and the cascade's look-ups), so a
    /// batch's work is under a millisecond; its commit's sync comes on top,
    /// as for any other commit. (Batches of 100 moved publish p99 by 2.5 ms
    /// while pruning: `make bench-retention`.)
    pub batch: u32,
    /// Rest after each batch, as a multiple of the batch's own time (so
    /// pruning holds the writer at most `1 / (1 + rest_factor)` of the
    /// time, and more when the database is busier), and never less than
    /// `min_rest`.
    pub rest_factor: u32,
    pub min_rest: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            interval: Duration::from_secs(600),
            batch: 50,
            rest_factor: 4,
            min_rest: Duration::from_millis(5),
        }
    }
}

impl Pacing {
    fn rest(&self, took: Duration) -> Duration {
        (took * self.rest_factor).max(self.min_rest)
    }
}

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassOutcome {
    pub events: u64,
    /// Expired events kept because a delivery of theirs is still live or dead-lettered.
    pub held: u64,
    pub stats_rows: u64,
}

pub struct Pruner {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    pacing: Pacing,
}

impl Pruner {
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>, pacing: Pacing) -> Self {
        Pruner {
            store,
            metrics,
            pacing,
        }
    }

    /// Runs a pass every `interval` (the first one `interval` after start)
    /// until `stop` turns true; a pass that fails is logged and tried again
    /// at the next interval.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.pacing.interval) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            match self.pass(Utc::now(), &stop).await {
                Ok(out) if out.events > 0 || out.stats_rows > 0 => tracing::info!(
                    events = out.events,
                    held = out.held,
                    stats_rows = out.stats_rows,
                    "retention pass removed expired data"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention pass failed; trying again later"),
            }
        }
    }

    /// One pass over every tenant with a retention, as if it were `now`.
    pub async fn pass(
        &self,
        now: DateTime<Utc>,
        stop: &watch::Receiver<bool>,
    ) -> Result<PassOutcome> {
        let mut out = PassOutcome::default();
        let size = self.pacing.batch;
        for retention in self.store.retentions().await? {
            if let Some(days) = retention.events_days {
                let before = now - chrono::Duration::days(i64::from(days));
                let mut cursor: Option<String> = None;
                while !*stop.borrow() {
                    let started = Instant::now();
                    let batch = self
                        .store
                        .prune_events(retention.tenant_id, before, cursor.as_deref(), size)
                        .await?;
                    let took = started.elapsed();
                    out.events += batch.removed;
                    out.held += batch.held;
                    self.metrics.pruned(batch.removed, 0);
                    let Some(next) = batch.cursor else { break };
                    cursor = Some(next);
                    tokio::time::sleep(self.pacing.rest(took)).await;
                }
            }
            if let Some(days) = retention.stats_days {
                let before = now - chrono::Duration::days(i64::from(days));
                while !*stop.borrow() {
                    let started = Instant::now();
                    let removed = self
                        .store
                        .prune_stats(retention.tenant_id, before, size)
                        .await?;
                    let took = started.elapsed();
                    out.stats_rows += removed;
                    self.metrics.pruned(0, removed);
                    if removed < u64::from(size) {
                        break;
                    }
                    tokio::time::sleep(self.pacing.rest(took)).await;
                }
            }
        }
        Ok(out)
    }
}

impl Engine {
    /// Erases one event's payload, metadata and its receipts' response
    /// headers and bodies for a privacy request, keeping that it existed;
    /// deliveries still waiting are ended and its dead-letter entries removed,
    /// so the erased payload is never sent. Audited with the reason.
    pub async fn expunge_event(
        &self,
        tenant: TenantId,
        event: EventId,
        input: ExpungeIn,
        by: &AuditBy,
    ) -> Result<ExpungeOut> {
        by.require(Permission::ManageReplays)?;
        let why = crate::recovery::reason(&input.reason, true)?;
        // As the store keeps it: to the millisecond.
        let now = crate::store::from_millis(crate::store::to_millis(Utc::now()));
        let audit = |out: &crate::store::Expunged| {
            Some(by.entry(
                Some(tenant),
                AuditAction::EventExpunge,
                event,
                format!(
                    "expunged the event ({why}): {} receipts erased, {} waiting deliveries ended, {} DLQ entries removed",
                    out.receipts, out.deliveries_ended, out.dlq_removed
                ),
            ))
        };
        let done = self
            .store
            .expunge_event(tenant, event, &Actor(by.actor.clone()), &why, now, &audit)
            .await?;
        if let Some(entry) = audit(&done) {
            crate::audit::logged(&entry);
        }
        tracing::info!(event = %event, actor = %by.actor, "event expunged");
        Ok(ExpungeOut {
            event_id: event,
            expunged_at: now,
            receipts_erased: done.receipts,
            deliveries_ended: done.deliveries_ended,
            dlq_entries_removed: done.dlq_removed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_after_a_batch_is_four_times_its_length_and_at_least_five_ms() {
        let p = Pacing::default();
        assert_eq!(p.rest(Duration::from_millis(3)), Duration::from_millis(12));
        assert_eq!(p.rest(Duration::ZERO), Duration::from_millis(5));
    }
}
