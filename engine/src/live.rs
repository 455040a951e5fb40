//! The live feed's hub: the dispatcher and the replay runner publish typed
//! messages, each websocket subscribes to its tenant's. One broadcast channel
//! per tenant (made with its first subscriber, dropped with its last), each
//! with a bounded buffer: a subscriber that falls behind loses its place (and
//! is dropped by the websocket handler) instead of slowing anyone down, and a
//! busy tenant's traffic never fills a quiet tenant's buffer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::model::{LiveMessage, TenantId};

/// Messages kept for a subscriber that has not read them yet.
const BUFFER: usize = 4_096;

type Channels = Arc<Mutex<HashMap<TenantId, broadcast::Sender<LiveMessage>>>>;

#[derive(Default)]
pub struct LiveHub {
    channels: Channels,
}

/// One subscriber's view of its tenant's feed; the tenant's channel goes
/// away when its last subscription is dropped.
pub struct Subscription {
    receiver: broadcast::Receiver<LiveMessage>,
    tenant: TenantId,
    channels: Channels,
}

impl Subscription {
    pub async fn recv(&mut self) -> Result<LiveMessage, broadcast::error::RecvError> {
        self.receiver.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut channels = lock(&self.channels);
        // This subscription's receiver still counts until the fields drop.
        if channels
            .get(&self.tenant)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            channels.remove(&self.tenant);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LiveHub {
    /// Sends to the tenant's subscribers; with none, the message is dropped.
    pub fn publish(&self, tenant: TenantId, message: LiveMessage) {
        if let Some(sender) = lock(&self.channels).get(&tenant) {
            let _ = sender.send(message);
        }
    }

    pub fn subscribe(&self, tenant: TenantId) -> Subscription {
        let receiver = lock(&self.channels)
            .entry(tenant)
            .or_insert_with(|| broadcast::channel(BUFFER).0)
            .subscribe();
        Subscription {
            receiver,
            tenant,
            channels: self.channels.clone(),
        }
    }

    /// Whether anyone listens to the tenant (to skip building messages for no one).
    pub fn has_subscribers(&self, tenant: TenantId) -> bool {
        lock(&self.channels).contains_key(&tenant)
    }

    /// How many tenants have a channel now.
    pub fn tenants(&self) -> usize {
        lock(&self.channels).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeliveryOutcome, DeliveryState, Trigger};

    fn outcome(n: u32) -> LiveMessage {
        LiveMessage::DeliveryOutcome(DeliveryOutcome {
            delivery_id: crate::model::DeliveryId::new(),
            event_id: crate::model::EventId::new(),
            endpoint_id: crate::model::EndpointId::new(),
            event_type: "a.b".into(),
            attempt: n,
            trigger: Trigger::Scheduled,
            state: DeliveryState::Succeeded,
            response_status: Some(200),
            error_class: None,
            latency_ms: 1,
            at: chrono::Utc::now(),
        })
    }

    #[tokio::test]
    async fn a_busy_tenant_never_makes_a_quiet_one_lag() {
        let hub = LiveHub::default();
        let (busy, quiet) = (TenantId::new(), TenantId::new());
        let mut busy_reader = hub.subscribe(busy);
        let mut quiet_reader = hub.subscribe(quiet);
        // Far more than a buffer's worth for the busy tenant, read by no one.
        for n in 0..(BUFFER as u32 * 3) {
            hub.publish(busy, outcome(n));
        }
        hub.publish(quiet, outcome(7));
        match quiet_reader.recv().await {
            Ok(LiveMessage::DeliveryOutcome(o)) => assert_eq!(o.attempt, 7),
            other => panic!("the quiet tenant's one message, not {other:?}"),
        }
        assert!(matches!(
            busy_reader.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }

    #[test]
    fn a_tenants_channel_lives_as_long_as_its_subscribers() {
        let hub = LiveHub::default();
        let tenant = TenantId::new();
        assert!(!hub.has_subscribers(tenant));
        let first = hub.subscribe(tenant);
        let second = hub.subscribe(tenant);
        assert!(hub.has_subscribers(tenant));
        drop(first);
        assert!(hub.has_subscribers(tenant), "one subscriber is left");
        drop(second);
        assert!(!hub.has_subscribers(tenant));
        assert_eq!(hub.tenants(), 0);
    }
}
