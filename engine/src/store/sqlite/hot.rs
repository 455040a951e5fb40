//! SQLite: the hot writer. The dispatcher's claims, receipts and lease
//! recovery run here, each as one transaction on a connection of its own,
//! driven through SQLite's C API (`rusqlite`, over the same `libsqlite3-sys`
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
use std::sync::mpsc;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use sqlx::SqlitePool;
use tokio::sync::oneshot;

use crate::{EngineError, Result};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Prepared statements kept per connection: every statement the jobs run.
const STATEMENTS: usize = 64;

pub(super) struct HotWriter {
    jobs: mpsc::Sender<Job>,
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
        Ok(Self { jobs })
    }

    /// Runs `work` in one immediate transaction, committed when it returns
    /// `Ok` and rolled back otherwise, while holding `baton` (the sqlx writer
    /// pool) so no sqlx write runs meanwhile.
    pub(super) async fn run<T, F>(&self, baton: &SqlitePool, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let _baton = baton.acquire().await?;
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let value = work(&tx)?;
                tx.commit()?;
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

impl From<rusqlite::Error> for EngineError {
    fn from(e: rusqlite::Error) -> Self {
        EngineError::Internal(format!("database error: {e}"))
    }
}
