//! PostgreSQL ingest: a group of publish requests in one transaction, one
//! statement per table per tenant (`insert … select from unnest(…)`), and the
//! tenant's sequence taken with one `insert … on conflict … returning` once
//! the group knows how many events it makes. That statement holds the
//! tenant's sequence row until the commit, so sequence numbers are gapless
//! and committed in order on every node; everything before it (reading the
//! endpoints and the repeats) runs without it.
//!
//! Each request stays all or nothing: one that is refused (an idempotency
//! conflict) is left out before anything is written. Should a statement fail
//! anyway (another node committed the same idempotency key meanwhile), the
//! group is written again request by request, each in a savepoint of its own,
//! so only the request at fault fails; the others see the committed event and
//! answer with it.

use std::collections::{HashMap, HashSet};

use sqlx::{Acquire, PgConnection};

use super::PostgresStore;
use super::audit::insert_audit;
use crate::Result;
use crate::ingest::{BatchSeen, payload_dedup_applies, payload_digest};
use crate::model::{DeliveryId, TenantId};
use crate::store::convert::{from_json, json_text};
use crate::store::ingest_plan::{Row, TenantState, plan};
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
    let answers = {
        let mut attempt = tx.begin().await?;
        match write_sets(&mut attempt, &group, channel).await {
            Ok(answers) => {
                attempt.commit().await?;
                answers
            }
            Err(e) => {
                attempt.rollback().await?;
                if group.len() == 1 {
                    return Ok(vec![Err(e)]);
                }
                tracing::warn!(correlation_id = "ingest", error = %e, requests = group.len(), "a group commit failed; writing its requests one by one");
                let mut answers = Vec::with_capacity(group.len());
                for request in &group {
                    let mut one = tx.begin().await?;
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
                answers
            }
        }
    };
    tx.commit().await?;
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
    let listed: Vec<(Option<i64>, Option<String>, Option<String>)> = sqlx::query_as(
        r"select t.payload_dedup_window_ms, e.id, e.event_types
          from tenants t
          left join endpoints e on e.tenant_id = t.id and e.deleted_at is null and e.disabled_at is null
          where t.id = $1
          order by e.id",
    )
    .bind(tenant)
    .fetch_all(&mut *conn)
    .await?;
    let window_ms = listed.first().and_then(|(window, _, _)| *window);
    let endpoints = listed
        .into_iter()
        .filter_map(|(_, id, patterns)| Some((id?, patterns?)))
        .map(|(id, patterns)| Ok((id, from_json(&patterns, "endpoint event types")?)))
        .collect::<Result<Vec<(String, Vec<String>)>>>()?;
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
        let offset = take_sequence(conn, &tenant_text, rows.len()).await?;
        let made: HashSet<_> = rows.iter().map(|r| r.id).collect();
        for row in &mut rows {
            row.seq += offset;
        }
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
        insert_events(conn, &tenant_text, &rows, state.window_ms).await?;
        insert_deliveries(conn, &tenant_text, &rows, &state.endpoints, channel).await?;
        let (types, counts): (Vec<String>, Vec<i64>) = seen.per_type().iter().cloned().unzip();
        if !types.is_empty() {
            sqlx::query(
                r"insert into event_type_stats (tenant_id, event_type, events, last_seen_at)
                  select $1, t, n, $4 from unnest($2::text[], $3::bigint[]) as u(t, n)
                  on conflict (tenant_id, event_type)
                  do update set events = event_type_stats.events + excluded.events,
                                last_seen_at = excluded.last_seen_at",
            )
            .bind(&tenant_text)
            .bind(&types)
            .bind(&counts)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(answers
        .into_iter()
        .map(|a| a.expect("every request belongs to a tenant"))
        .collect())
}

/// Takes `n` numbers of the tenant's sequence; answers what to add to the
/// group's own numbering (1..=n) to get them. Locks the tenant's sequence
/// row until the transaction ends.
async fn take_sequence(conn: &mut PgConnection, tenant: &str, n: usize) -> Result<i64> {
    if n == 0 {
        return Ok(0);
    }
    let n = n as i64;
    let last: i64 = sqlx::query_scalar(
        r"insert into tenant_sequences (tenant_id, last_seq) values ($1, $2)
          on conflict (tenant_id) do update set last_seq = tenant_sequences.last_seq + excluded.last_seq
          returning last_seq",
    )
    .bind(tenant)
    .bind(n)
    .fetch_one(&mut *conn)
    .await?;
    Ok(last - n)
}

/// The new events, in one statement.
async fn insert_events(
    conn: &mut PgConnection,
    tenant: &str,
    rows: &[Row<'_>],
    window_ms: Option<i64>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut columns = EventColumns::default();
    for row in rows {
        let e = row.event;
        // The digest is kept only while the dedup window is on.
        let digest = match (&row.digest, window_ms) {
            (Some(d), Some(_)) => d.clone(),
            _ => String::new(),
        };
        columns.id.push(row.id_text.clone());
        columns.seq.push(row.seq);
        columns.event_type.push(e.event_type.clone());
        columns.payload.push(e.payload.clone());
        columns.digest.push(digest);
        columns.idempotency_key.push(e.idempotency_key.clone());
        columns.correlation_id.push(e.correlation_id.clone());
        columns.entity_id.push(e.entity_id.clone());
        columns
            .metadata
            .push(e.metadata.as_ref().map(json_text).transpose()?);
        columns.received_at.push(row.received_ms);
        columns.test.push(e.only_endpoint.is_some());
    }
    sqlx::query(
        r"insert into events (id, tenant_id, seq, event_type, payload, payload_sha256, idempotency_key,
                             correlation_id, entity_id, metadata, received_at, test)
          select id, $1, seq, event_type, payload, digest, idempotency_key, correlation_id, entity_id,
                 metadata, received_at, test
          from unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
                      $8::text[], $9::text[], $10::text[], $11::bigint[], $12::boolean[])
               as u(id, seq, event_type, payload, digest, idempotency_key, correlation_id, entity_id,
                    metadata, received_at, test)",
    )
    .bind(tenant)
    .bind(&columns.id)
    .bind(&columns.seq)
    .bind(&columns.event_type)
    .bind(&columns.payload)
    .bind(&columns.digest)
    .bind(&columns.idempotency_key)
    .bind(&columns.correlation_id)
    .bind(&columns.entity_id)
    .bind(&columns.metadata)
    .bind(&columns.received_at)
    .bind(&columns.test)
    .execute(&mut *conn)
    .await?;
    Ok(())
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
    metadata: Vec<Option<String>>,
    received_at: Vec<i64>,
    test: Vec<bool>,
}

/// A delivery of each new event to each endpoint it goes to, due now, in one
/// statement.
async fn insert_deliveries(
    conn: &mut PgConnection,
    tenant: &str,
    rows: &[Row<'_>],
    endpoints: &[(String, Vec<String>)],
    channel: &str,
) -> Result<()> {
    let mut ids = Vec::new();
    let mut events = Vec::new();
    let mut targets = Vec::new();
    let mut due = Vec::new();
    for row in rows {
        for &at in &row.endpoints {
            ids.push(DeliveryId::new().text());
            events.push(row.id_text.clone());
            targets.push(endpoints[at].0.clone());
            due.push(row.received_ms);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    // Other nodes hear of it when (and only if) the group commits.
    sqlx::query("select pg_notify($1, '')")
        .bind(channel)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        r"with u as (
              select * from unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) as u(id, event_id, endpoint_id, due)
          ), recorded as (
              insert into delivery_records (id, tenant_id, event_id, endpoint_id, state, created_at, updated_at)
              select id, $1, event_id, endpoint_id, 'pending', due, due from u
          )
          insert into delivery_queue (delivery_id, endpoint_id, state, next_attempt_at)
          select id, endpoint_id, 'pending', due from u",
    )
    .bind(tenant)
    .bind(&ids)
    .bind(&events)
    .bind(&targets)
    .bind(&due)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
