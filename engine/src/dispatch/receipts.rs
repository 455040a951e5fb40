//! The receipt writer: every attempt's receipt, the delivery's next state, its
//! DLQ entry and its statistics, written with group commit.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::{AttemptOutcome, Recorded, Store};

/// Attempts waiting for their receipt, each with whom to tell what became of
/// it (`None`: it could not be written).
pub(super) type Recorder =
    mpsc::UnboundedSender<(AttemptOutcome, oneshot::Sender<Option<Recorded>>)>;

/// Most receipts written in one transaction.
const RECEIPT_BATCH: usize = 512;

/// Writes receipts with group commit: whatever finished while the previous
/// transaction was being written goes into the next one, so one commit serves
/// many deliveries when traffic is heavy and a lone attempt is written at once.
#[tracing::instrument(skip_all, name = "receipts", fields(correlation_id = "receipts"))]
pub(super) async fn record_receipts(
    store: Arc<dyn Store>,
    mut queue: mpsc::UnboundedReceiver<(AttemptOutcome, oneshot::Sender<Option<Recorded>>)>,
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
        let results = match store.record_attempts(std::mem::take(&mut batch)).await {
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
