//! Where a database's schema stands against this Herald's migrations, read
//! without changing anything (`herald migrate --check`): whether starting
//! this Herald would migrate it, and so whether several nodes can be
//! replaced one at a time.

use std::str::FromStr;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::Backend;
use crate::{EngineError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The newest migration applied (0: none, a new database).
    pub applied: i64,
    /// This Herald's newest migration.
    pub newest: i64,
    /// Migrations starting this Herald would apply: version, description.
    pub pending: Vec<(i64, String)>,
    /// Applied migrations this Herald does not know (a newer one made them).
    pub unknown: Vec<i64>,
}

pub async fn status(url: &str) -> Result<SchemaStatus> {
    let (known, applied) = match Backend::from_url(url)
        .map_err(|m| EngineError::invalid("database_url", m))?
    {
        Backend::Sqlite => {
            let known = super::sqlite::migrations();
            let path = super::backup::sqlite_path(url, "database_url")?;
            let applied = if path.is_file() {
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(SqliteConnectOptions::from_str(url)?.create_if_missing(false))
                    .await?;
                let has_table: Option<String> = sqlx::query_scalar(
                    "select name from sqlite_master where type = 'table' and name = '_sqlx_migrations'",
                )
                .fetch_optional(&pool)
                .await?;
                let applied =
                    match has_table {
                        Some(_) => sqlx::query_scalar(
                            "select version from _sqlx_migrations where success order by version",
                        )
                        .fetch_all(&pool)
                        .await?,
                        None => Vec::new(),
                    };
                pool.close().await;
                applied
            } else {
                Vec::new()
            };
            (known, applied)
        }
        Backend::Postgres => {
            let known = super::postgres::migrations();
            let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
            let has_table: bool =
                sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
                    .fetch_one(&pool)
                    .await?;
            let applied = if has_table {
                sqlx::query_scalar(
                    "select version from _sqlx_migrations where success order by version",
                )
                .fetch_all(&pool)
                .await?
            } else {
                Vec::new()
            };
            pool.close().await;
            (known, applied)
        }
    };
    Ok(SchemaStatus {
        applied: applied.iter().copied().max().unwrap_or(0),
        newest: known.iter().map(|(v, _)| *v).max().unwrap_or(0),
        pending: known
            .iter()
            .filter(|(v, _)| !applied.contains(v))
            .cloned()
            .collect(),
        unknown: applied
            .iter()
            .copied()
            .filter(|v| !known.iter().any(|(k, _)| k == v))
            .collect(),
    })
}
