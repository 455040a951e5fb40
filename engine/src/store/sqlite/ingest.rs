//! SQLite ingest: a group of publish requests in one transaction, each inside
//! its own savepoint, so a failing request changes nothing and does not fail
//! its neighbours. The engine's ingest writer (`engine::ingest`) gathers the
//! groups.

use chrono::{DateTime, Utc};
use sqlx::{SqliteConnection, SqlitePool};

use super::audit::insert_audit;
use super::replays::active_endpoints;
use crate::Result;
use crate::ingest::{BatchSeen, check_stored_under_key, goes_to, payload_dedup_applies};
use crate::model::{DeliveryId, EventId, EventOut, TenantId};
use crate::store::convert::{from_json, json_text};
use crate::store::rows::EventRow;
use crate::store::sql::EVENT_COLUMNS;
use crate::store::{DuplicateOf, Ingested, NewEvent, Publish, from_millis, stored_id, to_millis};

/// Writes `group` in one transaction; one answer per request, in order.
pub(super) async fn write_group(
    pool: &SqlitePool,
    group: Vec<Publish>,
) -> Result<Vec<Result<Vec<Ingested>>>> {
    let mut tx = pool.begin().await?;
    // A lone request needs no savepoint: when it fails, the whole
    // transaction is rolled back instead of committed.
    let alone = group.len() == 1;
    let mut lone_failed = false;
    let mut answers = Vec::with_capacity(group.len());
    for request in group {
        if !alone {
            sqlx::query("savepoint request").execute(&mut *tx).await?;
        }
        let mut result = ingest_on(&mut tx, request.tenant, request.events, request.now).await;
        if let (Ok(ingested), Some(audit)) = (&result, &request.audit)
            && let Some(entry) = audit(ingested)
            && let Err(e) = insert_audit(&mut tx, &entry).await
        {
            result = Err(e);
        }
        if alone {
            lone_failed = result.is_err();
        } else {
            if result.is_err() {
                sqlx::query("rollback to savepoint request")
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("release savepoint request")
                .execute(&mut *tx)
                .await?;
        }
        answers.push(result);
    }
    if lone_failed {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(answers)
}

/// One publish request's writes, on a connection already inside a transaction.
async fn ingest_on(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    events: Vec<NewEvent>,
    now: DateTime<Utc>,
) -> Result<Vec<Ingested>> {
    let tenant_text = tenant.to_string();
    let now_ms = to_millis(now);
    // Writing first takes SQLite's write lock before any read snapshot exists,
    // so a concurrent writer makes this wait (busy timeout) instead of fail.
    let base: i64 = sqlx::query_scalar(
        r"insert into tenant_sequences (tenant_id, last_seq) values ($1, 0)
          on conflict (tenant_id) do update set last_seq = last_seq
          returning last_seq",
    )
    .bind(&tenant_text)
    .fetch_one(&mut *conn)
    .await?;
    let endpoints = active_endpoints(&mut *conn, &tenant_text).await?;
    let window_ms: Option<i64> =
        sqlx::query_scalar("select payload_dedup_window_ms from tenants where id = $1")
            .bind(&tenant_text)
            .fetch_optional(&mut *conn)
            .await?
            .flatten();

    let mut seq = base;
    let mut seen = BatchSeen::default();
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        if let Some(repeat) =
            repeat_of(conn, &tenant_text, &event, &seen, window_ms, now_ms).await?
        {
            out.push(repeat);
            continue;
        }
        seq += 1;
        let stored = insert_event(conn, &tenant_text, seq, &event, window_ms, now_ms).await?;
        let mut deliveries = 0u32;
        for (endpoint_id, patterns) in &endpoints {
            if goes_to(&event, endpoint_id, patterns) {
                insert_delivery(conn, &tenant_text, stored.id, endpoint_id, now_ms).await?;
                deliveries += 1;
            }
        }
        seen.made(&stored, &event, window_ms);
        out.push(Ingested::Created {
            event: stored,
            deliveries,
        });
    }
    for (event_type, n) in seen.per_type() {
        sqlx::query(
            r"insert into event_type_stats (tenant_id, event_type, events, last_seen_at)
              values ($1, $2, $3, $4)
              on conflict (tenant_id, event_type)
              do update set events = events + excluded.events, last_seen_at = excluded.last_seen_at",
        )
        .bind(&tenant_text)
        .bind(event_type)
        .bind(n)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    }
    if seq != base {
        sqlx::query("update tenant_sequences set last_seq = $1 where tenant_id = $2")
            .bind(seq)
            .bind(&tenant_text)
            .execute(&mut *conn)
            .await?;
    }
    Ok(out)
}

/// The event `event` repeats, if any: one under its idempotency key (earlier
/// in the batch or stored), or one with its payload inside the tenant's dedup
/// window. A different event under the same key is a conflict.
async fn repeat_of(
    conn: &mut SqliteConnection,
    tenant: &str,
    event: &NewEvent,
    seen: &BatchSeen,
    window_ms: Option<i64>,
    now_ms: i64,
) -> Result<Option<Ingested>> {
    let repeat = |event: EventOut, why: DuplicateOf| Some(Ingested::Duplicate { event, why });
    if let Some(key) = &event.idempotency_key {
        if let Some(original) = seen.under_key(event)? {
            return Ok(repeat(original, DuplicateOf::IdempotencyKey));
        }
        let existing = sqlx::query_as::<_, EventRow>(&format!(
            "select {EVENT_COLUMNS} from events where tenant_id = $1 and idempotency_key = $2"
        ))
        .bind(tenant)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = existing {
            check_stored_under_key(event, stored_id(&row.id)?, &row.event_type, &row.payload)?;
            return Ok(repeat(row.try_into()?, DuplicateOf::IdempotencyKey));
        }
    }
    let Some(window) = window_ms.filter(|_| payload_dedup_applies(window_ms, event)) else {
        return Ok(None);
    };
    if let Some(original) = seen.same_payload(event) {
        return Ok(repeat(original, DuplicateOf::PayloadWindow));
    }
    let existing = sqlx::query_as::<_, EventRow>(&format!(
        r"select {EVENT_COLUMNS} from events
          where tenant_id = $1 and payload_sha256 = $2 and payload_sha256 <> ''
            and event_type = $3 and received_at >= $4
          order by received_at limit 1"
    ))
    .bind(tenant)
    .bind(&event.payload_sha256)
    .bind(&event.event_type)
    .bind(now_ms.saturating_sub(window))
    .fetch_optional(&mut *conn)
    .await?;
    // Equal digests of unequal payloads are not a concern with SHA-256, but
    // comparing the bytes costs little and makes it certain.
    match existing.filter(|r| r.payload == event.payload) {
        Some(row) => Ok(repeat(row.try_into()?, DuplicateOf::PayloadWindow)),
        None => Ok(None),
    }
}

/// Stores a new event at `seq`; what a publisher gets back.
async fn insert_event(
    conn: &mut SqliteConnection,
    tenant: &str,
    seq: i64,
    event: &NewEvent,
    window_ms: Option<i64>,
    now_ms: i64,
) -> Result<EventOut> {
    let id = EventId::new();
    let metadata = event.metadata.as_ref().map(json_text).transpose()?;
    sqlx::query(
        r"insert into events (id, tenant_id, seq, event_type, payload, payload_sha256, idempotency_key,
                              correlation_id, entity_id, metadata, received_at, test)
          values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id.to_string())
    .bind(tenant)
    .bind(seq)
    .bind(&event.event_type)
    .bind(&event.payload)
    // The digest is kept only while the dedup window is on: with it off,
    // ingest skips a random-order index insert per event.
    .bind(if window_ms.is_some() {
        event.payload_sha256.as_str()
    } else {
        ""
    })
    .bind(&event.idempotency_key)
    .bind(&event.correlation_id)
    .bind(&event.entity_id)
    .bind(&metadata)
    .bind(now_ms)
    .bind(event.only_endpoint.is_some())
    .execute(&mut *conn)
    .await?;
    Ok(EventOut {
        id,
        seq,
        event_type: event.event_type.clone(),
        payload: from_json(&event.payload, "event payload")?,
        idempotency_key: event.idempotency_key.clone(),
        correlation_id: event.correlation_id.clone(),
        entity_id: event.entity_id.clone(),
        metadata: event.metadata.clone(),
        received_at: from_millis(now_ms),
    })
}

/// A delivery of a new event to one endpoint, due now.
async fn insert_delivery(
    conn: &mut SqliteConnection,
    tenant: &str,
    event: EventId,
    endpoint: &str,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        r"insert into deliveries (id, tenant_id, event_id, endpoint_id, state, next_attempt_at,
                                  created_at, updated_at)
          values ($1, $2, $3, $4, 'pending', $5, $5, $5)",
    )
    .bind(DeliveryId::new().to_string())
    .bind(tenant)
    .bind(event.to_string())
    .bind(endpoint)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
