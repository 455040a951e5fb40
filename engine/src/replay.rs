//! The replay runner: drives every running replay job at its rate.
//!
//! A job's state lives in the store, not here: each step takes the next events
//! and saves the cursor in one transaction, so after a crash or restart the
//! runner finds the job still `running` and carries on from its cursor. Pause
//! and cancel are state changes in the store that the job's task notices on
//! its next tick.
//!
//! Where several nodes share the database, each job is driven by the node
//! that leases it. Every scan renews this node's leases and takes the jobs
//! whose lease ran out (their node died or was cut off); a job whose lease
//! went to another node stops here, and a step by a node that lost the lease
//! changes nothing (the store checks the owner and the cursor).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::dispatch::Dispatcher;
use crate::model::{LiveMessage, ReplayId, ReplayState};
use crate::store::Store;

/// How often a job takes its next events: small enough that the rate is
/// smooth, large enough that each step is a worthwhile transaction.
const TICK: Duration = Duration::from_millis(20);
/// Most events one step takes.
const MAX_STEP: f64 = 500.0;
/// The runner's own ceiling: a full step every tick. What a job may ask for
/// (`recovery::MAX_REPLAY_RATE`) is lower, since steps share the writer.
pub const MAX_RATE: f64 = MAX_STEP * 1_000.0 / TICK.as_millis() as f64;
/// How often a running job's progress goes to the live feed.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How often the runner looks for jobs (and renews its leases) when nothing
/// wakes it.
const SCAN: Duration = Duration::from_millis(500);
/// How long a job's lease lasts without renewal: a job on a node that died
/// moves to another this long after its last scan. Many scans fit in it, so
/// a slow scan or two never lets a live node's job go.
pub const LEASE: Duration = Duration::from_secs(10);
/// How long a job's task waits after a step failed for a reason that may pass
/// (the database unreachable) before trying again.
const RETRY_STEP: Duration = Duration::from_millis(500);

pub struct ReplayRunner {
    store: Arc<dyn Store>,
    dispatcher: Arc<Dispatcher>,
    live: Arc<crate::live::LiveHub>,
    wake: Notify,
}

impl ReplayRunner {
    /// A runner that arms deliveries for `dispatcher` and reports progress to
    /// `live` (the engine's feed).
    pub fn new(
        store: Arc<dyn Store>,
        dispatcher: Arc<Dispatcher>,
        live: Arc<crate::live::LiveHub>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            dispatcher,
            live,
            wake: Notify::new(),
        })
    }

    /// A job was created or resumed: start it now rather than at the next scan.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until `stop` turns true. Jobs keep their state in the store, so
    /// stopping simply stops taking steps; the next start resumes them.
    #[tracing::instrument(skip_all, name = "replays", fields(correlation_id = "replays"))]
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut jobs: HashMap<ReplayId, JoinHandle<()>> = HashMap::new();
        while !*stop.borrow() {
            jobs.retain(|_, task| !task.is_finished());
            let now = Utc::now();
            let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
            match self.store.lease_replays(now, until).await {
                Ok(active) => {
                    // A job another node took over (this one was cut off
                    // longer than the lease) stops here.
                    jobs.retain(|id, task| {
                        let ours = active.iter().any(|(leased, _)| leased == id);
                        if !ours {
                            tracing::warn!(replay = %id, "replay lease lost to another node; stopping here");
                            task.abort();
                        }
                        ours
                    });
                    for (id, state) in active {
                        if jobs.contains_key(&id) {
                            continue;
                        }
                        if state == ReplayState::Pending {
                            let started = self
                                .store
                                .set_replay_state(
                                    None,
                                    id,
                                    &[ReplayState::Pending],
                                    ReplayState::Running,
                                    None,
                                    Utc::now(),
                                    None,
                                )
                                .await;
                            if !matches!(started, Ok(true)) {
                                continue;
                            }
                            tracing::info!(replay = %id, "replay started");
                        } else {
                            tracing::info!(replay = %id, "replay resumed");
                        }
                        let this = self.clone();
                        let stop = stop.clone();
                        jobs.insert(id, tokio::spawn(this.drive(id, stop)));
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot lease replays"),
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(SCAN) => {}
                _ = stop.changed() => {}
            }
        }
        for (_, task) in jobs {
            let _ = task.await;
        }
    }

    /// One job: steps at its rate until every event is taken and every
    /// delivery it armed has ended, or until it is paused or cancelled.
    #[tracing::instrument(skip_all, name = "replay", fields(correlation_id = %id))]
    async fn drive(self: Arc<Self>, id: ReplayId, stop: watch::Receiver<bool>) {
        let mut credit = 0.0_f64;
        let mut last = Instant::now();
        let mut scan_done = false;
        let mut reported: Option<Instant> = None;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !*stop.borrow() {
            ticker.tick().await;
            let job = match self.store.get_replay(None, id).await {
                Ok(Some(job)) => job,
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(error = %e, replay = %id, "cannot read replay");
                    continue;
                }
            };
            if job.state != ReplayState::Running {
                return;
            }
            if reported.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
                self.live
                    .publish(job.tenant_id, LiveMessage::progress(job.clone()));
                reported = Some(Instant::now());
            }
            scan_done = scan_done || job.dispatched >= job.total;
            if scan_done {
                if job.in_progress == 0 {
                    self.finish(id).await;
                    return;
                }
                continue;
            }
            let now = Instant::now();
            // Credit accrues at the job's rate; at most half a second of it is
            // kept, so a pause or a slow step never turns into a burst.
            credit = (credit + job.rate_per_second * (now - last).as_secs_f64())
                .min(job.rate_per_second * 0.5 + 1.0);
            last = now;
            let mut take = credit.floor().min(MAX_STEP);
            if job.ordered {
                // A workflow in order: the next event only after the previous
                // one's deliveries have ended.
                if job.in_progress > 0 {
                    continue;
                }
                take = take.min(1.0);
            }
            if take < 1.0 {
                continue;
            }
            match self.store.replay_step(id, take as u32, Utc::now()).await {
                Ok(step) => {
                    credit -= f64::from(step.events);
                    scan_done = step.scan_done;
                    if step.deliveries > 0 {
                        self.dispatcher.wake();
                    }
                    if !step.running {
                        return;
                    }
                }
                Err(e) if e.is_transient() => {
                    // The database is out of reach: try again; if this lasts
                    // longer than the lease another node takes the job over.
                    tracing::warn!(error = %e, replay = %id, "a replay step could not reach the database; retrying");
                    tokio::time::sleep(RETRY_STEP).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, replay = %id, "a replay step failed");
                    if let Ok(true) = self
                        .store
                        .set_replay_state(
                            None,
                            id,
                            &[ReplayState::Running],
                            ReplayState::Failed,
                            Some(&e.to_string()),
                            Utc::now(),
                            None,
                        )
                        .await
                    {
                        self.tell_operations(id, crate::ops::REPLAY_FAILED).await;
                    }
                    return;
                }
            }
        }
    }

    /// Sends the job as it stands now to the live feed.
    pub async fn report(&self, id: ReplayId) {
        if let Ok(Some(job)) = self.store.get_replay(None, id).await {
            self.live.publish(job.tenant_id, LiveMessage::progress(job));
        }
    }

    /// Tells the tenant's operations endpoint how the job ended.
    async fn tell_operations(&self, id: ReplayId, event_type: &'static str) {
        match self.store.get_replay(None, id).await {
            Ok(Some(job)) => self.dispatcher.ops().send(crate::ops::Notice {
                tenant: job.tenant_id,
                event_type,
                payload: serde_json::json!({"replay": job}),
            }),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, replay = %id, "cannot read a finished replay for the operations endpoint");
            }
        }
    }

    async fn finish(&self, id: ReplayId) {
        match self
            .store
            .set_replay_state(
                None,
                id,
                &[ReplayState::Running],
                ReplayState::Completed,
                None,
                Utc::now(),
                None,
            )
            .await
        {
            Ok(true) => {
                tracing::info!(replay = %id, "replay completed");
                self.report(id).await;
                self.tell_operations(id, crate::ops::REPLAY_COMPLETED).await;
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, replay = %id, "cannot complete replay"),
        }
    }
}
