//! SQLite ingest: a group of publish requests in one transaction, written set
//! by set. Per tenant in the group, the tenant's settings, endpoints and
//! sequence are read once, repeats are looked up with one query per kind, and
//! the new events and their deliveries go in with multi-row inserts: a group's
//! statements do not grow with its requests. Each request stays all or
//! nothing: one that is refused (an idempotency conflict) is left out before
//! anything is written. Should a statement fail anyway, the group is written
//! again request by request, each in its own savepoint, so only the request at
//! fault fails. The engine's ingest writer (`engine::ingest`) gathers the groups;
//! each group is one job of the hot writer (`hot.rs`), its statements prepared
//! once per connection and run through SQLite's C API.

use std::collections::{BTreeSet, HashMap};

use rusqlite::{Connection, params};

use super::SqliteStore;
use super::audit::INSERT_AUDIT;
use super::streams::{self, StreamKey};
use crate::Result;
use crate::ingest::{BatchSeen, payload_dedup_applies, payload_digest};
use crate::model::{DeliveryId, TenantId};
use crate::store::convert::json_text;
use crate::store::ingest_plan::{
    Listed, Made, Route, Row, TenantState, counts_per_type, plan, problems_text, routes_of,
};
use crate::store::rows::EventRow;
use crate::store::sql::EVENT_COLUMNS;
use crate::store::{Ingested, Publish, to_millis};

/// Writes `group` in one transaction of the hot writer; one answer per
/// request, in order.
pub(super) async fn write_group(
    store: &SqliteStore,
    group: Vec<Publish>,
) -> Result<Vec<Result<Vec<Ingested>>>> {
    store.hot.run(store.pool(), move |tx| {
        run_sql(tx, "savepoint grp")?;
        match write_sets(tx, &group) {
            Ok(answers) => {
                run_sql(tx, "release savepoint grp")?;
                Ok(answers)
            }
            Err(e) => {
                run_sql(tx, "rollback to savepoint grp")?;
                run_sql(tx, "release savepoint grp")?;
                if group.len() == 1 {
                    return Ok(vec![Err(e)]);
                }
                tracing::warn!(correlation_id = "ingest", error = %e, requests = group.len(), "a group commit failed; writing its requests one by one");
                write_each(tx, &group)
            }
        }
    })
    .await
}

/// `insert_audit` inside a job of the hot writer (an audited publish).
fn insert_audit_on(conn: &Connection, e: &crate::store::NewAudit) -> Result<()> {
    conn.prepare_cached(INSERT_AUDIT)?.execute(params![
        crate::model::AuditId::new().to_string(),
        e.tenant_id.map(|t| t.to_string()),
        to_millis(chrono::Utc::now()),
        &e.actor,
        &e.role,
        e.action.as_str(),
        &e.target,
        &e.summary,
        &e.correlation_id,
    ])?;
    Ok(())
}

/// One parameterless statement, prepared once per connection (`execute_batch`
/// would parse it again each time).
fn run_sql(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// A stored event read back for a repeat, its columns in `EVENT_COLUMNS` order.
fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: r.get(0)?,
        seq: r.get(1)?,
        event_type: r.get(2)?,
        payload: r.get(3)?,
        idempotency_key: r.get(4)?,
        correlation_id: r.get(5)?,
        entity_id: r.get(6)?,
        metadata: r.get(7)?,
        received_at: r.get(8)?,
        ordering_key: r.get(9)?,
        expunged_at: r.get(10)?,
        schema_version: r.get(11)?,
        schema_problems: r.get(12)?,
        source: r.get(13)?,
    })
}

fn tenant_state(
    conn: &Connection,
    tenant: &str,
    requests: &[&Publish],
    now_ms: i64,
) -> Result<TenantState> {
    // The transaction is immediate: the write lock is held from its start.
    let last_seq: i64 = conn
        .prepare_cached(
            r"insert into tenant_sequences (tenant_id, last_seq) values (?1, 0)
              on conflict (tenant_id) do update set last_seq = last_seq
              returning last_seq",
        )?
        .query_row([tenant], |r| r.get(0))?;
    // The tenant's dedup window and its active endpoints, in one statement.
    let listed = conn
        .prepare_cached(
            r"select t.payload_dedup_window_ms, t.catalog_revision, e.id, e.event_types, e.ordering, e.filter
              from tenants t
              left join endpoints e on e.tenant_id = t.id and e.deleted_at is null
              where t.id = ?1",
        )?
        .query_map([tenant], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<Listed>>>()?;
    let (window_ms, catalog_revision, endpoints) = routes_of(listed)?;
    let events = || requests.iter().flat_map(|r| r.events.iter());
    let keys: Vec<&str> = events()
        .filter_map(|e| e.idempotency_key.as_deref())
        .collect();
    let mut by_key = HashMap::new();
    if !keys.is_empty() {
        let rows = conn
            .prepare_cached(&format!(
                r"select {EVENT_COLUMNS} from events
                  where tenant_id = ?1 and idempotency_key in (select value from json_each(?2))"
            ))?
            .query_map(params![tenant, json_text(&keys)?], event_row)?
            .collect::<rusqlite::Result<Vec<EventRow>>>()?;
        for row in rows {
            if let Some(key) = row.idempotency_key.clone() {
                by_key.insert(key, row);
            }
        }
    }
    let mut by_payload: HashMap<String, Vec<EventRow>> = HashMap::new();
    if let Some(window) = window_ms {
        let digests: Vec<String> = events()
            .filter(|e| payload_dedup_applies(window_ms, e))
            .map(|e| payload_digest(&e.payload))
            .collect();
        if !digests.is_empty() {
            let rows = conn
                .prepare_cached(&format!(
                    r"select {EVENT_COLUMNS} from events
                      where tenant_id = ?1 and payload_sha256 in (select value from json_each(?2))
                        and payload_sha256 <> '' and received_at >= ?3
                      order by received_at"
                ))?
                .query_map(
                    params![tenant, json_text(&digests)?, now_ms.saturating_sub(window)],
                    event_row,
                )?
                .collect::<rusqlite::Result<Vec<EventRow>>>()?;
            for row in rows {
                by_payload.entry(row.payload.clone()).or_default().push(row);
            }
        }
    }
    Ok(TenantState {
        endpoints,
        window_ms,
        catalog_revision,
        next_seq: last_seq + 1,
        by_key,
        by_payload,
    })
}

/// The group's writes, set by set; one answer per request.
fn write_sets(conn: &Connection, group: &[Publish]) -> Result<Vec<Result<Vec<Ingested>>>> {
    let mut answers: Vec<Option<Result<Vec<Ingested>>>> = group.iter().map(|_| None).collect();
    let mut tenants: Vec<TenantId> = Vec::new();
    for request in group {
        if !tenants.contains(&request.tenant) {
            tenants.push(request.tenant);
        }
    }
    for tenant in tenants {
        let mine: Vec<(usize, &Publish)> = group
            .iter()
            .enumerate()
            .filter(|(_, r)| r.tenant == tenant)
            .collect();
        let tenant_text = tenant.text();
        let requests: Vec<&Publish> = mine.iter().map(|(_, r)| *r).collect();
        let now_ms = to_millis(requests[0].now);
        let mut state = tenant_state(conn, &tenant_text, &requests, now_ms)?;
        let mut seen = BatchSeen::default();
        let mut rows: Vec<Row<'_>> = Vec::new();
        for (at, request) in mine {
            let planned = plan(&mut state, &mut seen, &mut rows, request);
            if let (Ok(ingested), Some(audit)) = (&planned, &request.audit)
                && let Some(entry) = audit(ingested)
            {
                insert_audit_on(conn, &entry)?;
            }
            answers[at] = Some(planned);
        }
        insert_events(conn, &tenant_text, &rows, state.window_ms)?;
        let streams = insert_deliveries(conn, &tenant_text, &rows, &state.endpoints)?;
        streams::advance(conn, &streams, now_ms)?;
        let mut count_type = conn.prepare_cached(
            r"insert into event_type_stats (tenant_id, event_type, events, last_seen_at, schema_warnings)
              values (?1, ?2, ?3, ?4, ?5)
              on conflict (tenant_id, event_type)
              do update set events = events + excluded.events, last_seen_at = excluded.last_seen_at,
                            schema_warnings = schema_warnings + excluded.schema_warnings",
        )?;
        for (event_type, n, warned) in counts_per_type(&seen, &rows) {
            count_type.execute(params![&tenant_text, event_type, n, now_ms, warned])?;
        }
        if !rows.is_empty() {
            conn.prepare_cached("update tenant_sequences set last_seq = ?1 where tenant_id = ?2")?
                .execute(params![state.next_seq - 1, &tenant_text])?;
        }
    }
    Ok(answers
        .into_iter()
        .map(|a| a.expect("every request belongs to a tenant"))
        .collect())
}

/// Most rows in one multi-row insert (events have 15 columns: 3,840
/// parameters, well under SQLite's limit of 32,766). Rows of one statement
/// go in on cursors already open and positioned: inserted one statement
/// each, the same rows cost SQLite twice the b-tree work.
const ROWS_PER_INSERT: usize = 256;

/// Splits `rows` into runs of at most [`ROWS_PER_INSERT`], each a power of
/// two long, so that the few statement texts repeat and stay prepared in the
/// connection's statement cache.
pub(super) fn runs<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = if rest.len() >= ROWS_PER_INSERT {
            ROWS_PER_INSERT
        } else {
            1 << rest.len().ilog2()
        };
        let (run, tail) = rest.split_at(len);
        rest = tail;
        Some(run)
    })
}

/// `insert into {head} values (?, …), …`: `rows` rows of `row` (one row's
/// values, `?` for each parameter).
fn multi_row(head: &str, row: &str, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 4));
    sql.push_str(head);
    sql.push_str(" values ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(row);
        sql.push(')');
    }
    sql
}

/// Inserts `items` a run at a time: `head` names the table and columns,
/// `row` is one row's values, and `bind` binds one item's parameters in
/// order.
fn insert_runs<T>(
    conn: &Connection,
    head: &str,
    row: &str,
    items: &[T],
    mut bind: impl FnMut(&T, &mut Binder<'_, '_>) -> Result<()>,
) -> Result<()> {
    for run in runs(items) {
        let mut insert = conn.prepare_cached(&multi_row(head, row, run.len()))?;
        let mut binder = Binder {
            insert: &mut insert,
            at: 0,
        };
        for item in run {
            bind(item, &mut binder)?;
        }
        insert.raw_execute()?;
    }
    Ok(())
}

/// Binds a multi-row insert's parameters one after another.
struct Binder<'s, 'c> {
    insert: &'s mut rusqlite::CachedStatement<'c>,
    at: usize,
}

impl Binder<'_, '_> {
    fn next(&mut self, value: &dyn rusqlite::ToSql) -> Result<&mut Self> {
        self.at += 1;
        self.insert.raw_bind_parameter(self.at, value)?;
        Ok(self)
    }
}

/// The new events, a run at a time.
fn insert_events(
    conn: &Connection,
    tenant: &str,
    rows: &[Row<'_>],
    window_ms: Option<i64>,
) -> Result<()> {
    insert_runs(
        conn,
        "insert into events (id, tenant_id, seq, event_type, payload, payload_sha256, idempotency_key, \
         correlation_id, entity_id, metadata, received_at, test, ordering_key, schema_version, \
         schema_problems, source)",
        "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?",
        rows,
        |row, b| {
            let e = row.event;
            // The digest is kept only while the dedup window is on: with it
            // off, ingest skips a random-order index insert per event.
            let digest = match (&row.digest, window_ms) {
                (Some(d), Some(_)) => d.as_str(),
                _ => "",
            };
            b.next(&row.id_text)?
                .next(&tenant)?
                .next(&row.seq)?
                .next(&e.event_type)?
                .next(&e.payload)?
                .next(&digest)?
                .next(&e.idempotency_key)?
                .next(&e.correlation_id)?
                .next(&e.entity_id)?
                .next(&e.metadata.as_ref().map(json_text).transpose()?)?
                .next(&row.received_ms)?
                .next(&(e.only_endpoint.is_some() && !e.operational))?
                .next(&e.ordering_key)?
                .next(&e.schema_version)?
                .next(&problems_text(e)?)?
                .next(&e.source)?;
            Ok(())
        },
    )
}

/// A delivery of each new event to each endpoint it goes to, due now, or
/// waiting when it joins an ordered stream; answers the streams joined,
/// whose first waiting delivery the caller arms.
fn insert_deliveries(
    conn: &Connection,
    tenant: &str,
    rows: &[Row<'_>],
    routes: &[Route],
) -> Result<BTreeSet<StreamKey>> {
    let made: Vec<(&Row<'_>, Made<'_>)> = rows
        .iter()
        .flat_map(|r| r.deliveries(routes).map(move |m| (r, m)))
        .collect();
    insert_runs(
        conn,
        "insert into deliveries (id, tenant_id, event_id, endpoint_id, state, next_attempt_at, \
         created_at, updated_at, stream, stream_seq)",
        "?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?",
        &made,
        |(row, m), b| {
            let due = row.received_ms;
            b.next(&DeliveryId::new().text())?
                .next(&tenant)?
                .next(&row.id_text)?
                .next(&m.endpoint)?
                .next(&m.stream.is_none().then_some(due))?
                .next(&due)?
                .next(&due)?
                .next(&m.stream)?
                .next(&m.stream.as_ref().map(|_| row.seq))?;
            Ok(())
        },
    )?;
    Ok(made
        .into_iter()
        .filter_map(|(_, m)| Some((m.endpoint.to_owned(), m.stream?)))
        .collect())
}

/// The slow path: each request on its own in a savepoint, so a statement
/// that fails fails only its request.
fn write_each(tx: &Connection, group: &[Publish]) -> Result<Vec<Result<Vec<Ingested>>>> {
    let mut answers = Vec::with_capacity(group.len());
    for request in group {
        run_sql(tx, "savepoint request")?;
        let result = write_sets(tx, std::slice::from_ref(request))
            .and_then(|mut one| one.pop().expect("one answer per request"));
        if result.is_err() {
            run_sql(tx, "rollback to savepoint request")?;
        }
        run_sql(tx, "release savepoint request")?;
        answers.push(result);
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    #[test]
    fn inserts_run_in_powers_of_two_up_to_the_limit() {
        let rows: Vec<usize> = (0..700).collect();
        let lens: Vec<usize> = super::runs(&rows).map(<[usize]>::len).collect();
        assert_eq!(lens, [256, 256, 128, 32, 16, 8, 4]);
        assert_eq!(lens.iter().sum::<usize>(), 700);
        assert_eq!(super::runs(&rows[..1]).count(), 1);
        assert_eq!(super::runs::<usize>(&[]).count(), 0);
    }

    #[test]
    fn a_multi_row_insert_has_one_group_of_values_per_row() {
        assert_eq!(
            super::multi_row("insert into t (a, b)", "?, 'x'", 3),
            "insert into t (a, b) values (?, 'x'), (?, 'x'), (?, 'x')"
        );
    }
}
