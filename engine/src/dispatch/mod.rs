//! The dispatcher: claims due deliveries with a lease, sends them signed,
//! writes a receipt for every attempt and moves each delivery on (succeeded,
//! retry later, or dead with a DLQ entry).
//!
//! No transaction or row lock is held while a request is on the wire; a crashed
//! worker's leases expire and its deliveries are claimed again.

pub mod guard;
pub mod http;

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::live::LiveHub;
use crate::model::{
    DeliveryId, DeliveryOutcome, DeliveryState, EndpointId, ErrorClass, LiveMessage, Semantics,
    Trigger,
};
use crate::retry::{GiveUp, Next};
use crate::sign::signature_header;
use crate::store::{
    AfterAttempt, AttemptOutcome, Backend, ClaimToken, Claimed, NewAttempt, Recorded, Settled,
    Store,
};

/// Headers Herald sets itself; endpoints cannot override them.
pub const RESERVED_HEADERS: [&str; 9] = [
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-correlation-id",
    "herald-replay",
];

/// How many per-endpoint slots are kept before idle ones are dropped.
const SLOT_PRUNE_AT: usize = 1_000;

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Requests in flight at once, across all endpoints. A request waiting on a
    /// slow receiver costs a socket and a task, so this is generous: fairness
    /// comes from `per_endpoint` and the claim's turns, not from scarcity here.
    pub concurrency: usize,
    /// Requests in flight at once to any one endpoint.
    pub per_endpoint: usize,
    /// How long a claim lasts: longer than any endpoint timeout.
    pub lease: Duration,
    /// How often to look for due work when nothing wakes the dispatcher.
    pub sweep: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Which destinations outbound requests may reach.
    pub guard: guard::DestinationGuard,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            concurrency: 1024,
            per_endpoint: 8,
            lease: Duration::from_secs(120),
            sweep: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
            guard: guard::DestinationGuard::default(),
        }
    }
}

pub struct Dispatcher {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    config: DispatcherConfig,
    wake: Notify,
    endpoint_slots: Mutex<HashMap<EndpointId, Arc<Semaphore>>>,
    live: LiveHub,
    metrics: crate::metrics::Metrics,
}

impl Dispatcher {
    pub fn new(store: Arc<dyn Store>, config: DispatcherConfig) -> Arc<Self> {
        Arc::new(Self {
            store,
            client: http::client(Arc::new(config.guard.clone())),
            config,
            wake: Notify::new(),
            endpoint_slots: Mutex::new(HashMap::new()),
            live: LiveHub::default(),
            metrics: crate::metrics::Metrics::default(),
        })
    }

    /// Which destinations deliveries may reach.
    pub fn guard(&self) -> &guard::DestinationGuard {
        &self.config.guard
    }

    /// Counters for `/metrics`: attempts from here, ingest from the engine.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The live feed: attempt outcomes from here, replay progress from the runner.
    pub fn live(&self) -> &LiveHub {
        &self.live
    }

    /// Tells the dispatcher new work is due (called after ingest commits), so
    /// delivery starts at once rather than at the next sweep.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn endpoint_slot(&self, endpoint: EndpointId) -> Arc<Semaphore> {
        let mut slots = self
            .endpoint_slots
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Endpoints come and go: past a thousand entries, drop the slots no
        // task holds (a fresh one is made the next time it is needed).
        if slots.len() >= SLOT_PRUNE_AT && !slots.contains_key(&endpoint) {
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        slots
            .entry(endpoint)
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_endpoint)))
            .clone()
    }

    /// Runs until `stop` turns true, then finishes (or hands back) what is in flight.
    #[tracing::instrument(skip_all, name = "dispatcher", fields(correlation_id = "dispatcher"))]
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.config.concurrency));
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, (DeliveryId, ClaimToken)> = HashMap::new();
        let mut last_reclaim: Option<tokio::time::Instant> = None;
        let (recorder, receipts) = mpsc::unbounded_channel();
        let writer = tokio::spawn(record_receipts(self.store.clone(), receipts));

        // SQLite is a single node: whatever is in flight at start was claimed by an
        // earlier run that stopped without finishing. Take it back now rather than
        // wait for those leases to run out.
        if self.store.backend() == Backend::Sqlite {
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

        while !*stop.borrow() {
            if last_reclaim.is_none_or(|t| t.elapsed() >= self.config.sweep * 5) {
                let now = Utc::now();
                match self.store.reclaim_expired(now, now).await {
                    Ok(settled) => {
                        self.settled(settled, "reclaimed deliveries whose lease had expired")
                    }
                    Err(e) => tracing::error!(error = %e, "cannot reclaim expired leases"),
                }
                last_reclaim = Some(tokio::time::Instant::now());
            }
            while let Some(done) = tasks.try_join_next_with_id() {
                finished(&mut in_flight, done);
            }

            let free = permits.available_permits();
            let wanted = u32::try_from(free.min(256)).unwrap_or(256);
            let mut claimed_all = false;
            if wanted > 0 {
                let now = Utc::now();
                let lease_until =
                    now + chrono::Duration::from_std(self.config.lease).unwrap_or_default();
                let per_endpoint = u32::try_from(self.config.per_endpoint).unwrap_or(u32::MAX);
                match self
                    .store
                    .claim_due(now, lease_until, wanted, per_endpoint)
                    .await
                {
                    Ok(batch) => {
                        claimed_all = batch.len() as u32 == wanted;
                        let mut busy = Vec::new();
                        for claimed in batch {
                            let slot = self.endpoint_slot(claimed.endpoint_id);
                            let (Ok(endpoint_permit), Ok(permit)) = (
                                slot.try_acquire_owned(),
                                permits.clone().try_acquire_owned(),
                            ) else {
                                busy.push((claimed.id, claimed.claim));
                                continue;
                            };
                            let id = (claimed.id, claimed.claim);
                            let this = self.clone();
                            let recorder = recorder.clone();
                            let handle = tasks.spawn(async move {
                                this.deliver(claimed, &recorder).await;
                                drop((permit, endpoint_permit));
                            });
                            in_flight.insert(handle.id(), id);
                        }
                        if !busy.is_empty() {
                            // The claim respects each endpoint's limit, so this only
                            // happens when another node's work finished in between:
                            // try these again shortly rather than hold their leases.
                            let later = Utc::now() + chrono::Duration::milliseconds(200);
                            if let Err(e) = self.store.release(&busy, later).await {
                                tracing::error!(error = %e, "cannot hand back deliveries");
                            }
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot claim deliveries"),
                }
            }
            if claimed_all && permits.available_permits() > 0 {
                continue;
            }

            let pause = self.pause_until_next_due().await;
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => finished(&mut in_flight, done),
                _ = stop.changed() => {}
            }
        }

        // Shutting down: let requests in flight finish, then hand back the rest.
        let grace = tokio::time::sleep(self.config.shutdown_grace);
        tokio::pin!(grace);
        while !tasks.is_empty() {
            tokio::select! {
                Some(done) = tasks.join_next_with_id() => finished(&mut in_flight, done),
                () = &mut grace => break,
            }
        }
        tasks.abort_all();
        // Receipts already queued are written first (every sender is gone
        // once the aborted tasks are dropped, so the writer stores what it has
        // and ends); only what is still in flight after that is handed back.
        while tasks.join_next().await.is_some() {}
        drop(recorder);
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "the receipt writer stopped abnormally");
        }
        // Their requests may have reached the receiver: at-least-once ones are
        // sent again on the next start, at-most-once ones go to the DLQ.
        let unfinished: Vec<(DeliveryId, ClaimToken)> = in_flight.into_values().collect();
        if !unfinished.is_empty() {
            match self.store.hand_back(&unfinished, Utc::now()).await {
                Ok(settled) => self.settled(
                    settled,
                    "handed back deliveries still in flight at shutdown",
                ),
                Err(e) => {
                    tracing::error!(error = %e, "cannot hand back deliveries; their leases will expire instead")
                }
            }
        }
    }

    /// Reports (and counts) what settling in-flight deliveries did.
    fn settled(&self, settled: Settled, what: &str) {
        self.metrics.dlq_added(settled.dead_lettered);
        if settled.requeued + settled.dead > 0 {
            tracing::warn!(
                requeued = settled.requeued,
                outcome_unknown = settled.dead,
                "{what}"
            );
        }
    }

    /// How long to wait before claiming again. Work already due that the last
    /// claim did not take is waiting for a busy endpoint: a finishing request
    /// (or a wake, or the sweep) ends the wait, never a zero-length sleep, which
    /// would spin on the database.
    async fn pause_until_next_due(&self) -> Duration {
        match self.store.next_due_at().await {
            Ok(Some(at)) => match (at - Utc::now()).to_std() {
                Ok(ahead) if !ahead.is_zero() => ahead.min(self.config.sweep),
                _ => self.config.sweep,
            },
            _ => self.config.sweep,
        }
    }

    /// Builds, signs and sends one request: what came back, and the request
    /// headers as the receipt shows them (custom values redacted).
    async fn attempt(
        &self,
        claimed: &Claimed,
        started_at: DateTime<Utc>,
    ) -> (http::Exchange, BTreeMap<String, String>) {
        #[cfg(test)]
        if claimed.url.contains("fault.invalid") {
            panic!("a fault injected by a test");
        }
        let timestamp = started_at.timestamp();
        let webhook_id = claimed.id.to_string();
        let body = claimed.payload.clone().into_bytes();

        let mut headers: Vec<(String, String)> = vec![
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), webhook_id.clone()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            (
                "webhook-signature".into(),
                signature_header(&claimed.secrets, &webhook_id, timestamp, &body),
            ),
            ("herald-event-type".into(), claimed.event_type.clone()),
            ("herald-attempt".into(), (claimed.attempts + 1).to_string()),
        ];
        if claimed.trigger == Trigger::Replay {
            let reason = claimed.reason.as_deref().unwrap_or_default();
            headers.push(("herald-replay".into(), header_text(reason, "replay")));
        }
        if claimed.test {
            headers.push(("herald-test".into(), "true".into()));
        }
        // Validated at ingest; an event stored before that rule whose id cannot
        // be a header value is delivered without it rather than never.
        if let Some(correlation) = &claimed.correlation_id
            && crate::validate::is_header_safe(correlation)
        {
            headers.push(("x-correlation-id".into(), correlation.clone()));
        }
        let mut receipt_headers: BTreeMap<String, String> = headers.iter().cloned().collect();
        for (name, value) in &claimed.headers {
            headers.push((name.clone(), value.clone()));
            // Custom header values can be credentials: receipts never show them.
            receipt_headers.insert(name.to_ascii_lowercase(), "[redacted]".into());
        }

        let timeout = Duration::from_millis(u64::from(claimed.timeout_ms));
        let exchange = http::send(
            &self.client,
            &self.config.guard,
            &claimed.url,
            &headers,
            body,
            timeout,
        )
        .await;
        (exchange, receipt_headers)
    }

    /// One attempt at one claimed delivery, its receipt, and what comes next.
    // Every line about an attempt carries its event's correlation id (the
    // event id when the publisher gave none), as the request that published it did.
    #[tracing::instrument(skip_all, fields(
        correlation_id = %claimed.correlation_id.clone().unwrap_or_else(|| claimed.event_id.to_string()),
        delivery = %claimed.id,
        endpoint = %claimed.endpoint_id,
        event = %claimed.event_id,
    ))]
    async fn deliver(&self, claimed: Claimed, recorder: &Recorder) {
        if !claimed.endpoint_active {
            let reason = "the endpoint was disabled or deleted before the delivery was attempted";
            match self.store.abandon(claimed.id, claimed.claim, reason).await {
                Ok(added) => self.metrics.dlq_added(u64::from(added)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot end a delivery to an inactive endpoint")
                }
            }
            return;
        }
        let started_at = Utc::now();
        let began = std::time::Instant::now();
        // A fault inside the attempt (a bug, an overflow) must not kill the task
        // silently: that would leave the delivery in flight with no receipt,
        // sent again with the same attempt number at every lease expiry. It
        // becomes a failed attempt of class `internal` that follows the policy.
        let (exchange, receipt_headers) = match AssertUnwindSafe(self.attempt(&claimed, started_at))
            .catch_unwind()
            .await
        {
            Ok(done) => done,
            Err(panic) => {
                let what = panic_text(panic.as_ref());
                tracing::error!(panic = %what, "an attempt failed inside Herald; recorded as class internal");
                (
                    http::Exchange::failed(
                        ErrorClass::Internal,
                        format!("Herald could not make the attempt (an internal fault: {what})"),
                        began.elapsed(),
                    ),
                    BTreeMap::new(),
                )
            }
        };
        let gone = exchange.status == Some(410);
        let next = std::panic::catch_unwind(AssertUnwindSafe(|| {
            after_attempt(&claimed, &exchange, started_at)
        }))
        .unwrap_or_else(|panic| {
            let what = panic_text(panic.as_ref());
            tracing::error!(panic = %what, "cannot work out the next attempt; the delivery goes to the DLQ");
            AfterAttempt::Dead {
                reason: format!(
                    "Herald could not work out when to try again (an internal fault: {what})"
                ),
            }
        });
        let (error_class, error_message) = match exchange.error {
            Some((class, message)) => (Some(class), Some(message)),
            None => (None, None),
        };
        let attempt = NewAttempt {
            trigger: claimed.trigger,
            started_at,
            latency_ms: u64::try_from(exchange.latency.as_millis()).unwrap_or(u64::MAX),
            request_headers: receipt_headers,
            response_status: exchange.status,
            response_headers: exchange.response_headers,
            response_excerpt: exchange.excerpt,
            error_class,
            error_message,
        };
        tracing::debug!(status = ?attempt.response_status, error = ?attempt.error_class, next = ?next, "attempt finished");
        let feed = self
            .live
            .has_subscribers(claimed.tenant_id)
            .then(|| DeliveryOutcome {
                delivery_id: claimed.id,
                event_id: claimed.event_id,
                endpoint_id: claimed.endpoint_id,
                event_type: claimed.event_type.clone(),
                attempt: claimed.attempts + 1,
                trigger: claimed.trigger,
                state: match &next {
                    AfterAttempt::Succeeded => DeliveryState::Succeeded,
                    AfterAttempt::RetryAt(_) => DeliveryState::Pending,
                    AfterAttempt::Dead { .. } => DeliveryState::Dead,
                },
                response_status: attempt.response_status,
                error_class: attempt.error_class,
                latency_ms: attempt.latency_ms,
                at: Utc::now(),
            });
        let (stored, written) = oneshot::channel();
        let counted = (attempt.error_class, exchange.latency);
        let outcome = AttemptOutcome {
            delivery: claimed.id,
            claim: claimed.claim,
            attempt,
            next,
            event_type: Some(claimed.event_type.clone()),
        };
        // The task (and with it the endpoint's slot) ends once the receipt is
        // durable, so what is in flight in the database is what is on the wire.
        // Metrics and the live feed report only attempts whose receipt is stored.
        let recorded = match recorder.send((outcome, stored)) {
            Ok(()) => written.await.ok().flatten(),
            Err(_) => None,
        };
        if let Some(Recorded::Applied { dead_lettered }) = recorded {
            self.metrics.attempt(counted.0, counted.1);
            self.metrics.dlq_added(u64::from(dead_lettered));
            if let Some(feed) = feed {
                self.live
                    .publish(claimed.tenant_id, LiveMessage::DeliveryOutcome(feed));
            }
        }
        if gone {
            let reason = "the receiver answered 410 Gone";
            if let Err(e) = self
                .store
                .set_endpoint_enabled(claimed.tenant_id, claimed.endpoint_id, false, Some(reason))
                .await
            {
                tracing::error!(error = %e, "cannot disable an endpoint that answered 410");
            }
            tracing::warn!("endpoint disabled: the receiver answered 410 Gone");
        }
    }
}

/// What comes after an attempt: done, again later on the policy, or dead.
fn after_attempt(
    claimed: &Claimed,
    exchange: &http::Exchange,
    started_at: DateTime<Utc>,
) -> AfterAttempt {
    // The retry policy counts within the chain: a reprocess or replay gets
    // the whole schedule again.
    let attempts_made = claimed.chain_attempts + 1;
    if exchange.succeeded() {
        AfterAttempt::Succeeded
    } else if exchange.blocked() {
        AfterAttempt::Dead {
            reason: "the destination address is blocked; retrying cannot change that".into(),
        }
    } else if exchange.status == Some(410) {
        AfterAttempt::Dead {
            reason: "the receiver answered 410 Gone; the endpoint was disabled".into(),
        }
    } else if claimed.semantics == Semantics::AtMostOnce {
        AfterAttempt::Dead {
            reason: "the attempt failed and at-most-once deliveries are not retried".into(),
        }
    } else {
        let first = claimed.first_attempt_at.unwrap_or(started_at);
        let age_ms = u64::try_from((Utc::now() - first).num_milliseconds()).unwrap_or(0);
        match claimed.retry_policy.next(
            attempts_made,
            age_ms,
            exchange.retry_after_ms,
            rand::random::<f64>(),
        ) {
            Next::RetryInMs(ms) => AfterAttempt::RetryAt(later_by_ms(Utc::now(), ms)),
            Next::GiveUp(GiveUp::MaxAttempts) => AfterAttempt::Dead {
                reason: format!("retries exhausted after {attempts_made} attempts"),
            },
            Next::GiveUp(GiveUp::MaxAge) => AfterAttempt::Dead {
                reason: "the retry policy's maximum age was reached".into(),
            },
        }
    }
}

/// `now` plus `ms`, saturating at the latest time Herald stores (a policy's
/// delays are bounded, but a stored policy or a receiver's `Retry-After` must
/// never be able to overflow the clock).
fn later_by_ms(now: DateTime<Utc>, ms: u64) -> DateTime<Utc> {
    let latest = DateTime::<Utc>::MAX_UTC;
    i64::try_from(ms)
        .ok()
        .and_then(chrono::TimeDelta::try_milliseconds)
        .and_then(|delay| now.checked_add_signed(delay))
        .unwrap_or(latest)
        .min(latest)
}

/// The message a panic carried, for the log and the receipt.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    text.chars().take(300).collect()
}

/// Free text (a person's reason) as a header value: visible ASCII only, at most
/// 200 characters; `fallback` when nothing is left.
fn header_text(text: &str, fallback: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        fallback.to_owned()
    } else {
        clean.to_owned()
    }
}

/// Attempts waiting for their receipt, each with whom to tell what became of
/// it (`None`: it could not be written).
type Recorder = mpsc::UnboundedSender<(AttemptOutcome, oneshot::Sender<Option<Recorded>>)>;

/// Most receipts written in one transaction.
const RECEIPT_BATCH: usize = 512;

/// Writes receipts with group commit: whatever finished while the previous
/// transaction was being written goes into the next one, so one commit serves
/// many deliveries when traffic is heavy and a lone attempt is written at once.
#[tracing::instrument(skip_all, name = "receipts", fields(correlation_id = "receipts"))]
async fn record_receipts(
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

fn finished(
    in_flight: &mut HashMap<tokio::task::Id, (DeliveryId, ClaimToken)>,
    done: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
) {
    match done {
        Ok((id, ())) => {
            in_flight.remove(&id);
        }
        Err(e) => {
            let delivery = in_flight.remove(&e.id()).map(|(id, _)| id);
            if e.is_panic() {
                tracing::error!(
                    ?delivery,
                    "a delivery task panicked; its lease will expire and it will be retried"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_endpoint_slots_are_dropped_and_busy_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let store = crate::store::connect(&url, Arc::new(crate::vault::Vault::ephemeral()))
            .await
            .unwrap();
        let dispatcher = Dispatcher::new(store, DispatcherConfig::default());
        let busy_endpoint = EndpointId::new();
        let held = dispatcher
            .endpoint_slot(busy_endpoint)
            .try_acquire_owned()
            .unwrap();
        for _ in 0..2_500 {
            drop(dispatcher.endpoint_slot(EndpointId::new()));
        }
        let slots = dispatcher.endpoint_slots.lock().unwrap();
        assert!(slots.len() <= SLOT_PRUNE_AT, "{} slots kept", slots.len());
        let busy = slots.get(&busy_endpoint).expect("a slot in use is kept");
        assert_eq!(
            busy.available_permits(),
            DispatcherConfig::default().per_endpoint - 1
        );
        drop(slots);
        drop(held);
    }

    /// A receiver that answers every request with `answer` (a whole HTTP/1.1
    /// response) and counts the requests.
    async fn receiver(answer: &'static str) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let count = count.clone();
                tokio::spawn(async move {
                    let mut read = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !read.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        (url, seen)
    }

    /// Runs a dispatcher (allowed to reach loopback) with one endpoint at `url`
    /// under `policy`, publishes one event, and returns what is needed to follow it.
    async fn one_delivery(
        url: &str,
        policy: crate::retry::RetryPolicy,
    ) -> (
        tempfile::TempDir,
        Arc<dyn Store>,
        crate::model::TenantId,
        crate::model::EventId,
        watch::Sender<bool>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("d.db").display());
        let store = crate::store::connect(&db, Arc::new(crate::vault::Vault::ephemeral()))
            .await
            .unwrap();
        let tenant = store.ensure_tenant("default", "Default").await.unwrap();
        store
            .create_endpoint(
                tenant.id,
                crate::store::NewEndpoint {
                    url: url.into(),
                    description: String::new(),
                    event_types: vec!["*".into()],
                    headers: Default::default(),
                    semantics: Semantics::AtLeastOnce,
                    // Stored as it is: the store does not validate, so a policy
                    // from before a bound existed reaches the dispatcher too.
                    retry_policy: policy,
                    retry_policy_id: None,
                    timeout_ms: 2_000,
                    secret: crate::sign::Secret::generate(),
                },
            )
            .await
            .unwrap();
        let config = DispatcherConfig {
            guard: guard::DestinationGuard::new(vec!["127.0.0.0/8".parse().unwrap()]),
            ..DispatcherConfig::default()
        };
        let dispatcher = Dispatcher::new(store.clone(), config);
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(dispatcher.clone().run(stopped));
        let ingested = store
            .ingest(
                tenant.id,
                vec![crate::store::NewEvent {
                    event_type: "a.b".into(),
                    payload: r#"{"n":1}"#.into(),
                    payload_sha256: "digest".into(),
                    idempotency_key: None,
                    correlation_id: None,
                    entity_id: None,
                    metadata: None,
                    only_endpoint: None,
                }],
                Utc::now(),
            )
            .await
            .unwrap();
        dispatcher.wake();
        let event = ingested[0].event().id;
        (dir, store, tenant.id, event, stop)
    }

    /// Waits (up to 10 s) until the event's one delivery has `n` receipts.
    async fn receipts(
        store: &Arc<dyn Store>,
        tenant: crate::model::TenantId,
        event: crate::model::EventId,
        n: usize,
    ) -> crate::model::DeliveryOut {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let detail = store.event_detail(tenant, event).await.unwrap().unwrap();
            let delivery = detail.deliveries[0].clone();
            if delivery.attempt_log.len() >= n && delivery.state != DeliveryState::InFlight {
                return delivery;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {n} receipt(s) after 10 s: {delivery:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_huge_retry_after_under_an_unbounded_cap_is_a_receipt_and_a_retry() {
        let (url, _) = receiver(
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 18446744073709551615\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await;
        let policy = crate::retry::RetryPolicy {
            retry_after_cap_secs: u64::MAX,
            ..crate::retry::RetryPolicy::schedule(vec![1])
        };
        let (_dir, store, tenant, event, _stop) = one_delivery(&url, policy).await;
        let delivery = receipts(&store, tenant, event, 1).await;
        assert_eq!(delivery.state, DeliveryState::Pending);
        assert_eq!(delivery.attempt_log[0].response_status, Some(429));
        let next = delivery.next_attempt_at.expect("a retry is planned");
        let wait = next - Utc::now();
        assert!(
            wait <= chrono::Duration::days(7) && wait > chrono::Duration::days(6),
            "the retry waits the bounded cap (7 days), not {wait}"
        );
    }

    #[tokio::test]
    async fn a_fault_inside_an_attempt_is_an_internal_receipt_that_follows_the_policy() {
        // Nothing listens there: the injected fault fires before any request.
        let policy = crate::retry::RetryPolicy::schedule(vec![0]).with_max_attempts(2);
        let (_dir, store, tenant, event, _stop) =
            one_delivery("http://fault.invalid/hook", policy).await;
        let delivery = receipts(&store, tenant, event, 2).await;
        assert_eq!(delivery.state, DeliveryState::Dead, "{delivery:?}");
        assert_eq!(delivery.attempts, 2);
        for (i, attempt) in delivery.attempt_log.iter().enumerate() {
            assert_eq!(attempt.attempt, i as u32 + 1, "attempts are numbered on");
            assert_eq!(attempt.error_class, Some(ErrorClass::Internal));
            assert!(
                attempt
                    .error_message
                    .as_deref()
                    .is_some_and(|m| m.contains("a fault injected by a test")),
                "{attempt:?}"
            );
        }
        let dlq = store
            .list_dlq(tenant, &crate::store::DlqFilter::default(), 10)
            .await
            .unwrap();
        assert_eq!(dlq.items.len(), 1, "retries exhausted: one DLQ entry");
    }

    #[test]
    fn time_arithmetic_saturates() {
        let now = Utc::now();
        assert_eq!(later_by_ms(now, u64::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            later_by_ms(DateTime::<Utc>::MAX_UTC, 1),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(later_by_ms(now, 1_000), now + chrono::Duration::seconds(1));
    }
}
