//! The dispatcher's side of circuit breakers: the attempts a breaker must
//! see (every failure, and the probe of an open breaker) go to one task that
//! hands them to the store in batches and tells the live feed and the
//! tenant's operations endpoint what changed.
//! Healthy traffic sends nothing here.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::mpsc;

use super::Dispatcher;
use crate::live::LiveHub;
use crate::model::{ErrorClass, LiveMessage};
use crate::store::{BreakerObservation, Claimed, Store};

/// Where the attempts a breaker must see go.
pub(super) type Observer = mpsc::UnboundedSender<BreakerObservation>;

/// Most observations handed to the store at once.
const BATCH: usize = 256;

/// Starts the task that moves breakers on; it ends when the dispatcher is
/// dropped.
pub(super) fn spawn(
    store: Arc<dyn Store>,
    live: Arc<LiveHub>,
    ops: crate::ops::Notices,
    metrics: Arc<crate::metrics::Metrics>,
) -> Observer {
    let (tx, mut rx) = mpsc::unbounded_channel::<BreakerObservation>();
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            match store.observe_breakers(&batch, Utc::now()).await {
                Ok(changed) => {
                    for t in changed {
                        metrics.breaker(t.change);
                        ops.breaker(&t);
                        tracing::warn!(
                            correlation_id = "breakers",
                            endpoint = %t.endpoint_id,
                            change = t.change.as_str(),
                            reason = %t.reason,
                            "circuit breaker"
                        );
                        live.publish(
                            t.tenant_id,
                            LiveMessage::BreakerChanged {
                                endpoint_id: t.endpoint_id,
                                change: t.change,
                                reason: t.reason,
                                probe_at: t.probe_at,
                                at: t.at,
                            },
                        );
                    }
                }
                Err(e) => {
                    tracing::error!(correlation_id = "breakers", error = %e, "cannot move circuit breakers on");
                }
            }
            batch.clear();
        }
    });
    tx
}

impl Dispatcher {
    /// Tells the breakers of an attempt whose receipt was stored, when it
    /// matters to one: a failure, or the probe of an open breaker.
    pub(super) fn observe(&self, claimed: &Claimed, error: Option<ErrorClass>) {
        // A transform that fails never reached the receiver and says nothing
        // of its health (a probe's still counts, so the breaker stays open
        // rather than closing on a request that was never sent).
        if error == Some(ErrorClass::Transform) && !claimed.breaker_probe {
            return;
        }
        if error.is_some() || claimed.breaker_probe {
            let _ = self.breakers.send(BreakerObservation {
                endpoint_id: claimed.endpoint_id,
                failed: error.is_some(),
                probe: claimed.breaker_probe,
            });
        }
    }
}
