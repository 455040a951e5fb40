//! The embedded SQLite store: one file in WAL mode, no server to install.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::migrate::Migrate as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use super::{Capabilities, Store};
use crate::Result;

// The areas whose SQL both backends share, compiled once per backend
// against its own types (`Db`, `This`, …) below.
#[path = "../common/accounts.rs"]
mod accounts;
#[path = "../common/acks.rs"]
mod acks;
#[path = "../common/audit.rs"]
mod audit;
#[path = "../common/breakers.rs"]
mod breakers;
#[path = "../common/catalog.rs"]
mod catalog;
#[path = "../common/checkpoints.rs"]
mod checkpoints;
#[path = "../common/inbox.rs"]
mod common_inbox;
#[path = "../common/dlq.rs"]
mod dlq;
#[path = "../common/endpoint_cache.rs"]
mod endpoint_cache;
#[path = "../common/endpoints.rs"]
mod endpoints;
#[path = "../common/events.rs"]
mod events;
#[path = "../common/helpers.rs"]
mod helpers;
#[path = "../common/nodes.rs"]
mod nodes;
#[path = "../common/ops.rs"]
mod ops;
#[path = "../common/play.rs"]
mod play;
#[path = "../common/policies.rs"]
mod policies;
#[path = "../common/replay_targets.rs"]
mod replay_targets;
#[path = "../common/replays.rs"]
mod replays;
#[path = "../common/retention.rs"]
mod retention;
#[path = "../common/secrets.rs"]
mod secrets;
#[path = "../common/stats.rs"]
mod stats;

// SQLite's own: the hot writer and what runs on it.
mod acknowledge;
mod claim;
mod dispatch;
mod hot;
mod inbox;
mod ingest;
mod streams;

/// Arms ordered streams inside a transaction of the shared areas.
use streams::advance_on as advance_streams_on;

/// The types the shared areas are written against.
type Db = sqlx::Sqlite;
type DbPool = SqlitePool;
type DbRow = sqlx::sqlite::SqliteRow;
type DbConnection = sqlx::SqliteConnection;
type This = SqliteStore;

/// The ids in the JSON array `$1`, as a subquery.
const IDS_OF_JSON_1: &str = "select value from json_each($1)";
/// How a pruning batch locks the events it looks at: one writer at a time
/// holds the whole database here.
const LOCK_FOR_PRUNE: &str = "";
/// Where the pruner reads deliveries' states (as `d`).
const PRUNE_DELIVERIES: &str = "deliveries";
/// `LIKE` that ignores the case of ASCII letters (SQLite's own `like` does).
const LIKE_ANY_CASE: &str = "like";
/// Where live (pending and in-flight) deliveries are: one table holds every
/// delivery here.
const DELIVERY_QUEUE: &str = "deliveries";
/// Deliveries as `d` with their state now as `live_state` (PostgreSQL keeps
/// it in two tables).
const LIVE_DELIVERIES: &str = "(select *, state as live_state from deliveries) as d";
/// An endpoint's (`$1`) deliveries due by `$2`, counted per tenant and event
/// type.
const DUE_OF_ENDPOINT: &str = "select d.tenant_id, e.event_type, count(*) from deliveries d \
     join events e on e.id = d.event_id \
     where d.endpoint_id = $1 and d.state = 'pending' and d.next_attempt_at <= $2 \
     group by d.tenant_id, e.event_type";
use helpers::{Conditions, id_page, row_by_id};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// This Herald's migrations: version and description.
pub(crate) fn migrations() -> Vec<(i64, String)> {
    MIGRATOR
        .iter()
        .map(|m| (m.version, m.description.to_string()))
        .collect()
}

/// The newest schema version this Herald knows (its last migration).
pub(crate) fn newest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Two pools over one file. SQLite lets one writer in at a time; letting several
/// connections race for that lock makes the losers sleep in SQLite's busy
/// handler (milliseconds each), so every write goes through the one writer
/// connection and queues fairly in the pool instead. Reads run in parallel on
/// the reader pool and, in WAL mode, never wait for the writer.
/// Settings every connection to the file gets, the hot writer's included.
const PRAGMAS: [(&str, &str); 4] = [
    ("foreign_keys", "ON"),
    // 64 MiB of page cache per connection (SQLite's default is 2 MiB): with
    // millions of events the indexes ingest writes into stay in memory
    // instead of being read back from disk on every insert.
    ("cache_size", "-65536"),
    // Checkpoints run on a connection of their own (`checkpoints`), so a
    // commit never waits for one; this is only the safety net should that
    // task fall behind. The WAL file is cut back after a burst.
    ("wal_autocheckpoint", "16384"),
    ("journal_size_limit", "67108864"),
];

/// Connections for reads.
const READERS: u32 = 8;

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// WAL + NORMAL survives a crash of the process, not of the OS or the power:
/// the last commits may not have reached the disk. FULL syncs the WAL on
/// every commit (group commit keeps that to one sync per group of requests).
fn synchronous(durability: super::Durability) -> &'static str {
    match durability {
        super::Durability::Process => "NORMAL",
        super::Durability::Power => "FULL",
    }
}

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    reader: SqlitePool,
    vault: std::sync::Arc<crate::vault::Vault>,
    keys: std::sync::Arc<super::key_cache::KeyCache>,
    endpoints: std::sync::Arc<endpoint_cache::EndpointCache>,
    /// Ingest groups, claims, receipts and lease recovery (`hot.rs`).
    hot: std::sync::Arc<hot::HotWriter>,
    /// This node's name (SQLite has one node; its replay leases carry it).
    node: String,
    /// The database file.
    installation: String,
}

impl SqliteStore {
    pub async fn connect(
        url: &str,
        vault: std::sync::Arc<crate::vault::Vault>,
        durability: super::Durability,
        node: &str,
    ) -> Result<Self> {
        let mut options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("synchronous", synchronous(durability))
            .busy_timeout(BUSY_TIMEOUT);
        for (name, value) in PRAGMAS {
            options = options.pragma(name, value);
        }
        // sqlx pings a connection before lending it (one round trip to its
        // worker thread); a local file cannot have gone away in between.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        // Opened at start, all of them (each opening costs some 2 million
        // instructions), rather than while the first burst of reads waits.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(READERS)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let hot = hot::HotWriter::open(options.get_filename(), durability)?;
        let installation = options.get_filename().display().to_string();
        tokio::spawn(checkpoints(
            SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?,
            pool.clone(),
            hot.commits(),
        ));
        Ok(Self {
            pool,
            reader,
            vault,
            keys: Default::default(),
            endpoints: Default::default(),
            hot: std::sync::Arc::new(hot),
            node: node.to_owned(),
            installation,
        })
    }

    /// The writer: every statement that changes data, and reads that must see
    /// the writer's own uncommitted work.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A read transaction: in WAL mode it sees one moment throughout.
    async fn snapshot(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.reader.begin().await?)
    }

    /// Seals and opens endpoint secrets and header values.
    fn vault(&self) -> &crate::vault::Vault {
        &self.vault
    }

    /// Read-only queries (lists, lookups, pages).
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

/// How often the checkpointer looks at the WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// A checkpoint runs once the hot writer has committed this many
/// transactions since the last one ...
const CHECKPOINT_COMMITS: u64 = 256;
/// ... or this long has passed (the sqlx writer's few commits are not counted).
const CHECKPOINT_AT_LEAST_EVERY: Duration = Duration::from_secs(5);

/// Checkpoints the WAL on `own`, a connection nothing else uses, while
/// `writer` is open: SQLite would otherwise run them inside the commit that
/// crosses its threshold, syncing two files while every writer waits.
/// A passive checkpoint never blocks the writer or the readers. Each one
/// sorts the WAL's index of the frames it copies (4,096 at a time), a cost
/// per checkpoint, not per frame, so they are paced by the work written
/// (`commits`, counted by the hot writer): under load every tick, when
/// quiet every few seconds, rather than four times a second whatever happens.
async fn checkpoints(own: SqlitePool, writer: SqlitePool, commits: Arc<AtomicU64>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = (0, std::time::Instant::now());
    while !writer.is_closed() {
        tick.tick().await;
        let committed = commits.load(Ordering::Relaxed);
        if committed - last.0 < CHECKPOINT_COMMITS && last.1.elapsed() < CHECKPOINT_AT_LEAST_EVERY {
            continue;
        }
        last = (committed, std::time::Instant::now());
        if let Err(e) = sqlx::query("pragma wal_checkpoint(passive)")
            .execute(&own)
            .await
        {
            tracing::warn!(error = %e, "a WAL checkpoint failed; the next one will try again");
        }
    }
    own.close().await;
}

#[async_trait]
impl Store for SqliteStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities { single_node: true }
    }

    async fn migrate(&self) -> Result<()> {
        // Each pending migration on a connection of its own, closed
        // afterwards: one that edits a table's stored schema (0012, 0016)
        // changes what every other connection reads again, but not what the
        // connection that ran it holds (it bumped the schema cookie itself),
        // and a later `alter table` there would work from the stale text.
        loop {
            let mut own = self.pool.acquire().await?;
            own.ensure_migrations_table().await?;
            let applied: std::collections::HashSet<i64> = own
                .list_applied_migrations()
                .await?
                .into_iter()
                .map(|m| m.version)
                .collect();
            let pending = MIGRATOR
                .iter()
                .find(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version));
            match pending {
                Some(m) => {
                    own.apply(m).await?;
                    own.close().await?;
                }
                None => {
                    // Checks what is applied against what is known.
                    MIGRATOR.run_direct(&mut *own).await?;
                    own.close().await?;
                    break;
                }
            }
        }
        // Each connection reads the schema the first time it prepares a
        // statement after a change (some million instructions): the readers
        // do it now, all at once, rather than one by one under the first
        // requests.
        let mut readers = Vec::new();
        for _ in 0..READERS {
            let mut conn = self.reader.acquire().await?;
            sqlx::query("select count(*) from sqlite_schema")
                .execute(&mut *conn)
                .await?;
            readers.push(conn);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.reader.close().await;
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on a new file in a directory of its own (kept while it lives).
    async fn opened(durability: super::super::Durability) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let store = SqliteStore::connect(
            &url,
            std::sync::Arc::new(crate::vault::Vault::ephemeral()),
            durability,
            "node_test",
        )
        .await
        .unwrap();
        (dir, store)
    }

    /// SQLite's `synchronous` on the writer and a reader: 1 is NORMAL, 2 is FULL.
    async fn synchronous_of(durability: super::super::Durability) -> (i64, i64) {
        let (_dir, store) = opened(durability).await;
        let writer: i64 = sqlx::query_scalar("pragma synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let reader: i64 = sqlx::query_scalar("pragma synchronous")
            .fetch_one(store.reader())
            .await
            .unwrap();
        (writer, reader)
    }

    #[tokio::test]
    async fn durability_sets_how_commits_reach_the_disk() {
        use super::super::Durability;
        assert_eq!(synchronous_of(Durability::Power).await, (2, 2), "FULL");
        assert_eq!(synchronous_of(Durability::Process).await, (1, 1), "NORMAL");
    }

    /// The tables every claim and receipt writes state their CHECK rules
    /// with `=`: an `in (…)` list of more than two values makes SQLite build
    /// a temporary table each time a statement runs. The rules still hold.
    #[tokio::test]
    async fn the_rows_a_delivery_writes_are_checked_without_in_lists() {
        let (_dir, store) = opened(super::super::Durability::Process).await;
        store.migrate().await.unwrap();
        let schemas: Vec<(String, String)> = sqlx::query_as(
            "select name, sql from sqlite_schema where type = 'table' \
             and name in ('deliveries', 'attempts', 'delivery_stats')",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(schemas.len(), 3);
        for (table, sql) in &schemas {
            assert!(
                !sql.to_lowercase().contains(" in ("),
                "{table} still checks with an in list: {sql}"
            );
        }
        let refused = sqlx::query(
            "insert into delivery_stats (tenant_id, granularity, bucket_start, endpoint_id, event_type, \
             attempts, succeeded, failed, dlq_added, latency_sum_ms) values ('t', 'week', 0, 'e', 'x', 0, 0, 0, 0, 0)",
        )
        .execute(store.pool())
        .await
        .expect_err("a granularity outside the three is refused");
        assert!(refused.to_string().contains("CHECK"), "{refused}");
    }
}
