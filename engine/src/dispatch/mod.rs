//! The dispatcher: claims due deliveries with a lease, sends them signed,
//! writes a receipt for every attempt and moves each delivery on (succeeded,
//! retry later, or dead with a DLQ entry).
//!
//! No transaction or row lock is held while a request is on the wire; a crashed
//! worker's leases expire and its deliveries are claimed again.

mod attempt;
pub(crate) use attempt::later_by_ms;
mod breaker;
pub mod guard;
pub mod http;
mod receipts;
mod rescue;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use self::attempt::{after_attempt, panic_text};
use self::receipts::{Recorder, Refilling, record_receipts};
use crate::live::LiveHub;
use crate::model::{
    DeliveryId, DeliveryOutcome, DeliveryState, EndpointId, ErrorClass, LiveMessage,
};
use crate::store::{
    AfterAttempt, AttemptOutcome, ClaimToken, Claimed, NewAttempt, Recorded, Store,
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

/// Deliveries claimed per endpoint at most, as a multiple of its concurrency:
/// the ones beyond its slots wait here for a slot instead of in the database,
/// so a slot freed by a response is refilled at once, without a claim.
pub const CLAIM_AHEAD: usize = 4;

/// A claimed delivery waiting for a slot is sent only if its lease still
/// covers its timeout and this margin; otherwise it is handed back.
const LEASE_MARGIN: chrono::Duration = chrono::Duration::seconds(5);

/// The shortest request a lease cut short still makes; below it the
/// delivery is handed back.
const MIN_REQUEST: chrono::Duration = chrono::Duration::seconds(1);

/// How long the dispatcher lets finishing requests gather before it claims
/// the work that waited for them: each claim is a statement on the one
/// writer, and a claim of one row costs nearly what a claim of thirty does.
const CLAIM_COALESCE: Duration = Duration::from_millis(2);

/// The slots a delivery holds while its request is on the wire: its
/// endpoint's and one of the global ones.
type Slots = (
    tokio::sync::OwnedSemaphorePermit,
    tokio::sync::OwnedSemaphorePermit,
);

/// A warning or an error about one delivery, naming it and its event's
/// correlation id on the line itself (the delivery's span is at debug level).
macro_rules! about {
    ($level:ident, $claimed:expr, $($rest:tt)+) => {
        tracing::$level!(
            correlation_id = %correlation_of($claimed),
            delivery = %$claimed.id,
            endpoint = %$claimed.endpoint_id,
            event = %$claimed.event_id,
            $($rest)+
        )
    };
}

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
    /// Where endpoints' and replays' transforms run.
    pub transforms: Arc<crate::transform::TransformPool>,
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
            transforms: Arc::new(crate::transform::TransformPool::new(
                crate::transform::TransformConfig::default(),
            )),
        }
    }
}

pub struct Dispatcher {
    store: Arc<dyn Store>,
    client: http::Client,
    config: DispatcherConfig,
    wake: Notify,
    endpoint_slots: Mutex<HashMap<EndpointId, (usize, Arc<Semaphore>)>>,
    live: Arc<LiveHub>,
    metrics: Arc<crate::metrics::Metrics>,
    /// Deliveries claimed and not yet settled, for the heartbeat.
    held: std::sync::atomic::AtomicUsize,
    /// Whether the store refills the slots receipts free
    /// ([`Store::record_and_refill`]); if not, a freed slot calls for a claim.
    refills: bool,
    /// The attempts circuit breakers must see.
    breakers: breaker::Observer,
    /// Operational events for tenants' operations endpoints.
    ops: crate::ops::Notices,
}

impl Dispatcher {
    /// A dispatcher that reports attempts to `live` (the engine's feed),
    /// counts them in `metrics` (the engine's counters) and tells `ops` what
    /// operations endpoints hear of.
    pub fn new(
        store: Arc<dyn Store>,
        config: DispatcherConfig,
        live: Arc<LiveHub>,
        metrics: Arc<crate::metrics::Metrics>,
        ops: crate::ops::Notices,
    ) -> Arc<Self> {
        let refills = store.refills();
        let breakers = breaker::spawn(store.clone(), live.clone(), ops.clone(), metrics.clone());
        Arc::new(Self {
            store,
            client: http::client(
                Arc::new(config.guard.clone()),
                config
                    .per_endpoint
                    .max(crate::validate::MAX_IN_FLIGHT as usize),
            ),
            config,
            wake: Notify::new(),
            endpoint_slots: Mutex::new(HashMap::new()),
            live,
            metrics,
            held: std::sync::atomic::AtomicUsize::new(0),
            refills,
            breakers,
            ops,
        })
    }

    /// Where operational events go (the replay runner sends its own there).
    pub fn ops(&self) -> &crate::ops::Notices {
        &self.ops
    }

    /// Disables the endpoint of a delivery whose receiver answered 410 Gone,
    /// and tells the tenant's operations endpoint.
    async fn disable_gone(&self, claimed: &Claimed) {
        let reason = "the receiver answered 410 Gone";
        match self
            .store
            .set_endpoint_enabled(
                claimed.tenant_id,
                claimed.endpoint_id,
                false,
                Some(reason),
                None,
            )
            .await
        {
            Ok(true) => self
                .ops
                .gone(claimed.tenant_id, claimed.endpoint_id, reason, Utc::now()),
            Ok(false) => {}
            Err(e) => {
                about!(error, claimed, error = %e, "cannot disable an endpoint that answered 410");
            }
        }
        about!(
            warn,
            claimed,
            "endpoint disabled: the receiver answered 410 Gone; its deliveries wait until it is enabled"
        );
    }

    /// Deliveries this node holds now: claimed and not yet settled.
    pub fn held(&self) -> u64 {
        self.held.load(std::sync::atomic::Ordering::Relaxed) as u64
    }

    /// Which destinations deliveries may reach.
    pub fn guard(&self) -> &guard::DestinationGuard {
        &self.config.guard
    }

    /// Tells the dispatcher new work is due (called after ingest commits), so
    /// delivery starts at once rather than at the next sweep.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn endpoint_slot(&self, endpoint: EndpointId, limit: Option<u32>) -> Arc<Semaphore> {
        let limit = limit.map_or(self.config.per_endpoint, |n| n as usize);
        let mut slots = self
            .endpoint_slots
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Endpoints come and go: past a thousand entries, drop the slots no
        // task holds (a fresh one is made the next time it is needed).
        if slots.len() >= SLOT_PRUNE_AT && !slots.contains_key(&endpoint) {
            slots.retain(|_, (_, slot)| Arc::strong_count(slot) > 1);
        }
        // A changed limit takes a new semaphore: requests already holding
        // the old one's slots finish on it.
        let slot = slots
            .entry(endpoint)
            .or_insert_with(|| (limit, Arc::new(Semaphore::new(limit))));
        if slot.0 != limit {
            *slot = (limit, Arc::new(Semaphore::new(limit)));
        }
        slot.1.clone()
    }

    /// Runs until `stop` turns true, then finishes (or hands back) what is in flight.
    #[tracing::instrument(skip_all, name = "dispatcher", fields(correlation_id = "dispatcher"))]
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let (recorder, receipts) = mpsc::unbounded_channel();
        let (refilled, mut refills) = mpsc::unbounded_channel();
        let writer = tokio::spawn(record_receipts(
            self.store.clone(),
            receipts,
            self.refills.then(|| Refilling {
                lease: chrono::Duration::from_std(self.config.lease).unwrap_or_default(),
                per_endpoint: u32::try_from(self.config.per_endpoint).unwrap_or(u32::MAX),
                to: refilled,
                stop: stop.clone(),
            }),
        ));
        let mut run = Running {
            tasks: JoinSet::new(),
            in_flight: HashMap::new(),
            recorder,
            permits: Arc::new(Semaphore::new(self.config.concurrency)),
            stop: stop.clone(),
        };
        let mut last_reclaim: Option<tokio::time::Instant> = None;
        // Whether to claim on this turn: after a wake, a sweep, or slots freed
        // that no receipt refilled.
        let mut claim = true;
        let mut next_look = tokio::time::Instant::now();

        self.recover_left_in_flight().await;

        while !*stop.borrow() {
            if last_reclaim.is_none_or(|t| t.elapsed() >= self.config.sweep * 5) {
                self.reclaim_expired().await;
                last_reclaim = Some(tokio::time::Instant::now());
            }
            claim |= run.reap(self.refills);
            while let Ok(refill) = refills.try_recv() {
                claim |= refill.short;
                self.start_all(&mut run, refill.claims, refill.lease_until);
            }
            self.held
                .store(run.in_flight.len(), std::sync::atomic::Ordering::Relaxed);

            // Claimed and not yet finished, at most twice the global limit.
            let room = (self.config.concurrency * CLAIM_AHEAD).saturating_sub(run.tasks.len());
            let wanted = u32::try_from(room.min(256)).unwrap_or(256);
            if claim {
                if wanted > 0 {
                    let now = Utc::now();
                    let lease_until =
                        now + chrono::Duration::from_std(self.config.lease).unwrap_or_default();
                    let per_endpoint = u32::try_from(self.config.per_endpoint).unwrap_or(u32::MAX);
                    let mut claimed_all = false;
                    match self
                        .store
                        .claim_due(now, lease_until, wanted, per_endpoint, CLAIM_AHEAD as u32)
                        .await
                    {
                        Ok(batch) => {
                            claimed_all = batch.len() as u32 == wanted;
                            self.start_all(&mut run, batch, lease_until);
                        }
                        Err(e) => tracing::error!(error = %e, "cannot claim deliveries"),
                    }
                    if claimed_all && run.tasks.len() < self.config.concurrency * CLAIM_AHEAD {
                        continue;
                    }
                }
                // The next look comes at the earliest due time, or after a
                // sweep: never at once, which would spin on the database.
                next_look = tokio::time::Instant::now() + self.pause_until_next_due().await;
            }
            claim = false;

            tokio::select! {
                () = self.wake.notified() => claim = true,
                () = tokio::time::sleep_until(next_look) => claim = true,
                Some(refill) = refills.recv() => {
                    claim = refill.short;
                    self.start_all(&mut run, refill.claims, refill.lease_until);
                }
                Some(done) = run.tasks.join_next_with_id(), if !run.tasks.is_empty() => {
                    claim = finished(&mut run.in_flight, done, self.refills);
                    if claim {
                        // A finished request freed room for more of its
                        // endpoint's work: let the requests finishing after it
                        // free theirs too, so one claim refills many slots
                        // rather than one each. Its endpoint's other claimed
                        // deliveries keep its slots busy meanwhile.
                        tokio::time::sleep(CLAIM_COALESCE).await;
                        run.reap(self.refills);
                    }
                }
                _ = stop.changed() => {}
            }
        }

        // Shutting down: let requests in flight finish, then hand back the rest.
        let Running {
            mut tasks,
            mut in_flight,
            recorder,
            ..
        } = run;
        let grace = tokio::time::sleep(self.config.shutdown_grace);
        tokio::pin!(grace);
        while !tasks.is_empty() {
            tokio::select! {
                Some(done) = tasks.join_next_with_id() => {
                    finished(&mut in_flight, done, false);
                }
                () = &mut grace => break,
            }
        }
        tasks.abort_all();
        // Receipts already queued are written first (every sender is gone
        // once the aborted tasks are dropped, so the writer stores what it has
        // and ends); only what is still in flight after that is handed back,
        // with what a receipt refilled that no task was started for.
        while tasks.join_next().await.is_some() {}
        drop(recorder);
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "the receipt writer stopped abnormally");
        }
        // Their requests may have reached the receiver: at-least-once ones are
        // sent again on the next start, at-most-once ones go to the DLQ.
        let mut unfinished: Vec<(DeliveryId, ClaimToken)> = in_flight.into_values().collect();
        while let Ok(refill) = refills.try_recv() {
            unfinished.extend(refill.claims.iter().map(|c| (c.id, c.claim)));
        }
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

    /// Starts a task for each claimed delivery: it sends the delivery once it
    /// has its endpoint's slot and a global one, unless the lease ran short.
    fn start_all(
        self: &Arc<Self>,
        run: &mut Running,
        claims: Vec<Claimed>,
        lease_until: chrono::DateTime<Utc>,
    ) {
        for claimed in claims {
            let slot = self.endpoint_slot(claimed.endpoint_id, claimed.max_in_flight);
            let id = (claimed.id, claimed.claim);
            let (this, recorder, permits, stop) = (
                self.clone(),
                run.recorder.clone(),
                run.permits.clone(),
                run.stop.clone(),
            );
            let mut claimed = claimed;
            // A task that made no attempt leaves its delivery in flight in
            // the database, to be handed back at shutdown.
            let handle = run.tasks.spawn(async move {
                // Its endpoint's slot first: one that waits for a global slot
                // holds only its own endpoint's.
                let (Ok(endpoint), Ok(global)) =
                    (slot.acquire_owned().await, permits.acquire_owned().await)
                else {
                    return Ended::Unattempted;
                };
                if *stop.borrow() {
                    return Ended::Unattempted;
                }
                if !this.lease_covers(&mut claimed, lease_until).await {
                    return Ended::Settled;
                }
                this.deliver(claimed, &recorder, (endpoint, global)).await
            });
            run.in_flight.insert(handle.id(), id);
        }
        self.held
            .store(run.in_flight.len(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the lease of a delivery that waited for a slot still leaves
    /// room for a request: its timeout and [`LEASE_MARGIN`] must fit before
    /// the lease ends, so another node never takes over a delivery whose
    /// request may still be on the wire. A timeout longer than what is left
    /// (a lease shorter than an endpoint's timeout, or a long wait for the
    /// slot) is cut to fit; with less than [`MIN_REQUEST`] left, the delivery
    /// is handed back, due again at once.
    async fn lease_covers(
        &self,
        claimed: &mut Claimed,
        lease_until: chrono::DateTime<Utc>,
    ) -> bool {
        let left = lease_until - Utc::now() - LEASE_MARGIN;
        let wanted = chrono::Duration::milliseconds(i64::from(claimed.timeout_ms));
        if left >= wanted {
            return true;
        }
        if left >= MIN_REQUEST {
            claimed.timeout_ms =
                u32::try_from(left.num_milliseconds()).unwrap_or(claimed.timeout_ms);
            return true;
        }
        if let Err(e) = self
            .store
            .release(&[(claimed.id, claimed.claim)], Utc::now())
            .await
        {
            tracing::error!(error = %e, delivery = %claimed.id, "cannot hand back a delivery whose lease ran short; it is retried when the lease ends");
        }
        false
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

    /// One attempt at one claimed delivery, its receipt, and what comes next.
    // Every line about an attempt carries its event's correlation id (the
    // event id when the publisher gave none), as the request that published it
    // did. The span is at debug level: at info, formatting its fields cost
    // every delivery thousands of instructions whether or not a line was
    // written, so the warnings and errors below name the delivery themselves.
    #[tracing::instrument(level = "debug", skip_all, fields(
        correlation_id = %correlation_of(&claimed),
        delivery = %claimed.id,
        endpoint = %claimed.endpoint_id,
        event = %claimed.event_id,
    ))]
    async fn deliver(&self, claimed: Claimed, recorder: &Recorder, slots: Slots) -> Ended {
        if !claimed.endpoint_active {
            // Disabled since it was claimed: it waits with the endpoint's
            // other deliveries (claims pass a disabled endpoint by).
            if let Ok(Some(_)) = self
                .store
                .get_endpoint(claimed.tenant_id, claimed.endpoint_id)
                .await
            {
                if let Err(e) = self
                    .store
                    .release(&[(claimed.id, claimed.claim)], Utc::now())
                    .await
                {
                    about!(error, &claimed, error = %e, "cannot hand back a delivery to a disabled endpoint");
                }
                return Ended::Settled;
            }
            let reason = "the endpoint was deleted before the delivery was attempted";
            match self.store.abandon(claimed.id, claimed.claim, reason).await {
                Ok(added) => self.metrics.dlq_added(u64::from(added)),
                Err(e) => {
                    about!(error, &claimed, error = %e, "cannot end a delivery to an inactive endpoint")
                }
            }
            return Ended::Settled;
        }
        if self.ended_unacknowledged(&claimed).await {
            return Ended::Settled;
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
                about!(error, &claimed, panic = %what, "an attempt failed inside Herald; recorded as class internal");
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
        // The response is in: the endpoint's slot is free for the next
        // delivery while this one's receipt is written.
        drop(slots);
        let gone = exchange.status == Some(410);
        let next = std::panic::catch_unwind(AssertUnwindSafe(|| {
            after_attempt(
                &claimed,
                &exchange,
                started_at,
                Utc::now(),
                rand::random::<f64>(),
            )
        }))
        .unwrap_or_else(|panic| {
            let what = panic_text(panic.as_ref());
            about!(error, &claimed, panic = %what, "cannot work out the next attempt; the delivery goes to the DLQ");
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
            trigger: claimed.attempt_trigger(),
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
                trigger: claimed.attempt_trigger(),
                state: match &next {
                    AfterAttempt::Succeeded => DeliveryState::Succeeded,
                    AfterAttempt::AwaitAck(_) => DeliveryState::AwaitingAck,
                    AfterAttempt::RetryAt(_) => DeliveryState::Pending,
                    AfterAttempt::Dead { .. } => DeliveryState::Dead,
                },
                response_status: attempt.response_status,
                error_class: attempt.error_class,
                latency_ms: attempt.latency_ms,
                at: Utc::now(),
            });
        if gone {
            // Before the receipt: the delivery it puts back must find the
            // endpoint disabled, or the next claim would send it again.
            self.disable_gone(&claimed).await;
        }
        let (stored, written) = oneshot::channel();
        let counted = (attempt.error_class, exchange.latency);
        let outcome = AttemptOutcome {
            delivery: claimed.id,
            claim: claimed.claim,
            attempt,
            next,
            event_type: Some(claimed.event_type.clone()),
        };
        // Metrics and the live feed report only attempts whose receipt is stored.
        let (ended, recorded) = match recorder.send((outcome, stored)) {
            Ok(()) => (Ended::Receipted, written.await.ok().flatten()),
            Err(_) => (Ended::Settled, None),
        };
        if let Some(Recorded::Applied { dead_lettered }) = recorded {
            self.observe(&claimed, counted.0);
            self.metrics.attempt(counted.0, counted.1);
            self.metrics.dlq_added(u64::from(dead_lettered));
            if let Some(feed) = feed {
                self.live
                    .publish(claimed.tenant_id, LiveMessage::DeliveryOutcome(feed));
            }
        }
        ended
    }
}

/// The correlation id of a delivery's lines: its event's, or the event id
/// when the publisher gave none.
fn correlation_of(claimed: &Claimed) -> String {
    claimed
        .correlation_id
        .clone()
        .unwrap_or_else(|| claimed.event_id.to_string())
}

/// What the dispatcher's loop keeps while it runs.
struct Running {
    tasks: JoinSet<Ended>,
    /// The claim of each task's delivery, until the task settles it.
    in_flight: HashMap<tokio::task::Id, (DeliveryId, ClaimToken)>,
    recorder: Recorder,
    permits: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
}

impl Running {
    /// Forgets the tasks that have finished; true when one freed a slot that
    /// calls for a claim (see [`finished`]).
    fn reap(&mut self, refills: bool) -> bool {
        let mut claim = false;
        while let Some(done) = self.tasks.try_join_next_with_id() {
            claim |= finished(&mut self.in_flight, done, refills);
        }
        claim
    }
}

/// How a delivery's task ended.
enum Ended {
    /// Never attempted (shutting down): still in flight, handed back with the rest.
    Unattempted,
    /// Its receipt went to the writer, which refills the slot where the
    /// store does (and says when it could not).
    Receipted,
    /// Settled without a receipt (handed back, or abandoned).
    Settled,
}

/// Forgets a finished task's claim unless it is still in flight; true when
/// the slot it freed calls for a claim: it was settled without a receipt,
/// it panicked, or its receipt refilled nothing (`refills` false).
fn finished(
    in_flight: &mut HashMap<tokio::task::Id, (DeliveryId, ClaimToken)>,
    done: Result<(tokio::task::Id, Ended), tokio::task::JoinError>,
    refills: bool,
) -> bool {
    match done {
        Ok((_, Ended::Unattempted)) => false,
        Ok((id, Ended::Receipted)) => {
            in_flight.remove(&id);
            !refills
        }
        Ok((id, Ended::Settled)) => {
            in_flight.remove(&id);
            true
        }
        Err(e) => {
            let delivery = in_flight.remove(&e.id()).map(|(id, _)| id);
            if e.is_panic() {
                tracing::error!(
                    ?delivery,
                    "a delivery task panicked; its lease will expire and it will be retried"
                );
            }
            true
        }
    }
}
