//! The PostgreSQL store: what several Herald nodes share. The areas whose SQL
//! is the same as SQLite's are compiled from `../common` against this
//! backend's types; ingest and the dispatcher's claims and receipts are
//! written for PostgreSQL on purpose (`unnest` arrays, `for update skip
//! locked`).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Capabilities, Store};
use crate::Result;

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

mod acknowledge;
mod dispatch;
mod inbox;
mod ingest;
mod receipts;
mod streams;
mod tokens;

/// Arms ordered streams inside a transaction of the shared areas.
use streams::advance_on as advance_streams_on;

/// The types the shared areas are written against.
type Db = sqlx::Postgres;
type DbPool = PgPool;
type DbRow = sqlx::postgres::PgRow;
type DbConnection = sqlx::PgConnection;
type This = PostgresStore;
use helpers::{Conditions, id_page, row_by_id};

/// The ids in the JSON array `$1`, as a subquery.
const IDS_OF_JSON_1: &str = "select value from json_array_elements_text($1::json)";
/// How a pruning batch locks the events it looks at: rows another node is
/// pruning are skipped.
const LOCK_FOR_PRUNE: &str = " for update skip locked";
/// Where the pruner reads deliveries' states (as `d`): the records, whose
/// state is `pending` while a delivery is queued or in flight and
/// `awaiting_ack` while it waits (the `deliveries` view would join the
/// whole queue for each batch).
const PRUNE_DELIVERIES: &str = "delivery_records";
/// `LIKE` that ignores the case of ASCII letters, as SQLite's `like` does.
const LIKE_ANY_CASE: &str = "ilike";
/// Where live (pending and in-flight) deliveries are: their own small table
/// (migration 0004), apart from every delivery's record.
const DELIVERY_QUEUE: &str = "delivery_queue";
/// Deliveries as `d` with their state now as `live_state`: the record's
/// columns stay plain, so a condition on them can use its indexes.
const LIVE_DELIVERIES: &str = "(select r.*, coalesce(q.state, r.state) as live_state, q.next_attempt_at \
     from delivery_records r left join delivery_queue q on q.delivery_id = r.id) as d";
/// An endpoint's (`$1`) deliveries due by `$2`, counted per tenant and event
/// type.
const DUE_OF_ENDPOINT: &str = "select d.tenant_id, e.event_type, count(*) from delivery_queue q \
     join delivery_records d on d.id = q.delivery_id join events e on e.id = d.event_id \
     where q.endpoint_id = $1 and q.state = 'pending' and q.next_attempt_at <= $2 \
     group by d.tenant_id, e.event_type";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// This Herald's migrations: version and description.
pub(crate) fn migrations() -> Vec<(i64, String)> {
    MIGRATOR
        .iter()
        .map(|m| (m.version, m.description.to_string()))
        .collect()
}

/// How long the server keeps a session that sits idle inside a transaction.
const IDLE_IN_TRANSACTION: std::time::Duration = std::time::Duration::from_secs(10);

/// Connections per node: requests, the dispatcher, ingest groups and replays
/// each hold one only for a transaction.
const CONNECTIONS: u32 = 16;

/// How long a request waits for a connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// This node's name on the leases it takes (stable across its restarts).
    node: String,
    /// The notification channel of this installation's nodes.
    channel: String,
    /// The advisory lock this installation's claims take turns on.
    claim_lock: String,
    /// `<database>/<schema>`.
    installation: String,
    vault: std::sync::Arc<crate::vault::Vault>,
    keys: std::sync::Arc<super::key_cache::KeyCache>,
    endpoints: std::sync::Arc<endpoint_cache::EndpointCache>,
}

impl PostgresStore {
    /// Connects to the database `url` names. With `durability` `process`,
    /// commits do not wait for the WAL to reach the disk
    /// (`synchronous_commit = off`): a crash of PostgreSQL's machine may lose
    /// the last fraction of a second, a crash of Herald loses nothing.
    pub async fn connect(
        url: &str,
        vault: std::sync::Arc<crate::vault::Vault>,
        durability: super::Durability,
        node: &str,
    ) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)?;
        // Named in `pg_stat_activity`, unless the URL names it already.
        if options.get_application_name().is_none() {
            options = options.application_name("herald");
        }
        if durability == super::Durability::Process {
            options = options.options([("synchronous_commit", "off")]);
        }
        // A node cut off mid-transaction leaves its session open on the
        // server, holding its locks (the claims' advisory lock among them)
        // until the server notices. Herald never waits between the
        // statements of a transaction, so a session idle inside one for
        // long is a node that is gone: the server ends it and its locks go.
        options = options.options([(
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION.as_millis(),
        )]);
        // Herald's statements are short and many: JIT compiling one whose
        // estimated cost passes the threshold (a pruning batch's check of
        // its events did) took 800 ms to run a 5 ms query.
        options = options.options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        let (database, schema, autovacuum): (String, String, String) = sqlx::query_as(
            "select current_database()::text, current_schema()::text, current_setting('autovacuum')",
        )
        .fetch_one(&pool)
        .await?;
        if autovacuum != "on" {
            tracing::warn!(
                correlation_id = "startup",
                "PostgreSQL's autovacuum is off: Herald vacuums its delivery queue itself, but events, \
                 receipts and statistics never reuse the space of old row versions; turn autovacuum on"
            );
        }
        Ok(Self {
            pool,
            node: node.to_owned(),
            channel: work_channel(&schema),
            claim_lock: format!("herald_claim:{schema}"),
            installation: format!("{database}/{schema}"),
            vault,
            keys: Default::default(),
            endpoints: Default::default(),
        })
    }

    /// Every statement, reads and writes alike.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Reads: the same pool (PostgreSQL runs them beside the writes).
    pub fn reader(&self) -> &PgPool {
        &self.pool
    }

    /// A read-only transaction that sees one moment throughout (PostgreSQL's
    /// default sees a new one with each statement).
    async fn snapshot(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self
            .pool
            .begin_with("begin isolation level repeatable read read only")
            .await?)
    }

    /// Seals and opens endpoint secrets and header values.
    fn vault(&self) -> &crate::vault::Vault {
        &self.vault
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities { single_node: false }
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    /// Vacuums the delivery queue. Every claim and every receipt leaves a
    /// dead row version there, at the front of the index claims read: left
    /// for autovacuum (a minute apart by default, and off on some servers),
    /// claims walk over hundreds of thousands of them and delivery falls
    /// behind. The queue holds only live work, so vacuuming it is quick;
    /// `skip_locked` lets a node pass while another node vacuums, and
    /// `truncate false` keeps the table's empty tail pages (truncating them
    /// locks out every claim, and the queue fills them again at once).
    async fn upkeep(&self) -> Result<()> {
        sqlx::raw_sql("vacuum (skip_locked, truncate false) delivery_queue")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn on_new_work(&self, wake: super::WakeOnWork) {
        tokio::spawn(listen_for_work(
            self.pool.clone(),
            self.channel.clone(),
            wake,
        ));
    }
}

/// The channel every node of the installation notifies when it commits new
/// deliveries (once per commit, never per event) and listens on: named after
/// the schema, so installations sharing a database do not wake each other.
fn work_channel(schema: &str) -> String {
    let mut name = format!("herald_work:{schema}");
    // PostgreSQL cuts identifiers at 63 bytes.
    while name.len() > 63 {
        name.pop();
    }
    name
}

/// How long to wait before listening again after the connection failed.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Calls `wake` on every notification of new work until the pool closes.
/// A lost connection is opened again; notifications sent meanwhile are
/// missed, which the dispatcher's periodic sweep covers.
async fn listen_for_work(pool: PgPool, channel: String, wake: super::WakeOnWork) {
    while !pool.is_closed() {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(correlation_id = "listen", error = %e, "cannot listen for other nodes' work; retrying");
                tokio::time::sleep(LISTEN_RETRY).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(&channel).await {
            tracing::warn!(correlation_id = "listen", error = %e, "cannot listen for other nodes' work; retrying");
            tokio::time::sleep(LISTEN_RETRY).await;
            continue;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => wake(),
                // The connection was lost: anything sent meanwhile is missed,
                // so look for due work now.
                Ok(None) => wake(),
                Err(e) => {
                    if !pool.is_closed() {
                        tracing::warn!(correlation_id = "listen", error = %e, "lost the connection that listens for other nodes' work");
                    }
                    break;
                }
            }
            if pool.is_closed() {
                return;
            }
        }
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}
