//! The receipt writer: every attempt's receipt, the delivery's next state, its
//! DLQ entry and its statistics, written with group commit. Where the store
//! refills the slots the receipts free in the same transaction (PostgreSQL,
//! whose claims never run ahead of the slots), the deliveries it leased go
//! back to the dispatcher to be sent: one commit ends one attempt and starts
//! the next, with no claim between them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};

use crate::store::{AttemptOutcome, Claimed, Recorded, Store};

/// Attempts waiting for their receipt, each with whom to tell what became of
/// it (`None`: it could not be written).
pub(super) type Recorder =
    mpsc::UnboundedSender<(AttemptOutcome, oneshot::Sender<Option<Recorded>>)>;

/// Deliveries a receipt transaction leased to refill the slots it freed.
pub(super) struct Refill {
    pub claims: Vec<Claimed>,
    pub lease_until: DateTime<Utc>,
    /// It refilled fewer slots than its receipts freed (or could not be
    /// written): a claim may find work for them.
    pub short: bool,
}

/// What the writer needs to refill slots (given only where the store refills).
pub(super) struct Refilling {
    pub lease: chrono::Duration,
    pub per_endpoint: u32,
    /// Where the refills go.
    pub to: mpsc::UnboundedSender<Refill>,
    /// Once it turns true (shutting down), receipts refill nothing.
    pub stop: watch::Receiver<bool>,
}

/// Most receipts written in one transaction.
const RECEIPT_BATCH: usize = 512;

/// Writes receipts with group commit: whatever finished while the previous
/// transaction was being written goes into the next one, so one commit serves
/// many deliveries when traffic is heavy and a lone attempt is written at once.
/// The refills are handed over before the attempts are answered.
#[tracing::instrument(skip_all, name = "receipts", fields(correlation_id = "receipts"))]
pub(super) async fn record_receipts(
    store: Arc<dyn Store>,
    mut queue: mpsc::UnboundedReceiver<(AttemptOutcome, oneshot::Sender<Option<Recorded>>)>,
    refilling: Option<Refilling>,
) {
    let mut batch = Vec::with_capacity(RECEIPT_BATCH);
    let mut waiting = Vec::with_capacity(RECEIPT_BATCH);
    while let Some((outcome, done)) = queue.recv().await {
        batch.push(outcome);
        waiting.push(done);
        while batch.len() < RECEIPT_BATCH {
            match queue.try_recv() {
                Ok((outcome, done)) => {
                    batch.push(outcome);
                    waiting.push(done);
                }
                Err(_) => break,
            }
        }
        let count = batch.len();
        let batch = std::mem::take(&mut batch);
        let written = match &refilling {
            Some(refilling) if !*refilling.stop.borrow() => {
                record_and_refill(store.as_ref(), batch, refilling).await
            }
            _ => store.record_attempts(batch).await,
        };
        let results = match written {
            Ok(results) => results.into_iter().map(Some).collect(),
            Err(e) => {
                // Their leases will expire and they will be settled then.
                tracing::error!(error = %e, attempts = count, "cannot record attempts");
                vec![None; count]
            }
        };
        for (done, result) in waiting.drain(..).zip(results) {
            let _ = done.send(result);
        }
    }
}

/// Writes `batch` and refills the slots it frees; hands the dispatcher what
/// the refill leased, and says when a claim may find work for slots it left
/// free (it refilled fewer than it freed, or nothing could be written).
async fn record_and_refill(
    store: &dyn Store,
    batch: Vec<AttemptOutcome>,
    refilling: &Refilling,
) -> crate::Result<Vec<Recorded>> {
    let now = Utc::now();
    let lease_until = now + refilling.lease;
    let (recorded, claims, short) = match store
        .record_and_refill(batch, now, lease_until, refilling.per_endpoint)
        .await
    {
        Ok((recorded, claims)) => {
            let freed = recorded
                .iter()
                .filter(|r| matches!(r, Recorded::Applied { .. }))
                .count();
            let short = claims.len() < freed;
            (Ok(recorded), claims, short)
        }
        Err(e) => (Err(e), Vec::new(), true),
    };
    if !claims.is_empty() || short {
        // The dispatcher outlives the writer; were it gone, the leases would
        // expire and the work be retried.
        let _ = refilling.to.send(Refill {
            claims,
            lease_until,
            short,
        });
    }
    recorded
}
