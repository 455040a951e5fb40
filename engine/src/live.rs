//! The live feed's hub: the dispatcher and the replay runner publish typed
//! messages, each websocket subscribes to its tenant's. One broadcast channel
//! per tenant (made with its first subscriber, dropped with its last), each
//! with a bounded buffer: a subscriber that falls behind loses its place (and
//! is dropped by the websocket handler) instead of slowing anyone down, and a
//! busy tenant's traffic never fills a quiet tenant's buffer.
//!
//! With Redis, the feed crosses nodes ([`relay`]): what this node publishes
//! also goes, batched per tick and per tenant, to the tenant's Redis channel,
//! and what other nodes publish there reaches this node's subscribers. Like
//! the local feed it is lossy (a batch that cannot be sent is dropped): the
//! feed shows what happens, the store keeps what happened.

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
    /// This node's messages on their way to the other nodes, when relayed.
    outbox: std::sync::OnceLock<tokio::sync::mpsc::Sender<(TenantId, LiveMessage)>>,
}

/// Messages waiting for the relay's next tick at most; more are dropped.
const OUTBOX: usize = 16_384;
/// How often the relay sends what this node published.
pub const RELAY_TICK: std::time::Duration = std::time::Duration::from_millis(100);

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
    /// Sends to the tenant's subscribers here and, when relayed, on every
    /// other node; with none, the message is dropped.
    pub fn publish(&self, tenant: TenantId, message: LiveMessage) {
        if let Some(outbox) = self.outbox.get() {
            let _ = outbox.try_send((tenant, message.clone()));
        }
        self.publish_here(tenant, message);
    }

    /// Sends to this node's subscribers of the tenant only.
    fn publish_here(&self, tenant: TenantId, message: LiveMessage) {
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

    /// Whether anyone may listen to the tenant (to skip building messages
    /// for no one). When relayed, someone on another node may.
    pub fn has_subscribers(&self, tenant: TenantId) -> bool {
        self.outbox.get().is_some() || lock(&self.channels).contains_key(&tenant)
    }

    /// How many tenants have a channel now.
    pub fn tenants(&self) -> usize {
        lock(&self.channels).len()
    }
}

/// One tick's messages of one tenant from one node, as sent on Redis.
#[derive(serde::Serialize, serde::Deserialize)]
struct Batch {
    node: String,
    messages: Vec<LiveMessage>,
}

/// Carries the feed between nodes through Redis until `stop` turns true:
/// sends this node's messages (batched per tick and per tenant, on channel
/// `live:<tenant>`), and hands other nodes' to this node's subscribers.
/// Either half reconnects by itself when Redis comes back.
pub fn relay(
    hub: &Arc<LiveHub>,
    redis: crate::deps::Redis,
    node: String,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let (outbox, pending) = tokio::sync::mpsc::channel(OUTBOX);
    if hub.outbox.set(outbox).is_err() {
        return;
    }
    tokio::spawn(send_batches(
        pending,
        redis.clone(),
        node.clone(),
        stop.clone(),
    ));
    tokio::spawn(receive_batches(hub.clone(), redis, node, stop));
}

#[tracing::instrument(skip_all, name = "live_relay", fields(correlation_id = "live-relay"))]
async fn send_batches(
    mut pending: tokio::sync::mpsc::Receiver<(TenantId, LiveMessage)>,
    redis: crate::deps::Redis,
    node: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(RELAY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stop.borrow() {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        let mut by_tenant: HashMap<TenantId, Vec<LiveMessage>> = HashMap::new();
        while let Ok((tenant, message)) = pending.try_recv() {
            by_tenant.entry(tenant).or_default().push(message);
        }
        if by_tenant.is_empty() {
            continue;
        }
        let sends: Vec<(String, String)> = by_tenant
            .into_iter()
            .filter_map(|(tenant, messages)| {
                let batch = Batch {
                    node: node.clone(),
                    messages,
                };
                Some((
                    redis.name(&format!("live:{tenant}")),
                    serde_json::to_string(&batch).ok()?,
                ))
            })
            .collect();
        // One round trip for every tenant's batch; lost if Redis is away.
        redis
            .call("live feed publish", |mut connection| async move {
                let mut pipe = redis::pipe();
                for (channel, payload) in &sends {
                    pipe.publish(channel, payload).ignore();
                }
                pipe.query_async::<()>(&mut connection).await
            })
            .await;
    }
}

#[tracing::instrument(skip_all, name = "live_relay", fields(correlation_id = "live-relay"))]
async fn receive_batches(
    hub: Arc<LiveHub>,
    redis: crate::deps::Redis,
    node: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use futures_util::StreamExt as _;
    let pattern = redis.name("live:*");
    let prefix = redis.name("live:");
    while !*stop.borrow() {
        let subscribed = async {
            let mut pubsub = redis.client().get_async_pubsub().await?;
            pubsub.psubscribe(&pattern).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let mut pubsub = match tokio::time::timeout(crate::deps::CALL_TIMEOUT * 4, subscribed).await
        {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => {
                redis.failed("live feed subscribe", &e.to_string());
                wait_or_stop(&mut stop, crate::deps::RETRY_AFTER).await;
                continue;
            }
            Err(_) => {
                redis.failed("live feed subscribe", "no answer in time");
                wait_or_stop(&mut stop, crate::deps::RETRY_AFTER).await;
                continue;
            }
        };
        tracing::info!("receiving other nodes' live feed");
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { break };
                    let Some(tenant) = message
                        .get_channel_name()
                        .strip_prefix(prefix.as_str())
                        .and_then(|t| t.parse::<TenantId>().ok())
                    else {
                        continue;
                    };
                    let Ok(batch) = serde_json::from_slice::<Batch>(message.get_payload_bytes()) else {
                        continue;
                    };
                    if batch.node == node {
                        continue;
                    }
                    for message in batch.messages {
                        hub.publish_here(tenant, message);
                    }
                }
                _ = stop.changed() => return,
            }
        }
        redis.failed("live feed subscribe", "the subscription ended");
        wait_or_stop(&mut stop, crate::deps::RETRY_AFTER).await;
    }
}

async fn wait_or_stop(stop: &mut tokio::sync::watch::Receiver<bool>, wait: std::time::Duration) {
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        _ = stop.changed() => {}
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
