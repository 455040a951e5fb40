//! The nodes sharing the database: each writes a heartbeat row, and anyone
//! may list them (the console's dashboard, `/metrics`).

use super::*;

/// What a node says about itself at each heartbeat.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// Deliveries it holds now.
    pub in_flight: u64,
}

#[async_trait]
pub trait NodeStore: Send + Sync {
    /// This node's name: the owner written on the leases it takes.
    fn node(&self) -> &str;
    /// What the nodes of one installation share (the database, and on
    /// PostgreSQL its schema): names Redis keys and channels, so that
    /// installations sharing a Redis never mix.
    fn installation(&self) -> &str;
    /// Records that this node is alive and what it holds, and forgets nodes
    /// not heard from since `forget_before`.
    async fn heartbeat(&self, beat: &Heartbeat, forget_before: DateTime<Utc>) -> Result<()>;
    /// Every node remembered, by name; alive when heard from since
    /// `alive_since`. Each one's replays are the jobs it leases at `now`.
    async fn nodes(&self, alive_since: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<NodeOut>>;
    /// This node stops: its row goes, and its replay leases are given up so
    /// another node takes the jobs over at once.
    async fn leave(&self) -> Result<()>;
}
