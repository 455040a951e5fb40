//! PostgreSQL ingest: a group of publish requests in one transaction. Per
//! tenant, one statement writes the group's events and deliveries
//! (`insert … select from unnest(…)` per table, as data-modifying CTEs) and
//! takes the tenant's sequence with `insert … on conflict … returning` once
//! the group knows how many events it makes. That statement holds the
//! tenant's sequence row until the commit, so sequence numbers are gapless
//! and committed in order on every node; it comes last, so another node's
//! group waits for the commit only, not for the group's other statements
//! (reading the endpoints and the repeats, the per-type counts, the wake-up).
//!
//! Each request stays all or nothing: one that is refused (an idempotency
//! conflict) is left out before anything is written. Should a statement fail
//! anyway (another node committed the same idempotency key meanwhile), the
//! group is rolled back and written again request by request, each in a
//! transaction of its own, so only the request at fault fails; the others see
//! the committed event and answer with it.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::PgConnection;

use super::PostgresStore;
use super::audit::insert_audit;
use super::streams;
use crate::Result;
use crate::ingest::{BatchSeen, payload_dedup_applies, payload_digest};
use crate::model::{DeliveryId, TenantId};
use crate::store::convert::json_text;
use crate::store::ingest_plan::{
    Listed, Row, TenantState, counts_per_type, plan, problems_text, routes_of,
};
use crate::store::rows::EventRow;
use crate::store::sql::EVENT_COLUMNS;
use crate::store::{Ingested, Publish, to_millis};

/// Writes `group` in one transaction; one answer per request, in order.
pub(super) async fn write_group(
    store: &PostgresStore,
    group: Vec<Publish>,
) -> Result<Vec<Result<Vec<Ingested>>>> {
    let channel = store.channel.as_str();
    let mut tx = store.pool().begin().await?;
    match write_sets(&mut tx, &group, channel).await {
        Ok(answers) => {
            tx.commit().await?;
            return Ok(answers);
        }
        Err(e) => {
            tx.rollback().await?;
            if group.len() == 1 {
                return Ok(vec![Err(e)]);
            }
            tracing::warn!(correlation_id = "ingest", error = %e, requests = group.len(), "a group commit failed; writing its requests one by one");
        }
    }
    let mut answers = Vec::with_capacity(group.len());
    for request in &group {
        let mut one = store.pool().begin().await?;
        let result = write_sets(&mut one, std::slice::from_ref(request), channel)
            .await
            .and_then(|mut one| one.pop().expect("one answer per request"));
        if result.is_ok() {
            one.commit().await?;
        } else {
            one.rollback().await?;
        }
        answers.push(result);
    }
    Ok(answers)
}

/// The tenant's dedup window, active endpoints and the stored events the
/// group could repeat, read before its sequence is taken.
async fn tenant_state(
    conn: &mut PgConnection,
    tenant: &str,
    requests: &[&Publish],
    now_ms: i64,
) -> Result<TenantState> {
    let listed: Vec<Listed> = sqlx::query_as(
        r"select t.payload_dedup_window_ms, t.catalog_revision, e.id, e.event_types, e.ordering, e.filter
          from tenants t
          left join endpoints e on e.tenant_id = t.id and e.deleted_at is null
          where t.id = $1
          order by e.id",
    )
    .bind(tenant)
    .fetch_all(&mut *conn)
    .await?;
    let (window_ms, catalog_revision, endpoints) = routes_of(listed)?;
    let events = || requests.iter().flat_map(|r| r.events.iter());
    let keys: Vec<String> = events().filter_map(|e| e.idempotency_key.clone()).collect();
    let mut by_key = HashMap::new();
    if !keys.is_empty() {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            r"select {EVENT_COLUMNS} from events
              where tenant_id = $1 and idempotency_key = any($2)"
        ))
        .bind(tenant)
        .bind(&keys)
        .fetch_all(&mut *conn)
        .await?;
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
            let rows: Vec<EventRow> = sqlx::query_as(&format!(
                r"select {EVENT_COLUMNS} from events
                  where tenant_id = $1 and payload_sha256 = any($2)
                    and payload_sha256 <> '' and received_at >= $3
                  order by received_at, id"
            ))
            .bind(tenant)
            .bind(&digests)
            .bind(now_ms.saturating_sub(window))
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                by_payload.entry(row.payload.clone()).or_default().push(row);
            }
        }
    }
    Ok(TenantState {
        endpoints,
        window_ms,
        catalog_revision,
        // Numbered from 1 within the group; shifted once the tenant's
        // sequence is taken.
        next_seq: 1,
        by_key,
        by_payload,
    })
}

/// The group's writes, tenant by tenant; one answer per request.
async fn write_sets(
    conn: &mut PgConnection,
    group: &[Publish],
    channel: &str,
) -> Result<Vec<Result<Vec<Ingested>>>> {
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
        let mut state = tenant_state(conn, &tenant_text, &requests, now_ms).await?;
        let mut seen = BatchSeen::default();
        let mut rows: Vec<Row<'_>> = Vec::new();
        let mut planned = Vec::with_capacity(mine.len());
        for (at, request) in mine {
            planned.push((at, request, plan(&mut state, &mut seen, &mut rows, request)));
        }
        // The wake-up first: the tenant's sequence row is held from the
        // statement that takes it until the commit.
        if rows.iter().any(|r| !r.endpoints.is_empty()) {
            // Other nodes hear of it when (and only if) the group commits.
            sqlx::query("select pg_notify($1, '')")
                .bind(channel)
                .execute(&mut *conn)
                .await?;
        }
        let offset = insert_rows(conn, &tenant_text, &rows, &state, &seen, now_ms).await?;
        // After the sequence row: every group of the tenant takes it first.
        let joined: BTreeSet<(String, String)> = rows
            .iter()
            .flat_map(|r| r.deliveries(&state.endpoints))
            .filter_map(|m| Some((m.endpoint.to_owned(), m.stream?)))
            .collect();
        streams::advance(conn, &joined, now_ms).await?;
        let made: HashSet<_> = rows.iter().map(|r| r.id).collect();
        for (at, request, mut result) in planned {
            if let Ok(ingested) = &mut result {
                for one in ingested.iter_mut() {
                    let event = match one {
                        Ingested::Created { event, .. } | Ingested::Duplicate { event, .. } => {
                            event
                        }
                    };
                    if made.contains(&event.id) {
                        event.seq += offset;
                    }
                }
                if let Some(audit) = &request.audit
                    && let Some(entry) = audit(ingested)
                {
                    insert_audit(conn, &entry).await?;
                }
            }
            answers[at] = Some(result);
        }
    }
    Ok(answers
        .into_iter()
        .map(|a| a.expect("every request belongs to a tenant"))
        .collect())
}

/// The group's new events of one tenant, their deliveries (each due at
/// once) and the per-type counts, in one statement that takes the tenant's
/// sequence numbers for them and locks its sequence row until the commit;
/// answers what to add to the group's own numbering (1..=n) to get those
/// numbers. Nothing is written, and no number taken, when the group makes no
/// event.
///
/// The counts join the sequence, so its row is locked before theirs: two
/// groups of one tenant lock in the same order and never deadlock.
async fn insert_rows(
    conn: &mut PgConnection,
    tenant: &str,
    rows: &[Row<'_>],
    state: &TenantState,
    seen: &BatchSeen,
    now_ms: i64,
) -> Result<i64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut types = Vec::new();
    let mut counts = Vec::new();
    let mut warnings = Vec::new();
    for (event_type, n, warned) in counts_per_type(seen, rows) {
        types.push(event_type);
        counts.push(n);
        warnings.push(warned);
    }
    let mut events = EventColumns::default();
    let mut deliveries = DeliveryColumns::default();
    for row in rows {
        let e = row.event;
        // The digest is kept only while the dedup window is on.
        let digest = match (&row.digest, state.window_ms) {
            (Some(d), Some(_)) => d.clone(),
            _ => String::new(),
        };
        events.id.push(row.id_text.clone());
        events.seq.push(row.seq);
        events.event_type.push(e.event_type.clone());
        events.payload.push(e.payload.clone());
        events.digest.push(digest);
        events.idempotency_key.push(e.idempotency_key.clone());
        events.correlation_id.push(e.correlation_id.clone());
        events.entity_id.push(e.entity_id.clone());
        events.ordering_key.push(e.ordering_key.clone());
        events
            .metadata
            .push(e.metadata.as_ref().map(json_text).transpose()?);
        events.received_at.push(row.received_ms);
        events.schema_version.push(e.schema_version.map(i64::from));
        events.schema_problems.push(problems_text(e)?);
        events.source.push(e.source.clone());
        events
            .test
            .push(e.only_endpoint.is_some() && !e.operational);
        for made in row.deliveries(&state.endpoints) {
            deliveries.id.push(DeliveryId::new().text());
            deliveries.event.push(row.id_text.clone());
            deliveries.endpoint.push(made.endpoint.to_owned());
            deliveries.due.push(row.received_ms);
            deliveries.seq.push(row.seq);
            deliveries.stream.push(made.stream);
        }
    }
    let base: i64 = sqlx::query_scalar(
        r"with seq as (
              insert into tenant_sequences (tenant_id, last_seq) values ($1, $2)
              on conflict (tenant_id) do update set last_seq = tenant_sequences.last_seq + excluded.last_seq
              returning last_seq - $2 as base
          ), made as (
              insert into events (id, tenant_id, seq, event_type, payload, payload_sha256, idempotency_key,
                                  correlation_id, entity_id, metadata, received_at, test, ordering_key,
                                  schema_version, schema_problems, source)
              select u.id, $1, u.seq + seq.base, u.event_type, u.payload, u.digest, u.idempotency_key,
                     u.correlation_id, u.entity_id, u.metadata, u.received_at, u.test, u.ordering_key,
                     u.schema_version, u.schema_problems, u.source
              from unnest($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
                          $9::text[], $10::text[], $11::text[], $12::bigint[], $13::boolean[], $23::text[],
                          $24::bigint[], $25::text[], $27::text[])
                   as u(id, seq, event_type, payload, digest, idempotency_key, correlation_id, entity_id,
                        metadata, received_at, test, ordering_key, schema_version, schema_problems,
                        source)
              cross join seq
          ), d as (
              select u.id, u.event_id, u.endpoint_id, u.due, u.stream,
                     case when u.stream is not null then u.seq + seq.base end as stream_seq
              from unnest($14::text[], $15::text[], $16::text[], $17::bigint[], $21::bigint[], $22::text[])
                  as u(id, event_id, endpoint_id, due, seq, stream)
              cross join seq
          ), recorded as (
              insert into delivery_records (id, tenant_id, event_id, endpoint_id, state, created_at, updated_at,
                                            stream, stream_seq)
              select id, $1, event_id, endpoint_id, 'pending', due, due, stream, stream_seq from d
          ), queued as (
              -- A delivery of an ordered stream waits (no due time) to be armed.
              insert into delivery_queue (delivery_id, endpoint_id, state, next_attempt_at, stream, stream_seq)
              select id, endpoint_id, 'pending', case when stream is null then due end, stream, stream_seq from d
          ), counted as (
              insert into event_type_stats (tenant_id, event_type, events, last_seen_at, schema_warnings)
              select $1, t.event_type, t.n, $20, t.warned
              from unnest($18::text[], $19::bigint[], $26::bigint[]) as t(event_type, n, warned) cross join seq
              on conflict (tenant_id, event_type)
              do update set events = event_type_stats.events + excluded.events,
                            last_seen_at = excluded.last_seen_at,
                            schema_warnings = event_type_stats.schema_warnings + excluded.schema_warnings
          )
          select base from seq",
    )
    .bind(tenant)
    .bind(rows.len() as i64)
    .bind(&events.id)
    .bind(&events.seq)
    .bind(&events.event_type)
    .bind(&events.payload)
    .bind(&events.digest)
    .bind(&events.idempotency_key)
    .bind(&events.correlation_id)
    .bind(&events.entity_id)
    .bind(&events.metadata)
    .bind(&events.received_at)
    .bind(&events.test)
    .bind(&deliveries.id)
    .bind(&deliveries.event)
    .bind(&deliveries.endpoint)
    .bind(&deliveries.due)
    .bind(&types)
    .bind(&counts)
    .bind(now_ms)
    .bind(&deliveries.seq)
    .bind(&deliveries.stream)
    .bind(&events.ordering_key)
    .bind(&events.schema_version)
    .bind(&events.schema_problems)
    .bind(&warnings)
    .bind(&events.source)
    .fetch_one(&mut *conn)
    .await?;
    Ok(base)
}

/// The events' columns, one array each, for `unnest`.
#[derive(Default)]
struct EventColumns {
    id: Vec<String>,
    seq: Vec<i64>,
    event_type: Vec<String>,
    payload: Vec<String>,
    digest: Vec<String>,
    idempotency_key: Vec<Option<String>>,
    correlation_id: Vec<Option<String>>,
    entity_id: Vec<Option<String>>,
    ordering_key: Vec<Option<String>>,
    metadata: Vec<Option<String>>,
    received_at: Vec<i64>,
    test: Vec<bool>,
    schema_version: Vec<Option<i64>>,
    schema_problems: Vec<Option<String>>,
    source: Vec<Option<String>>,
}

/// The deliveries' columns, one array each, for `unnest`.
#[derive(Default)]
struct DeliveryColumns {
    id: Vec<String>,
    event: Vec<String>,
    endpoint: Vec<String>,
    due: Vec<i64>,
    /// The event's number within the group (the tenant's once shifted).
    seq: Vec<i64>,
    stream: Vec<Option<String>>,
}
