//! Wire types shared by the REST API, the console and the store. Plain serde
//! types that also compile to wasm; no secrets implement `Serialize` here.

/// `Display` and `FromStr` by a wire enum's names (`as_str`), over the
/// values in `$all` (default `ALL`); an unknown name lists the choices.
macro_rules! str_enum {
    ($ty:ident, $what:literal) => {
        str_enum!($ty, $what, ALL);
    };
    ($ty:ident, $what:literal, $all:ident) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $ty {
            type Err = $crate::model::ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::$all
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::model::ParseEnumError {
                        what: $what,
                        value: s.chars().take(64).collect(),
                        expected: $ty::$all.map(|v| v.as_str()).join(", "),
                    })
            }
        }
    };
}

mod access;
mod audit;
mod breaker;
mod canonical;
mod catalog;
mod content;
mod delivery;
pub mod event_type;
pub mod filter;
mod ids;
mod inbox;
mod node;
mod ordering;
mod play;
pub mod query;
mod rate;
pub mod redact;
mod replay;
mod retention;
pub mod schema_compat;
mod stats;

pub use access::{ParseEnumError, Permission, Role, Scope, permission_matrix_markdown};
pub use audit::*;
pub use breaker::{BreakerChange, BreakerOut, BreakerSettings, BreakerState};
pub use canonical::CanonicalJson;
pub use catalog::{
    CatalogEntry, EventFailure, EventProblem, EventTypeDetail, EventTypeIn, EventTypeOut,
    EventTypePatch, ExampleCheck, FlaggedEvent, SchemaCheckOut, SchemaDraftCheck, SchemaMode,
    SchemaProblem, SchemaRefusal, SchemaVersionIn, SchemaVersionOut, ValidationFailures,
};
pub use content::{FilterTestIn, FilterTestOut, SampleEvent, TransformTestIn, TransformTestOut};
pub use delivery::*;
pub use filter::{Filter, FilterError};
pub use ids::{
    ActionId, ApiKeyId, AttemptId, AuditId, CheckpointId, DeliveryId, DlqEntryId, EndpointId,
    EventId, IdParseError, PlayInboxId, ReplayId, RetryPolicyId, SessionId, TenantId, UserId,
};
pub use inbox::*;
pub use node::NodeOut;
pub use ordering::{BlockedStream, OnDead, OrderingMode};
pub use play::*;
pub use query::{AuditQuery, DlqQuery, EventQuery, ListQuery, Paged, QueryError, StatsQuery, href};
pub use rate::{MAX_RATE_LIMIT, RateLimit, RatePer};
pub use replay::*;
pub use retention::{ExpungeIn, ExpungeOut};
pub use stats::*;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A tenant: the unit of isolation. Every API key belongs to exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantOut {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    /// When set, an event whose type and payload equal those of one received
    /// within this many seconds is answered with the original and not delivered again.
    pub payload_dedup_window_secs: Option<u64>,
    /// The endpoint that receives Herald's own events about this tenant
    /// (`herald.endpoint.circuit_opened` and the rest), if one is named.
    #[serde(default)]
    pub operations_endpoint_id: Option<EndpointId>,
    /// When the dead-letter queue holds more entries than this, the
    /// operations endpoint is sent `herald.dlq.threshold_exceeded`.
    #[serde(default)]
    pub dlq_alert_threshold: Option<u64>,
    /// Days an event, its deliveries and their receipts are kept after it
    /// was received (`null`: forever). Events with a delivery still waiting
    /// or in the dead-letter queue are kept until it leaves.
    #[serde(default)]
    pub event_retention_days: Option<u32>,
    /// Days delivery statistics are kept (`null`: forever).
    #[serde(default)]
    pub stats_retention_days: Option<u32>,
    /// What ingest does with an event its type's schema refuses.
    #[serde(default)]
    pub schema_mode: SchemaMode,
    /// Refuse events whose type is not registered in the catalog.
    #[serde(default)]
    pub require_registered_types: bool,
    pub created_at: DateTime<Utc>,
}

/// Changing a tenant's settings; fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// Seconds (1 to 604800), or `null` to turn payload dedup off.
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 604_800))]
    pub payload_dedup_window_secs: Option<Option<u64>>,
    /// One of the tenant's endpoints to send Herald's operational events
    /// to, or `null` to send none.
    #[serde(default, with = "double_option")]
    pub operations_endpoint_id: Option<Option<EndpointId>>,
    /// Dead-letter entries (1 to 10000000) above which the operations
    /// endpoint is told, or `null` for no alert.
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000_000))]
    pub dlq_alert_threshold: Option<Option<u64>>,
    /// Days (1 to 36500) events and their receipts are kept, or `null` to
    /// keep them forever.
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 36_500))]
    pub event_retention_days: Option<Option<u32>>,
    /// Days (1 to 36500) delivery statistics are kept, or `null` to keep
    /// them forever.
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 36_500))]
    pub stats_retention_days: Option<Option<u32>>,
    /// `off`, `warn` (accepted, flagged and counted) or `enforce` (refused
    /// with 422) for events their type's schema refuses.
    #[serde(default)]
    pub schema_mode: Option<SchemaMode>,
    /// Refuse events whose type is not registered (or is archived).
    #[serde(default)]
    pub require_registered_types: Option<bool>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A console account as others may see it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserOut {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    /// The tenant a bound user works in; `None` for a global user (admins are global).
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// Sign-in is refused until then after repeated failures.
    #[serde(default)]
    pub locked_until: Option<DateTime<Utc>>,
}

/// An API key as listed: its public prefix, never the key or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyOut {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub tenant: String,
    pub scope: Scope,
    /// The inbox a `consume` key is bound to (the only one it may use).
    #[serde(default)]
    pub endpoint_id: Option<EndpointId>,
    /// The `source` of the events it publishes that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_source: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Request body for creating an API key over the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiKeyIn {
    /// 1 to 100 characters (surrounding spaces are trimmed).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = "\\S")
    )]
    pub name: String,
    #[serde(default)]
    pub scope: Option<Scope>,
    /// With `scope: "consume"` (and only then): the inbox endpoint the key
    /// consumes.
    #[serde(default)]
    pub endpoint_id: Option<EndpointId>,
    /// The `source` given to the events this key publishes that name none:
    /// 1 to 100 of A-Z, a-z, 0-9 and `-_.:/`.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = "^[A-Za-z0-9._:/-]+$", example = "billing")
    )]
    pub default_source: Option<String>,
}

/// A list page with a keyset cursor: pass `next_cursor` back as `cursor` for the
/// next page; `None` means this was the last page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Seconds as the largest whole units that fit: `0s`, `5s`, `5m`, `2h 30m`, `1d`.
pub fn format_secs(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let parts = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut left = secs;
    let mut out = Vec::new();
    for (size, unit) in parts {
        if left >= size {
            out.push(format!("{}{unit}", left / size));
            left %= size;
        }
        if out.len() == 2 {
            break;
        }
    }
    out.join(" ")
}
