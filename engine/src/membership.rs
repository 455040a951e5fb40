//! Heartbeats: every node writes its row in the `nodes` table every few
//! seconds, saying it is alive and what it holds. They tell the dashboard
//! and `/metrics` which nodes share the database, and on PostgreSQL they
//! decide which node serves each endpoint (its owner: the live node ranked
//! first for it by rendezvous hashing). They keep nothing safe: leases and
//! the claim's count of every node's in-flight work do that, whoever owns.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use crate::Result;
use crate::dispatch::Dispatcher;
use crate::model::NodeOut;
use crate::store::{Heartbeat, Store};

/// How often a node writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node not heard from for this long is shown as gone, and the endpoints
/// it served move to the live nodes.
pub const ALIVE_WITHIN: Duration = Duration::from_secs(10);
/// A node not heard from for this long is forgotten.
const FORGET_AFTER: chrono::Duration = chrono::Duration::days(1);

/// How often, at most, a node does the database's upkeep ([`Store::upkeep`]).
pub const UPKEEP: Duration = Duration::from_secs(1);
/// Between two upkeeps a node waits this many times as long as the last
/// one took (and at least [`UPKEEP`]): a bigger queue is vacuumed less often,
/// never for more than a tenth of the time.
const UPKEEP_REST: u32 = 10;

/// Does the database's upkeep until `stop` turns true, paced by how long it takes.
async fn upkeep(store: Arc<dyn Store>, mut stop: watch::Receiver<bool>) {
    let mut failing = false;
    while !*stop.borrow() {
        let began = std::time::Instant::now();
        let done = store.upkeep().await;
        let rest = (began.elapsed() * UPKEEP_REST).max(UPKEEP);
        match done {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(correlation_id = "upkeep", error = %e, "database upkeep failed; retrying");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(rest) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Writes this node's heartbeat until `stop` turns true, and does the
/// database's upkeep beside it (a task of its own: a slow upkeep must not
/// hold back the heartbeat that says the node is alive).
#[tracing::instrument(skip_all, name = "heartbeat", fields(correlation_id = "heartbeat"))]
pub async fn heartbeats(
    store: Arc<dyn Store>,
    dispatcher: Arc<Dispatcher>,
    mut stop: watch::Receiver<bool>,
) {
    let upkeeping = tokio::spawn(upkeep(store.clone(), stop.clone()));
    let started_at = Utc::now();
    let mut failing = false;
    while !*stop.borrow() {
        let now = Utc::now();
        let beat = Heartbeat {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at,
            now,
            in_flight: dispatcher.held(),
        };
        match store.heartbeat(&beat, now - FORGET_AFTER).await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("heartbeats are written again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot write this node's heartbeat; retrying");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(HEARTBEAT) => {}
            _ = stop.changed() => {}
        }
    }
    let _ = upkeeping.await;
}

/// Every node the database remembers, alive or lately gone, by name.
pub async fn nodes(store: &dyn Store) -> Result<Vec<NodeOut>> {
    let now = Utc::now();
    let alive_since = now - chrono::Duration::from_std(ALIVE_WITHIN).unwrap_or_default();
    store.nodes(alive_since, now).await
}
