//! Backups of a SQLite Herald (`herald backup`, `herald restore`).
//!
//! A backup is `VACUUM INTO` run on a connection of its own beside the
//! running server: one read transaction, so the copy is the database as it
//! stood when the backup began (every write acknowledged before then is in
//! it, none that began later is half in it), while in WAL mode the server
//! goes on writing. The copy is written under a `.partial` name, checked
//! (`PRAGMA integrity_check`, the schema version, row counts), synced to
//! disk and only then renamed to the name asked for, so a file under that
//! name is always a whole, checked backup.
//!
//! A backup holds the endpoint secrets sealed, never the master key that
//! opens them: [`Snapshot::key_ids`] names the keys it needs.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

use crate::{EngineError, Result};

/// What a backup or a restored database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub path: PathBuf,
    pub bytes: u64,
    /// The last migration applied to it.
    pub schema_version: i64,
    pub tenants: u64,
    pub endpoints: u64,
    pub events: u64,
    /// Receipts: one per delivery attempt.
    pub attempts: u64,
    pub dlq_entries: u64,
    /// Ids of the master keys its sealed secrets were sealed with.
    pub key_ids: Vec<String>,
}

/// The database file a `sqlite://` URL names.
pub fn sqlite_path(url: &str, setting: &str) -> Result<PathBuf> {
    if super::Backend::from_url(url) != Ok(super::Backend::Sqlite) {
        return Err(EngineError::invalid(
            setting,
            format!(
                "'{}' is not a SQLite database: back up PostgreSQL with pg_dump \
                 (see the README's Backups section)",
                super::redact_url(url)
            ),
        ));
    }
    Ok(SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_path_buf())
}

/// Copies the SQLite database at `from` (a server may be running on it) to
/// the new file `to`.
pub async fn backup(from: &str, to: &Path) -> Result<Snapshot> {
    let source = sqlite_path(from, "database_url")?;
    if !source.is_file() {
        return Err(EngineError::invalid(
            "database_url",
            format!("there is no SQLite database at {}", source.display()),
        ));
    }
    refuse_existing(to, "to")?;
    let pool = open(&source, false).await?;
    let copied = copy_into(&pool, to).await;
    pool.close().await;
    copied
}

/// Puts the backup `from` in place as the database `to_url`, which must not
/// exist yet, then brings its schema up to date. `accept` sees the checked
/// backup before anything is written and may refuse it. The caller holds
/// the data directory's lock (no server runs on it).
pub async fn restore(
    from: &Path,
    to_url: &str,
    accept: &(dyn Fn(&Snapshot) -> Result<()> + Sync),
) -> Result<Snapshot> {
    let target = sqlite_path(to_url, "database_url")?;
    if !from.is_file() {
        return Err(EngineError::invalid(
            "from",
            format!("there is no file at {}", from.display()),
        ));
    }
    for existing in [
        target.clone(),
        with_suffix(&target, "-wal"),
        with_suffix(&target, "-journal"),
    ] {
        if existing.exists() {
            return Err(EngineError::Conflict {
                message: format!(
                    "there is already a database at {}: restore only goes into an empty \
                     data directory (move the old one aside first)",
                    existing.display()
                ),
            });
        }
    }
    let pool = open(from, true).await.map_err(|e| {
        EngineError::invalid(
            "from",
            format!("{} is not a SQLite database: {e}", from.display()),
        )
    })?;
    let checked = check(&pool, from).await;
    let copied = match checked.and_then(|snapshot| accept(&snapshot)) {
        Ok(()) => copy_into(&pool, &target).await,
        Err(e) => Err(e),
    };
    pool.close().await;
    copied?;
    // Brings a backup made by an older Herald up to this one's schema.
    let vault = std::sync::Arc::new(crate::vault::Vault::ephemeral());
    super::connect_node(to_url, vault, super::Durability::Power, "restore")
        .await?
        .close()
        .await;
    let pool = open(&target, true).await?;
    let restored = describe(&pool, &target).await;
    pool.close().await;
    restored
}

async fn open(path: &Path, read_only: bool) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(read_only)
        // The server's writer holds the lock for one group commit at a time.
        .busy_timeout(Duration::from_secs(30));
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// `VACUUM INTO` a `.partial` file beside `to`, checked and synced, then
/// renamed to `to`.
async fn copy_into(pool: &SqlitePool, to: &Path) -> Result<Snapshot> {
    let partial = with_suffix(to, ".partial");
    let _ = std::fs::remove_file(&partial);
    let target = partial.to_str().ok_or_else(|| {
        EngineError::invalid("to", format!("{} is not a UTF-8 path", to.display()))
    })?;
    sqlx::query("vacuum into ?")
        .bind(target)
        .execute(pool)
        .await
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            EngineError::Internal(format!("cannot write {}: {e}", partial.display()))
        })?;
    let written = async {
        let copy = open(&partial, true).await?;
        let snapshot = check(&copy, &partial).await;
        copy.close().await;
        let mut snapshot = snapshot?;
        snapshot.path = to.to_path_buf();
        let io = |e: std::io::Error| {
            EngineError::Internal(format!("cannot write {}: {e}", to.display()))
        };
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        refuse_existing(to, "to")?;
        std::fs::rename(&partial, to).map_err(io)?;
        if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok::<_, EngineError>(snapshot)
    }
    .await;
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// A whole database of a Herald no newer than this one.
async fn check(pool: &SqlitePool, named: &Path) -> Result<Snapshot> {
    let problems: Vec<String> = sqlx::query_scalar("pragma integrity_check")
        .fetch_all(pool)
        .await?;
    if problems != ["ok"] {
        return Err(EngineError::invalid(
            "from",
            format!(
                "{} is damaged: {}",
                named.display(),
                problems.into_iter().take(5).collect::<Vec<_>>().join("; ")
            ),
        ));
    }
    let snapshot = describe(pool, named).await?;
    let newest = super::sqlite::newest_migration();
    if snapshot.schema_version > newest {
        return Err(EngineError::invalid(
            "from",
            format!(
                "{} was written by a newer Herald (schema {}, this one knows up to {newest}): \
                 restore it with that version or later",
                named.display(),
                snapshot.schema_version
            ),
        ));
    }
    Ok(snapshot)
}

async fn describe(pool: &SqlitePool, path: &Path) -> Result<Snapshot> {
    let herald: Option<String> = sqlx::query_scalar(
        "select name from sqlite_master where type = 'table' and name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await?;
    if herald.is_none() {
        return Err(EngineError::invalid(
            "from",
            format!("{} is not a Herald database", path.display()),
        ));
    }
    let schema_version: i64 =
        sqlx::query_scalar("select coalesce(max(version), 0) from _sqlx_migrations where success")
            .fetch_one(pool)
            .await?;
    let count = |table: &'static str| async move {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(pool)
            .await?;
        Ok::<u64, EngineError>(u64::try_from(n).unwrap_or(0))
    };
    // `hv1:<key id>:…` (see `crate::vault`).
    let key_ids = sqlx::query(
        "select distinct substr(secret, 5, instr(substr(secret, 5), ':') - 1) as key_id \
         from endpoint_secrets where secret like 'hv1:%' order by 1",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| row.get::<String, _>("key_id"))
    .collect();
    Ok(Snapshot {
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        schema_version,
        tenants: count("tenants").await?,
        endpoints: count("endpoints").await?,
        events: count("events").await?,
        attempts: count("attempts").await?,
        dlq_entries: count("dlq_entries").await?,
        key_ids,
    })
}

fn refuse_existing(path: &Path, setting: &str) -> Result<()> {
    if path.exists() {
        return Err(EngineError::invalid(
            setting,
            format!(
                "{} already exists: a backup never overwrites a file",
                path.display()
            ),
        ));
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
