//! Copies a SQLite Herald into an empty PostgreSQL database
//! (`herald migrate-store`): every table, row for row, in one PostgreSQL
//! transaction, so a copy that fails leaves the target as empty as it found
//! it. Sealed secrets are copied sealed: the nodes on PostgreSQL open them
//! with the same master key.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use futures_util::TryStreamExt as _;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder, Row, SqlitePool};

use crate::{EngineError, Result};

/// Rows read and written at a time.
const BATCH: usize = 500;

/// How far a copy has got: the table it is on, rows copied in all, and the
/// rows to copy in all.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub table: &'a str,
    pub copied: u64,
    pub total: u64,
}

/// What was copied: rows per table, counted again in both databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub tables: BTreeMap<String, u64>,
}

impl Copied {
    pub fn rows(&self) -> u64 {
        self.tables.values().sum()
    }
}

/// A column's type in the target, which says how to read it from SQLite.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int,
    Bool,
    Float,
    Text,
    Bytes,
}

enum Value {
    Int(Option<i64>),
    Bool(Option<bool>),
    Float(Option<f64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// Copies the SQLite database at `from` into the empty PostgreSQL database
/// at `to`. Both schemas are brought up to date first (as `herald migrate`
/// does); a target with any row in any table is refused. `progress` is told
/// after every batch.
pub async fn sqlite_to_postgres(
    from: &str,
    to: &str,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Copied> {
    if super::Backend::from_url(from) != Ok(super::Backend::Sqlite) {
        return Err(EngineError::invalid(
            "from",
            format!("'{}' is not a sqlite:// URL", super::redact_url(from)),
        ));
    }
    if super::Backend::from_url(to) != Ok(super::Backend::Postgres) {
        return Err(EngineError::invalid(
            "to",
            format!("'{}' is not a postgres:// URL", super::redact_url(to)),
        ));
    }
    let source_path = SqliteConnectOptions::from_str(from)?
        .get_filename()
        .to_path_buf();
    if !source_path.is_file() {
        return Err(EngineError::invalid(
            "from",
            format!("there is no SQLite database at {}", source_path.display()),
        ));
    }
    // Both schemas at the newest migration, so their columns match.
    let vault = std::sync::Arc::new(crate::vault::Vault::ephemeral());
    for url in [from, to] {
        super::connect_node(
            url,
            vault.clone(),
            super::Durability::Power,
            "migrate-store",
        )
        .await?
        .close()
        .await;
    }
    let source = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::from_str(from)?.read_only(true))
        .await?;
    let target = PgPoolOptions::new().max_connections(1).connect(to).await?;
    let copied = copy(&source, &target, progress).await;
    source.close().await;
    target.close().await;
    copied
}

async fn copy(
    source: &SqlitePool,
    target: &PgPool,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Copied> {
    let tables = tables_in_order(target).await?;
    let mut tx = target.begin().await?;
    for table in &tables {
        let rows: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&mut *tx)
            .await?;
        if rows > 0 {
            return Err(EngineError::Conflict {
                message: format!(
                    "to: the target database is not empty (table {table} has {rows} rows); \
                     migrate-store copies into an empty database only"
                ),
            });
        }
    }
    let mut counts = BTreeMap::new();
    for table in &tables {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(source)
            .await?;
        counts.insert(table.clone(), u64::try_from(n).unwrap_or(0));
    }
    let total = counts.values().sum();
    let mut copied = 0;
    progress(Progress {
        table: "",
        copied,
        total,
    });
    for table in &tables {
        let columns = shared_columns(source, &mut tx, table).await?;
        let list = columns
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        // By primary key (some tables have no rowid), else in rowid order.
        let key: Vec<String> =
            sqlx::query_scalar("select name from pragma_table_info($1) where pk > 0 order by pk")
                .bind(table)
                .fetch_all(source)
                .await?;
        let order = if key.is_empty() {
            "rowid".to_owned()
        } else {
            key.join(", ")
        };
        // One read through the table (a read-only file nobody writes to),
        // written in batches as it streams.
        let select = format!("select {list} from {table} order by {order}");
        let mut rows = sqlx::query(&select).fetch(source);
        let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH);
        loop {
            let row = rows.try_next().await?;
            if let Some(row) = &row {
                let mut one = Vec::with_capacity(columns.len());
                for (i, (name, kind)) in columns.iter().enumerate() {
                    one.push(read(row, i, *kind).map_err(|e| {
                        EngineError::Internal(format!("{table}.{name}: cannot read the value: {e}"))
                    })?);
                }
                batch.push(one);
            }
            if batch.len() == BATCH || (row.is_none() && !batch.is_empty()) {
                let n = batch.len() as u64;
                insert(&mut tx, table, &list, std::mem::take(&mut batch)).await?;
                copied += n;
                progress(Progress {
                    table,
                    copied,
                    total,
                });
            }
            if row.is_none() {
                break;
            }
        }
    }
    // Counted again on both sides before anything is committed.
    for (table, expected) in &counts {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&mut *tx)
            .await?;
        if u64::try_from(n).unwrap_or(0) != *expected {
            return Err(EngineError::Internal(format!(
                "{table}: {expected} rows in SQLite but {n} copied; nothing was committed"
            )));
        }
    }
    // Claims made from now on get tokens above every copied one.
    sqlx::query(
        "select setval('delivery_claims', greatest(1, (select coalesce(max(claim_token), 0) from delivery_queue)))",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Copied { tables: counts })
}

/// Writes one batch of rows into `table`'s columns `list`.
async fn insert(
    tx: &mut sqlx::PgConnection,
    table: &str,
    list: &str,
    rows: Vec<Vec<Value>>,
) -> Result<()> {
    let mut insert = QueryBuilder::<Postgres>::new(format!("insert into {table} ({list}) "));
    insert.push_values(rows, |mut b, row| {
        for value in row {
            match value {
                Value::Int(v) => b.push_bind(v),
                Value::Bool(v) => b.push_bind(v),
                Value::Float(v) => b.push_bind(v),
                Value::Text(v) => b.push_bind(v),
                Value::Bytes(v) => b.push_bind(v),
            };
        }
    });
    insert.build().execute(&mut *tx).await?;
    Ok(())
}

/// SQLite tables PostgreSQL keeps in several, written through a view of the
/// SQLite table's name: the view, and the tables behind it.
const SPLIT: &[(&str, &[&str])] = &[("deliveries", &["delivery_records", "delivery_queue"])];

/// The target's tables (the migrations' bookkeeping aside), each after the
/// tables its foreign keys name; a split table is written as its view, where
/// the first of its tables comes.
async fn tables_in_order(target: &PgPool) -> Result<Vec<String>> {
    let mut ordered = base_tables_in_order(target).await?;
    for (view, tables) in SPLIT {
        if let Some(at) = ordered.iter().position(|t| t == tables[0]) {
            ordered[at] = (*view).to_owned();
        }
        ordered.retain(|t| !tables.contains(&t.as_str()));
    }
    Ok(ordered)
}

async fn base_tables_in_order(target: &PgPool) -> Result<Vec<String>> {
    let names: Vec<String> = sqlx::query_scalar(
        r"select table_name::text from information_schema.tables
          where table_schema = current_schema() and table_type = 'BASE TABLE'
            and table_name <> '_sqlx_migrations'
          order by table_name",
    )
    .fetch_all(target)
    .await?;
    let edges: Vec<(String, String)> = sqlx::query_as(
        r"select c.conrelid::regclass::text, c.confrelid::regclass::text from pg_constraint c
          where c.contype = 'f' and c.connamespace = current_schema()::regnamespace",
    )
    .fetch_all(target)
    .await?;
    let mut ordered: Vec<String> = Vec::with_capacity(names.len());
    let mut left: BTreeSet<String> = names.into_iter().collect();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|t| {
                edges
                    .iter()
                    .all(|(from, to)| from != *t || to == *t || !left.contains(to))
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(EngineError::Internal(format!(
                "the tables' foreign keys form a cycle: {left:?}"
            )));
        }
        for t in ready {
            left.remove(&t);
            ordered.push(t);
        }
    }
    Ok(ordered)
}

/// The columns both databases' `table` has, with the target's kind of each.
async fn shared_columns(
    source: &SqlitePool,
    target: &mut sqlx::PgConnection,
    table: &str,
) -> Result<Vec<(String, Kind)>> {
    let in_target: Vec<(String, String)> = sqlx::query_as(
        r"select column_name::text, data_type::text from information_schema.columns
          where table_schema = current_schema() and table_name = $1 order by ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *target)
    .await?;
    let in_source: BTreeSet<String> =
        sqlx::query_scalar::<_, String>("select name from pragma_table_info($1)")
            .bind(table)
            .fetch_all(source)
            .await?
            .into_iter()
            .collect();
    in_target
        .into_iter()
        .filter(|(name, _)| in_source.contains(name))
        .map(|(name, data_type)| {
            let kind = match data_type.as_str() {
                "bigint" | "integer" | "smallint" => Kind::Int,
                "boolean" => Kind::Bool,
                "double precision" | "real" | "numeric" => Kind::Float,
                "text" | "character varying" => Kind::Text,
                "bytea" => Kind::Bytes,
                other => {
                    return Err(EngineError::Internal(format!(
                        "{table}.{name}: no copy rule for PostgreSQL type {other}"
                    )));
                }
            };
            Ok((name, kind))
        })
        .collect()
}

fn read(row: &sqlx::sqlite::SqliteRow, i: usize, kind: Kind) -> sqlx::Result<Value> {
    Ok(match kind {
        Kind::Int => Value::Int(row.try_get(i)?),
        Kind::Bool => Value::Bool(row.try_get::<Option<i64>, _>(i)?.map(|v| v != 0)),
        Kind::Float => Value::Float(row.try_get(i)?),
        Kind::Text => Value::Text(row.try_get(i)?),
        Kind::Bytes => Value::Bytes(row.try_get(i)?),
    })
}
