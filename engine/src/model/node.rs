//! The Herald nodes sharing one database, as their heartbeats describe them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One node: a `herald serve` process, named by its data directory's
/// `node-id` (stable across its restarts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeOut {
    pub name: String,
    /// Herald's version on that node.
    pub version: String,
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// Heard from recently enough to count as alive.
    pub alive: bool,
    /// Deliveries it held (claimed, not yet settled) at its last heartbeat.
    pub in_flight: u64,
    /// Replay jobs whose lease it holds now.
    pub replays: u64,
}
