//! SQLite: the hot writer. Ingest groups and the dispatcher's claims,
//! receipts and lease recovery run here, each as one transaction on a
//! connection of its own, driven through SQLite's C API (`rusqlite`, over the same `libsqlite3-sys`
//! as sqlx) on a thread of its own. A job is handed over once and answered
//! once, where sqlx hands every statement, and every row it returns, across
//! threads: on the claim and receipt path those hand-offs, not SQLite, were
//! the cost.
//!
//! SQLite lets one writer in at a time. A job holds the sqlx writer pool's one
//! connection while it runs, so jobs and sqlx writes queue fairly in that pool
//! instead of meeting in SQLite's busy handler; SQLite's own lock still
//! decides, so a job whose caller went away cannot corrupt anything.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::Connection;
use sqlx::SqlitePool;
use tokio::sync::oneshot;

use crate::{EngineError, Result};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Prepared statements kept per connection: every statement the jobs run
/// (ingest's multi-row inserts are nine lengths each for two tables).
const STATEMENTS: usize = 96;

pub(super) struct HotWriter {
    jobs: mpsc::Sender<Job>,
    /// Transactions committed so far: what the checkpoints pace themselves by.
    commits: Arc<AtomicU64>,
}

impl HotWriter {
    /// Opens the connection with the settings of every other (the database
    /// file exists and is in WAL mode by now) and starts its thread, which ends when the writer is dropped.
    pub(super) fn open(path: &Path, durability: super::super::Durability) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(super::BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", super::synchronous(durability))?;
        for (name, value) in super::PRAGMAS {
            conn.pragma_update(None, name, value)?;
        }
        conn.set_prepared_statement_cache_capacity(STATEMENTS);
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-hot-writer".into())
            .spawn(move || {
                let mut conn = conn;
                for job in queue {
                    // A job that panics rolls its transaction back (the
                    // transaction's drop) and its caller hears of it; the
                    // thread goes on with the next one.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        job(&mut conn);
                    }));
                }
            })
            .map_err(|e| EngineError::Internal(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Self {
            jobs,
            commits: Arc::default(),
        })
    }

    /// The count of transactions this writer has committed.
    pub(super) fn commits(&self) -> Arc<AtomicU64> {
        self.commits.clone()
    }

    /// Runs `work` in one immediate transaction, committed when it returns
    /// `Ok` and rolled back otherwise, while holding `baton` (the sqlx writer
    /// pool) so no sqlx write runs meanwhile.
    pub(super) async fn run<T, F>(&self, baton: &SqlitePool, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let _baton = baton.acquire().await?;
        let (answer, answered) = oneshot::channel();
        let commits = self.commits.clone();
        let job: Job = Box::new(move |conn| {
            let result = (|| {
                let open = Open::begin(conn)?;
                let value = work(conn)?;
                open.commit()?;
                commits.fetch_add(1, Ordering::Relaxed);
                Ok(value)
            })();
            let _ = answer.send(result);
        });
        let stopped = || EngineError::Internal("the SQLite writer has stopped".into());
        self.jobs.send(job).map_err(|_| stopped())?;
        answered.await.map_err(|_| {
            EngineError::Internal("a write failed inside Herald and was rolled back".into())
        })?
    }
}

/// A job's transaction, begun and committed with statements prepared once
/// per connection (rusqlite's `Transaction` parses `BEGIN` and `COMMIT` anew
/// each time). Rolled back when dropped still open: the job failed, its
/// commit failed, or it panicked.
struct Open<'c>(&'c Connection);

impl<'c> Open<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        conn.prepare_cached("begin immediate")?.execute([])?;
        Ok(Self(conn))
    }

    fn commit(self) -> rusqlite::Result<()> {
        self.0.prepare_cached("commit")?.execute([])?;
        Ok(())
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let _ = self.0.execute_batch("rollback");
        }
    }
}

impl From<rusqlite::Error> for EngineError {
    fn from(e: rusqlite::Error) -> Self {
        EngineError::Internal(format!("database error: {e}"))
    }
}
