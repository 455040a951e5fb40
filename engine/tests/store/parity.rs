//! The two schemas are one design: the same tables, columns, nullability and
//! indexes, with each deliberate difference named here with its reason.
//!
//! PostgreSQL keeps `deliveries` in two tables, every delivery's record and
//! the small queue of live ones, so claims do not leave dead row versions in
//! the history (migration 0004); a view of the old name joins them. Here the
//! two count as the one table they stand for.

use std::collections::BTreeSet;

use super::*;

/// Indexes only one backend has, and why.
const ONLY_POSTGRES: &[(&str, &str)] = &[
    (
        "deliveries.deliveries_due_idx",
        "the dispatcher's wake-up time; SQLite reads it with a skip-scan of the pending index instead",
    ),
    (
        "deliveries.deliveries_owner_idx",
        "what a restarting node left in flight; SQLite has one node, which takes back everything",
    ),
];

/// Columns only PostgreSQL has, and why.
const ONLY_POSTGRES_COLUMNS: &[(&str, &str, &str)] = &[(
    "deliveries",
    "lease_owner",
    "the node holding a lease; SQLite has one node",
)];

/// PostgreSQL's tables that stand for one SQLite table (the view's name), and
/// the column of each that is the SQLite table's `id`.
const SPLIT: &[(&str, &[(&str, &str)])] = &[(
    "deliveries",
    &[
        ("delivery_records", "id"),
        ("delivery_queue", "delivery_id"),
    ],
)];

type Schema = (BTreeSet<(String, String, bool)>, BTreeSet<String>);

/// (table, column, nullable) for every column, and `table.index` for every
/// index made by a migration, of the SQLite database at `url`.
async fn sqlite_schema(url: &str) -> Schema {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "select name from sqlite_schema where type = 'table' \
         and name not like 'sqlite_%' and name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut columns = BTreeSet::new();
    let mut indexes = BTreeSet::new();
    for table in tables {
        let info: Vec<(String, bool, bool)> = sqlx::query_as(&format!(
            "select name, \"notnull\", pk from pragma_table_info('{table}')"
        ))
        .fetch_all(&pool)
        .await
        .unwrap();
        for (column, not_null, pk) in info {
            // SQLite lets a text primary key hold null; the schema never does.
            columns.insert((table.clone(), column, !not_null && !pk));
        }
        let made: Vec<String> = sqlx::query_scalar(
            "select name from sqlite_schema where type = 'index' and tbl_name = $1 and sql is not null",
        )
        .bind(&table)
        .fetch_all(&pool)
        .await
        .unwrap();
        indexes.extend(made.into_iter().map(|i| format!("{table}.{i}")));
    }
    pool.close().await;
    (columns, indexes)
}

/// The same for the PostgreSQL schema the store at `url` uses (constraint
/// indexes, primary keys and `unique` columns, left out as SQLite's are).
async fn postgres_schema(url: &str) -> Schema {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "select c.table_name::text, c.column_name::text, c.is_nullable::text from information_schema.columns c \
         join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name \
         where c.table_schema = current_schema() and c.table_name <> '_sqlx_migrations' \
           and t.table_type = 'BASE TABLE'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let as_sqlite = |table: String, column: String| -> (String, String) {
        for (view, parts) in SPLIT {
            for (part, id) in *parts {
                if table == *part {
                    let column = if column == *id { "id".into() } else { column };
                    return ((*view).to_owned(), column);
                }
            }
        }
        (table, column)
    };
    let columns = rows
        .into_iter()
        .map(|(t, c, nullable)| {
            let (t, c) = as_sqlite(t, c);
            (t, c, nullable == "YES")
        })
        .collect();
    let made: Vec<(String, String)> = sqlx::query_as(
        "select i.tablename::text, i.indexname::text from pg_indexes i \
         where i.schemaname = current_schema() and i.tablename <> '_sqlx_migrations' \
           and not exists (select 1 from pg_constraint c where c.conname = i.indexname \
                           and c.connamespace = (select oid from pg_namespace where nspname = current_schema()))",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    (
        columns,
        made.into_iter()
            .map(|(t, i)| format!("{}.{i}", as_sqlite(t, String::new()).0))
            .collect(),
    )
}

#[tokio::test]
async fn both_schemas_have_the_same_tables_columns_and_indexes() {
    let all = backends().await;
    let sqlite = all.iter().find(|b| b.name == "sqlite").unwrap();
    let Some(postgres) = all.iter().find(|b| b.name == "postgres") else {
        panic!(
            "the schema comparison needs PostgreSQL (HERALD_TEST_POSTGRES=skip leaves it out by name)"
        );
    };
    let (sqlite_columns, sqlite_indexes) = sqlite_schema(&sqlite.url).await;
    // Each split table's view shows the SQLite table's columns, in its order.
    for (view, _) in SPLIT {
        let pg = sqlx::PgPool::connect(&postgres.url).await.unwrap();
        let shown: Vec<String> = sqlx::query_scalar(
            "select column_name::text from information_schema.columns \
             where table_schema = current_schema() and table_name = $1 order by ordinal_position",
        )
        .bind(view)
        .fetch_all(&pg)
        .await
        .unwrap();
        pg.close().await;
        let lite = sqlx::SqlitePool::connect(&sqlite.url).await.unwrap();
        let mut columns: Vec<String> = sqlx::query_scalar(&format!(
            "select name from pragma_table_info('{view}') order by cid"
        ))
        .fetch_all(&lite)
        .await
        .unwrap();
        lite.close().await;
        columns.extend(
            ONLY_POSTGRES_COLUMNS
                .iter()
                .filter(|(t, ..)| t == view)
                .map(|(_, c, _)| c.to_string()),
        );
        assert_eq!(
            shown, columns,
            "the view {view} shows the SQLite table's columns"
        );
    }
    let (mut pg_columns, mut pg_indexes) = postgres_schema(&postgres.url).await;
    for (table, column, _why) in ONLY_POSTGRES_COLUMNS {
        assert!(
            pg_columns.remove(&(table.to_string(), column.to_string(), true)),
            "{table}.{column} is listed as PostgreSQL's own but missing"
        );
    }
    assert!(sqlite_columns.len() > 100, "the SQLite schema was read");
    let only = |a: &BTreeSet<(String, String, bool)>, b: &BTreeSet<(String, String, bool)>| {
        a.difference(b).cloned().collect::<Vec<_>>()
    };
    assert_eq!(
        (
            only(&sqlite_columns, &pg_columns),
            only(&pg_columns, &sqlite_columns)
        ),
        (vec![], vec![]),
        "columns (table, column, nullable) only in SQLite, only in PostgreSQL"
    );
    for (index, _why) in ONLY_POSTGRES {
        assert!(
            pg_indexes.remove(*index),
            "{index} is listed as PostgreSQL's own but missing"
        );
    }
    assert_eq!(
        (
            sqlite_indexes.difference(&pg_indexes).collect::<Vec<_>>(),
            pg_indexes.difference(&sqlite_indexes).collect::<Vec<_>>()
        ),
        (vec![], vec![]),
        "indexes only in SQLite, only in PostgreSQL"
    );
}

/// Event types list byte by byte on both (upper case before `_` before lower
/// case), as SQLite's binary collation sorts: PostgreSQL's locale collations
/// would interleave cases, so its text columns are `collate "C"`.
#[tokio::test]
async fn text_sorts_byte_by_byte_on_both() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        let types = ["order.b", "Order.a", "_order.c", "order.B", "ORDER.d"];
        b.store
            .ingest(
                t.id,
                types
                    .iter()
                    .map(|ty| super::delivery::event(ty, None))
                    .collect(),
                Utc::now(),
            )
            .await
            .unwrap();
        let listed: Vec<String> = b
            .store
            .event_types(t.id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.event_type)
            .collect();
        assert_eq!(
            listed,
            ["ORDER.d", "Order.a", "_order.c", "order.B", "order.b"],
            "{}",
            b.name
        );
    }
}

/// The audit log's actor filter matches whatever the case, on both: SQLite's
/// `like` ignores ASCII case, PostgreSQL's does not, so there it is `ilike`.
#[tokio::test]
async fn the_actor_filter_ignores_case_on_both() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        let mut entry = audit();
        entry.tenant_id = Some(t.id);
        entry.actor = "Key_Deploy".into();
        b.store.append_audit(entry).await.unwrap();
        for asked in ["key_deploy", "KEY_DEPLOY", "y_De"] {
            let found = b
                .store
                .list_audit(
                    Some(t.id),
                    &herald_engine::model::AuditQuery {
                        actor: Some(asked.into()),
                        ..Default::default()
                    },
                    10,
                )
                .await
                .unwrap();
            assert_eq!(found.items.len(), 1, "{}: actor {asked}", b.name);
        }
        // `_` is a character here, not a wildcard.
        let escaped = b
            .store
            .list_audit(
                Some(t.id),
                &herald_engine::model::AuditQuery {
                    actor: Some("key-deploy".into()),
                    ..Default::default()
                },
                10,
            )
            .await
            .unwrap();
        assert!(escaped.items.is_empty(), "{}", b.name);
    }
}

/// What each database does differently, on its own SQL, so a shared
/// statement that leans on one of them is caught here: `sum` of a bigint is
/// `numeric` on PostgreSQL (the shared sums cast to bigint), NULLs sort
/// first ascending on SQLite and last on PostgreSQL (no shared statement
/// orders by a column that can be null without saying where NULLs go), and
/// `like` ignores case on SQLite only.
#[tokio::test]
async fn the_dialect_differences_the_shared_sql_avoids_are_real() {
    for b in backends().await {
        let (sum_type, nulls_first, like_any_case): (String, bool, bool) = if b.name == "sqlite" {
            let raw = sqlx::SqlitePool::connect(&b.url).await.unwrap();
            let row = sqlx::query_as(
                "select typeof(sum(x)), (select x from (select 1 as x union all select null) order by x limit 1) is null, \
                 'ABC' like 'abc' from (select 1 as x)",
            )
            .fetch_one(&raw)
            .await
            .unwrap();
            raw.close().await;
            row
        } else {
            let raw = sqlx::PgPool::connect(&b.url).await.unwrap();
            let row = sqlx::query_as(
                "select pg_typeof(sum(x))::text, (select x from (select 1 as x union all select null) as v order by x limit 1) is null, \
                 'ABC' like 'abc' from (select 1::bigint as x) as one",
            )
            .fetch_one(&raw)
            .await
            .unwrap();
            raw.close().await;
            row
        };
        let expected = if b.name == "sqlite" {
            ("integer".to_string(), true, true)
        } else {
            ("numeric".to_string(), false, false)
        };
        assert_eq!(
            (sum_type, nulls_first, like_any_case),
            expected,
            "{}",
            b.name
        );
    }
}
