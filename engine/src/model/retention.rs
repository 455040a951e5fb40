//! Erasing one event for a privacy request.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EventId;

/// Why an event is expunged (recorded in its deliveries' actions and the audit log).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExpungeIn {
    /// Required: a privacy request's reference, say.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = r"\S")
    )]
    pub reason: String,
}

/// What expunging an event erased and ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExpungeOut {
    pub event_id: EventId,
    pub expunged_at: DateTime<Utc>,
    /// Receipts whose response headers and body were erased.
    pub receipts_erased: u64,
    /// Deliveries that were still waiting, ended so the erased payload is never sent.
    pub deliveries_ended: u64,
    /// Dead-letter entries taken out of the queue.
    pub dlq_entries_removed: u64,
}
