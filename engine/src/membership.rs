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

/// Writes this node's heartbeat until `stop` turns true.
#[tracing::instrument(skip_all, name = "heartbeat", fields(correlation_id = "heartbeat"))]
pub async fn heartbeats(
    store: Arc<dyn Store>,
    dispatcher: Arc<Dispatcher>,
    mut stop: watch::Receiver<bool>,
) {
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
}

/// Every node the database remembers, alive or lately gone, by name.
pub async fn nodes(store: &dyn Store) -> Result<Vec<NodeOut>> {
    let now = Utc::now();
    let alive_since = now - chrono::Duration::from_std(ALIVE_WITHIN).unwrap_or_default();
    store.nodes(alive_since, now).await
}
