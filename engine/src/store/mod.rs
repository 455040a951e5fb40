//! Persistence. One `Store` interface, one implementation per backend; the
//! conformance tests in `tests/store.rs` run the same suite against each.
//!
//! SQLite is the embedded default; PostgreSQL is what several nodes share.
//! The areas whose SQL is the same on both are written once (`common/`) and
//! compiled for each backend; ingest, claims and receipts are written per
//! backend on purpose (`sqlite/`, `postgres/`).

mod accounts;
mod acks;
mod audit;
pub mod backup;
mod breakers;
mod catalog;
mod checkpoints;
mod convert;
pub mod copy;
mod delivery;
mod dispatch;
mod dlq;
mod endpoints;
mod events;
mod inbox;
mod ingest_plan;
pub mod key_cache;
mod nodes;
mod ops;
mod play;
mod policies;
// Both backends compile the shared areas (`common/`) as modules of their own.
#[allow(clippy::duplicate_mod)]
mod postgres;
mod replays;
mod retention;
mod rows;
pub mod schema;
mod sql;
#[allow(clippy::duplicate_mod)]
mod sqlite;
mod stats;
mod types;

pub use accounts::AccountStore;
pub use acks::{AckStore, AckTarget, Acked};
pub use audit::AuditStore;
pub use breakers::{BreakerObservation, BreakerStore, BreakerTransition};
pub use catalog::{CatalogSnapshot, CatalogStore, NewSchemaVersion};
pub use checkpoints::CheckpointStore;
pub use delivery::*;
pub use dispatch::DispatchStore;
pub use dlq::DlqStore;
pub use endpoints::EndpointStore;
pub use events::EventStore;
pub use inbox::InboxStore;
pub use nodes::{Heartbeat, NodeStore};
pub use ops::{DlqAlert, OpsStore};
pub use play::{PlayStore, PlayTarget};
pub use policies::PolicyStore;
pub use postgres::PostgresStore;
pub use replays::ReplayStore;
pub use retention::{Expunged, Pruned, Retention, RetentionStore};
pub use sqlite::SqliteStore;
pub use stats::StatsStore;
pub use types::*;

pub(crate) use convert::{from_millis, stored_id, to_millis};
/// DLQ entries one reprocess call handles, in one transaction, on every backend.
pub const REPROCESS_BATCH: usize = 1_000;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{
    ApiKeyId, ApiKeyOut, AuditOut, AuditQuery, CheckpointId, CheckpointIn, CheckpointOut,
    DeliveryId, DlqDetail, DlqEntryId, DlqEntryOut, DlqQuery, EndpointId, EndpointOut, EventDetail,
    EventId, EventQuery, NodeOut, Page, ReplayFilter, ReplayId, ReplayOut, ReplayPreview,
    ReplayState, ReplayedDelivery, ReprocessOut, RetryPolicyId, RetryPolicyIn, RetryPolicyOut,
    RetryPolicyPatch, SessionId, TenantId, TenantOut, TenantPatch, UserId, UserOut, UserPatch,
};
use crate::{EngineError, Result};

/// The tenant every installation starts with.
pub const DEFAULT_TENANT: &str = "default";

/// What a backend can and cannot do, declared by the backend so callers never
/// ask which database they are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// One Herald node uses the database: whatever is in flight when it starts
    /// was left by its own previous run.
    pub single_node: bool,
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Recognises a database URL by its scheme, or says what is accepted.
    pub fn from_url(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(format!(
                "'{}' is not a database URL Herald knows; expected sqlite://PATH or postgres://USER@HOST/DB",
                redact_url(url)
            ))
        }
    }
}

/// A URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// What a commit (and so a 202 to a publisher) survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A crash of Herald, not a power loss or an OS crash: the last commits
    /// may sit in the OS's cache (SQLite `synchronous = NORMAL`).
    Process,
    /// A power loss too: every commit is flushed to the disk before it is
    /// acknowledged (SQLite `synchronous = FULL`).
    #[default]
    Power,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Process => "process",
            Durability::Power => "power",
        }
    }
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "process" => Ok(Durability::Process),
            "power" => Ok(Durability::Power),
            other => Err(format!("got '{other}'")),
        }
    }
}

/// Opens the database a URL names and brings its schema up to date. Secrets are
/// sealed and opened with `vault`; `Store::reseal_secrets` settles old ones.
/// Commits are power-safe ([`Durability::Power`]); see [`connect_with`].
pub async fn connect(url: &str, vault: Arc<crate::vault::Vault>) -> Result<Arc<dyn Store>> {
    connect_with(url, vault, Durability::Power).await
}

/// [`connect`] with the durability of commits chosen, as a node of a name
/// of its own (a process that claims nothing, or tests).
pub async fn connect_with(
    url: &str,
    vault: Arc<crate::vault::Vault>,
    durability: Durability,
) -> Result<Arc<dyn Store>> {
    let node = format!("node_{}", ulid::Ulid::new());
    connect_node(url, vault, durability, &node).await
}

/// [`connect_with`] as the node `node`: the name its leases carry, so that
/// when it restarts under the same name it takes back at once what it left
/// in flight ([`DispatchStore::reclaim_own`]).
pub async fn connect_node(
    url: &str,
    vault: Arc<crate::vault::Vault>,
    durability: Durability,
    node: &str,
) -> Result<Arc<dyn Store>> {
    match Backend::from_url(url).map_err(|m| EngineError::invalid("database_url", m))? {
        Backend::Sqlite => {
            let store = SqliteStore::connect(url, vault, durability, node).await?;
            store.migrate().await.map_err(newer_schema)?;
            Ok(Arc::new(store))
        }
        Backend::Postgres => {
            let store = PostgresStore::connect(url, vault, durability, node).await?;
            store.migrate().await.map_err(newer_schema)?;
            Ok(Arc::new(store))
        }
    }
}

/// A database a newer Herald has migrated says so in words: migrations only
/// go forward, and an older Herald must not run on a schema it does not know.
fn newer_schema(e: EngineError) -> EngineError {
    match e {
        EngineError::Migrate(sqlx::migrate::MigrateError::VersionMissing(version)) => {
            EngineError::Internal(format!(
                "this database was upgraded by a newer Herald (it has migration {version}, which \
                 this Herald does not know): run that version or a later one; migrations only go \
                 forward"
            ))
        }
        other => other,
    }
}

/// Everything a backend implements: one trait per area, each in its own
/// file here and implemented in `common/<area>.rs` (compiled for each
/// backend) or `<backend>/<area>.rs`.
#[async_trait]
pub trait Store:
    AccountStore
    + AuditStore
    + EndpointStore
    + PolicyStore
    + EventStore
    + DispatchStore
    + DlqStore
    + ReplayStore
    + CheckpointStore
    + CatalogStore
    + StatsStore
    + NodeStore
    + AckStore
    + BreakerStore
    + OpsStore
    + InboxStore
    + RetentionStore
    + PlayStore
    + 'static
{
    fn capabilities(&self) -> Capabilities;
    /// Applies pending migrations; safe to call on every start.
    async fn migrate(&self) -> Result<()>;
    /// A round trip to the database, for readiness checks.
    async fn ping(&self) -> Result<()>;
    /// Closes every connection; later calls fail. Used at shutdown.
    async fn close(&self);
    /// Housekeeping the database needs from Herald itself, run every few
    /// seconds on every node ([`crate::membership::UPKEEP`]).
    async fn upkeep(&self) -> Result<()> {
        Ok(())
    }
    /// Calls `wake` whenever another process sharing the database commits
    /// new work (and, harmlessly, when this one does), for as long as the
    /// store is open. A backend with one process per database never calls it.
    fn on_new_work(&self, wake: WakeOnWork) {
        drop(wake);
    }
}

/// What [`Store::on_new_work`] calls.
pub type WakeOnWork = Arc<dyn Fn() + Send + Sync>;

/// Cuts a page out of `limit + 1` rows fetched in key order.
pub(crate) fn page_of<T>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(&key)
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

pub(crate) fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_by_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://data/herald.db"),
            Ok(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db"),
            Ok(Backend::Postgres)
        );
        let err = Backend::from_url("mysql://u:secret@h/db").unwrap_err();
        assert!(err.contains("sqlite://"), "{err}");
        assert!(!err.contains("secret"), "password leaked: {err}");
    }

    #[test]
    fn redaction_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://bob:pw@h:5432/db"),
            "postgres://bob:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://bob@h/db"), "postgres://bob@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn pages_carry_a_cursor_only_when_more_rows_exist() {
        let page = page_of(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let last = page_of(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(last.next_cursor, None);
    }
}
