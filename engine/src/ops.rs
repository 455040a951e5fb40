//! Operational webhooks: Herald's own events about a tenant, sent to the
//! endpoint the tenant names for them (`operations_endpoint_id`). They are
//! events like any other, stored, signed, retried, receipted and
//! replayable, addressed to that endpoint alone.
//!
//! The dispatcher (breaker transitions, a 410 that disables an endpoint)
//! and the replay runner hand notices to one task, which publishes them
//! through the ingest writer; the same task asks the store every
//! [`DLQ_CHECK`] which tenants' dead-letter queues went past their
//! threshold. A tenant without an operations endpoint is sent nothing.

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::dispatch::Dispatcher;
use crate::ingest::IngestWriter;
use crate::model::{BreakerChange, EndpointId, TenantId};
use crate::store::{BreakerTransition, DlqAlert, NewEvent, Publish, Store};

/// A breaker opened (or opened again after a failed probe).
pub const CIRCUIT_OPENED: &str = "herald.endpoint.circuit_opened";
/// A probe succeeded: the breaker closed.
pub const CIRCUIT_CLOSED: &str = "herald.endpoint.circuit_closed";
/// An endpoint was disabled by Herald (its breaker, or a 410 Gone).
pub const ENDPOINT_DISABLED: &str = "herald.endpoint.disabled";
/// The dead-letter queue went past the tenant's threshold.
pub const DLQ_THRESHOLD_EXCEEDED: &str = "herald.dlq.threshold_exceeded";
/// A replay finished.
pub const REPLAY_COMPLETED: &str = "herald.replay.completed";
/// A replay stopped on an error.
pub const REPLAY_FAILED: &str = "herald.replay.failed";

/// Every operational event type, for documentation and the console.
pub const EVENT_TYPES: [&str; 6] = [
    CIRCUIT_OPENED,
    CIRCUIT_CLOSED,
    ENDPOINT_DISABLED,
    DLQ_THRESHOLD_EXCEEDED,
    REPLAY_COMPLETED,
    REPLAY_FAILED,
];

/// How often the dead-letter queues are held against their thresholds.
pub const DLQ_CHECK: Duration = Duration::from_secs(10);

/// One operational event on its way to a tenant's operations endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub tenant: TenantId,
    pub event_type: &'static str,
    /// A JSON object; `at` is added if missing.
    pub payload: Value,
}

/// Where notices go: cheap to clone, never blocks; notices sent after the
/// task ended are dropped.
#[derive(Debug, Clone)]
pub struct Notices(mpsc::UnboundedSender<Notice>);

impl Notices {
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Notice>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }

    /// Notices that go nowhere (a dispatcher without an engine around it).
    pub fn detached() -> Self {
        Self::channel().0
    }

    pub fn send(&self, notice: Notice) {
        let _ = self.0.send(notice);
    }

    /// A breaker's transition, as the event its change calls for.
    pub fn breaker(&self, t: &BreakerTransition) {
        let event_type = match t.change {
            BreakerChange::Opened => CIRCUIT_OPENED,
            BreakerChange::Closed => CIRCUIT_CLOSED,
            BreakerChange::Disabled => ENDPOINT_DISABLED,
        };
        self.send(Notice {
            tenant: t.tenant_id,
            event_type,
            payload: json!({
                "endpoint_id": t.endpoint_id,
                "reason": t.reason,
                "cause": if t.change == BreakerChange::Disabled { "circuit_breaker" } else { "probe" },
                "next_probe_at": t.probe_at,
                "at": t.at,
            }),
        });
    }

    /// An endpoint disabled because its receiver answered 410 Gone.
    pub fn gone(&self, tenant: TenantId, endpoint: EndpointId, reason: &str, at: DateTime<Utc>) {
        self.send(Notice {
            tenant,
            event_type: ENDPOINT_DISABLED,
            payload: json!({
                "endpoint_id": endpoint,
                "reason": reason,
                "cause": "gone",
                "at": at,
            }),
        });
    }
}

/// The event a notice becomes, addressed to `endpoint`.
pub fn event_of(notice: &Notice, endpoint: EndpointId) -> NewEvent {
    let mut payload = notice.payload.clone();
    if let Some(map) = payload.as_object_mut() {
        map.entry("at").or_insert_with(|| json!(Utc::now()));
        map.insert("tenant_id".into(), json!(notice.tenant));
    }
    NewEvent {
        event_type: notice.event_type.into(),
        // serde_json sorts object keys: the text is canonical as ingest's is.
        payload: payload.to_string(),
        idempotency_key: None,
        correlation_id: None,
        entity_id: None,
        ordering_key: None,
        metadata: Some(json!({"herald_operational": true})),
        source: Some("herald".into()),
        only_endpoint: Some(endpoint),
        operational: true,
        schema_version: None,
        schema_problems: Vec::new(),
    }
}

/// The dead-letter alert as a notice.
pub fn dlq_notice(alert: &DlqAlert) -> Notice {
    Notice {
        tenant: alert.tenant_id,
        event_type: DLQ_THRESHOLD_EXCEEDED,
        payload: json!({"entries": alert.entries, "threshold": alert.threshold}),
    }
}

/// Starts the task that publishes notices and watches dead-letter queues;
/// it ends when every [`Notices`] handle is gone.
pub fn spawn(
    store: Arc<dyn Store>,
    ingest: IngestWriter,
    dispatcher: Weak<Dispatcher>,
    mut notices: mpsc::UnboundedReceiver<Notice>,
) {
    let mut ops = Publisher {
        store,
        ingest,
        dispatcher,
        gone: std::collections::HashMap::new(),
    };
    tokio::spawn(async move {
        let mut check = tokio::time::interval(DLQ_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                notice = notices.recv() => match notice {
                    Some(notice) => ops.publish(notice).await,
                    None => return,
                },
                _ = check.tick() => ops.watch_dlqs().await,
            }
        }
    });
}

struct Publisher {
    store: Arc<dyn Store>,
    ingest: IngestWriter,
    dispatcher: Weak<Dispatcher>,
    /// When each endpoint was last told disabled by a 410: every attempt in
    /// flight when the receiver went away answers 410, and one event says it.
    gone: std::collections::HashMap<String, std::time::Instant>,
}

/// How long further 410s of an endpoint add nothing to the event told.
const GONE_QUIET: Duration = Duration::from_secs(60);

impl Publisher {
    async fn publish(&mut self, notice: Notice) {
        if notice.payload["cause"] == "gone"
            && let Some(endpoint) = notice.payload["endpoint_id"].as_str()
        {
            let now = std::time::Instant::now();
            self.gone
                .retain(|_, at| now.duration_since(*at) < GONE_QUIET);
            if self.gone.insert(endpoint.to_owned(), now).is_some() {
                return;
            }
        }
        let endpoint = match self.store.operations_endpoint(notice.tenant).await {
            Ok(Some(endpoint)) => endpoint,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(correlation_id = "operations", tenant = %notice.tenant, event_type = notice.event_type, error = %e, "cannot find the operations endpoint; the operational event is not sent");
                return;
            }
        };
        let publish = Publish {
            tenant: notice.tenant,
            events: vec![event_of(&notice, endpoint)],
            now: Utc::now(),
            audit: None,
            catalog_revision: None,
        };
        match self.ingest.submit(publish).await {
            Ok(_) => {
                tracing::info!(correlation_id = "operations", tenant = %notice.tenant, endpoint = %endpoint, event_type = notice.event_type, "operational event published");
                if let Some(dispatcher) = self.dispatcher.upgrade() {
                    dispatcher.wake();
                }
            }
            Err(e) => {
                tracing::error!(correlation_id = "operations", tenant = %notice.tenant, event_type = notice.event_type, error = %e, "cannot publish an operational event");
            }
        }
    }

    async fn watch_dlqs(&mut self) {
        match self.store.dlq_alerts(Utc::now()).await {
            Ok(alerts) => {
                for alert in alerts {
                    tracing::warn!(correlation_id = "operations", tenant = %alert.tenant_id, entries = alert.entries, threshold = alert.threshold, "the dead-letter queue is past its threshold");
                    self.publish(dlq_notice(&alert)).await;
                }
            }
            Err(e) => {
                tracing::warn!(correlation_id = "operations", error = %e, "cannot hold the dead-letter queues against their thresholds");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_becomes_an_event_for_the_operations_endpoint_alone_not_marked_as_a_test() {
        let tenant = TenantId::new();
        let endpoint = EndpointId::new();
        let event = event_of(
            &Notice {
                tenant,
                event_type: CIRCUIT_OPENED,
                payload: json!({"endpoint_id": "ep_1", "reason": "50 %"}),
            },
            endpoint,
        );
        assert_eq!(event.event_type, CIRCUIT_OPENED);
        assert_eq!(event.only_endpoint, Some(endpoint));
        assert!(event.operational);
        let payload: Value = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(payload["tenant_id"], json!(tenant));
        assert_eq!(payload["reason"], "50 %");
        assert!(payload["at"].is_string(), "{payload}");
        for t in EVENT_TYPES {
            crate::validate::event(
                crate::model::EventIn {
                    event_type: t.into(),
                    payload: json!({}).into(),
                    idempotency_key: None,
                    correlation_id: None,
                    entity_id: None,
                    ordering_key: None,
                    metadata: None,
                    source: None,
                },
                None,
                None,
                1_000,
            )
            .unwrap_or_else(|e| panic!("{t} is not a valid event type: {e}"));
        }
    }
}
