//! SQLite ingest with group commit. Publish requests queue for one writer task,
//! which runs every request that arrived while the previous transaction was
//! being written in one transaction — each inside its own savepoint, so a
//! failing request changes nothing and does not fail its neighbours — and
//! answers each caller only after the commit. Under load one commit serves many
//! requests; a lone request is written at once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::audit::insert_audit;
use super::endpoints::{EVENT_COLUMNS, EventRow, from_json, json_text};
use super::replays::active_endpoints;
use crate::model::event_type::any_pattern_matches;
use crate::model::{DeliveryId, EventId, EventOut, TenantId};
use crate::store::{
    DuplicateOf, IngestAudit, Ingested, NewEvent, from_millis, stored_id, to_millis,
};
use crate::{EngineError, Result};

/// Requests waiting for the writer before publishers are made to wait.
const QUEUE_DEPTH: usize = 1_024;
/// A group stops taking requests once it holds this many events.
const GROUP_EVENTS: usize = 4_000;

pub(super) struct IngestRequest {
    tenant: TenantId,
    events: Vec<NewEvent>,
    now: DateTime<Utc>,
    audit: Option<IngestAudit>,
    reply: oneshot::Sender<Result<Vec<Ingested>>>,
}

/// Starts the writer; it ends when every store handle (every sender) is gone.
pub(super) fn spawn_ingest_writer(pool: SqlitePool) -> mpsc::Sender<IngestRequest> {
    let (queue, requests) = mpsc::channel(QUEUE_DEPTH);
    tokio::spawn(tracing::Instrument::instrument(
        write_ingests(pool, requests),
        tracing::info_span!("ingest_writer", correlation_id = "ingest"),
    ));
    queue
}

/// Hands a batch to the writer and waits for its commit; `audit`'s entry, if
/// any, commits with the events.
pub(super) async fn submit(
    queue: &mpsc::Sender<IngestRequest>,
    tenant: TenantId,
    events: Vec<NewEvent>,
    now: DateTime<Utc>,
    audit: Option<IngestAudit>,
) -> Result<Vec<Ingested>> {
    let (reply, answer) = oneshot::channel();
    let stopped = || EngineError::Internal("the ingest writer has stopped".into());
    queue
        .send(IngestRequest {
            tenant,
            events,
            now,
            audit,
            reply,
        })
        .await
        .map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}

async fn write_ingests(pool: SqlitePool, mut requests: mpsc::Receiver<IngestRequest>) {
    while let Some(first) = requests.recv().await {
        let mut events = first.events.len();
        let mut group = vec![first];
        while events < GROUP_EVENTS {
            match requests.try_recv() {
                Ok(next) => {
                    events += next.events.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        write_group(&pool, group).await;
    }
}

async fn write_group(pool: &SqlitePool, group: Vec<IngestRequest>) {
    let mut replies = Vec::with_capacity(group.len());
    let committed = async {
        let mut tx = pool.begin().await?;
        // A lone request needs no savepoint: when it fails, the whole
        // transaction is rolled back instead of committed.
        let alone = group.len() == 1;
        let mut lone_failed = false;
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
            replies.push((request.reply, result));
        }
        if lone_failed {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok::<_, sqlx::Error>(())
    }
    .await;
    match committed {
        Ok(()) => {
            for (reply, result) in replies {
                // A publisher that went away before the answer still had its
                // events stored: the answer simply has no one to go to.
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, requests = replies.len(), "an ingest transaction failed; nothing in it was stored");
            for (reply, _) in replies {
                let _ = reply.send(Err(EngineError::Internal(format!(
                    "the events could not be stored: {e}"
                ))));
            }
        }
    }
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

    let dedup_window_ms: Option<i64> =
        sqlx::query_scalar("select payload_dedup_window_ms from tenants where id = $1")
            .bind(&tenant_text)
            .fetch_optional(&mut *conn)
            .await?
            .flatten();

    let mut seq = base;
    // Events made per type, for event_type_stats.
    let mut type_counts: Vec<(String, i64)> = Vec::new();
    let mut out = Vec::with_capacity(events.len());
    // Keys used earlier in this batch, with the payload digest they came with.
    let mut seen_keys: HashMap<String, (EventOut, String)> = HashMap::new();
    // (type, payload digest) of events made earlier in this batch.
    let mut seen_payloads: HashMap<(String, String), EventOut> = HashMap::new();
    for event in events {
        if let Some(key) = &event.idempotency_key {
            if let Some((original, digest)) = seen_keys.get(key) {
                if original.event_type != event.event_type || *digest != event.payload_sha256 {
                    return Err(EngineError::IdempotencyConflict {
                        key: key.clone(),
                        original: original.id,
                    });
                }
                out.push(Ingested::Duplicate {
                    event: original.clone(),
                    why: DuplicateOf::IdempotencyKey,
                });
                continue;
            }
            let existing = sqlx::query_as::<_, EventRow>(&format!(
                "select {EVENT_COLUMNS} from events where tenant_id = $1 and idempotency_key = $2"
            ))
            .bind(&tenant_text)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(row) = existing {
                // A repeat must be the same event: the key names it.
                if row.event_type != event.event_type || row.payload != event.payload {
                    return Err(EngineError::IdempotencyConflict {
                        key: key.clone(),
                        original: stored_id(&row.id)?,
                    });
                }
                out.push(Ingested::Duplicate {
                    event: row.try_into()?,
                    why: DuplicateOf::IdempotencyKey,
                });
                continue;
            }
        }
        // Test events are addressed to one endpoint on purpose: never deduplicated.
        if let (Some(window), None) = (dedup_window_ms, event.only_endpoint) {
            let payload_key = (event.event_type.clone(), event.payload_sha256.clone());
            if let Some(original) = seen_payloads.get(&payload_key) {
                out.push(Ingested::Duplicate {
                    event: original.clone(),
                    why: DuplicateOf::PayloadWindow,
                });
                continue;
            }
            let existing = sqlx::query_as::<_, EventRow>(&format!(
                r"select {EVENT_COLUMNS} from events
                  where tenant_id = $1 and payload_sha256 = $2 and payload_sha256 <> ''
                    and event_type = $3 and received_at >= $4
                  order by received_at limit 1"
            ))
            .bind(&tenant_text)
            .bind(&event.payload_sha256)
            .bind(&event.event_type)
            .bind(now_ms.saturating_sub(window))
            .fetch_optional(&mut *conn)
            .await?;
            // Equal digests of unequal payloads are not a concern with SHA-256,
            // but comparing the bytes costs little and makes it certain.
            if let Some(row) = existing.filter(|r| r.payload == event.payload) {
                out.push(Ingested::Duplicate {
                    event: row.try_into()?,
                    why: DuplicateOf::PayloadWindow,
                });
                continue;
            }
        }
        seq += 1;
        let id = EventId::new();
        let metadata = event.metadata.as_ref().map(json_text).transpose()?;
        sqlx::query(
            r"insert into events (id, tenant_id, seq, event_type, payload, payload_sha256, idempotency_key,
                                  correlation_id, entity_id, metadata, received_at, test)
              values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id.to_string())
        .bind(&tenant_text)
        .bind(seq)
        .bind(&event.event_type)
        .bind(&event.payload)
        // The digest is kept only while the dedup window is on: with it off,
        // ingest skips a random-order index insert per event.
        .bind(if dedup_window_ms.is_some() {
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

        let mut deliveries = 0u32;
        let target = event.only_endpoint.map(|e| e.to_string());
        for (endpoint_id, patterns) in &endpoints {
            let wanted = match &target {
                Some(only) => only == endpoint_id,
                None => any_pattern_matches(patterns, &event.event_type),
            };
            if !wanted {
                continue;
            }
            sqlx::query(
                r"insert into deliveries (id, tenant_id, event_id, endpoint_id, state, next_attempt_at,
                                          created_at, updated_at)
                  values ($1, $2, $3, $4, 'pending', $5, $5, $5)",
            )
            .bind(DeliveryId::new().to_string())
            .bind(&tenant_text)
            .bind(id.to_string())
            .bind(endpoint_id)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
            deliveries += 1;
        }

        let stored = EventOut {
            id,
            seq,
            event_type: event.event_type,
            payload: from_json(&event.payload, "event payload")?,
            idempotency_key: event.idempotency_key,
            correlation_id: event.correlation_id,
            entity_id: event.entity_id,
            metadata: event.metadata,
            received_at: from_millis(now_ms),
        };
        if let Some(key) = &stored.idempotency_key {
            seen_keys.insert(key.clone(), (stored.clone(), event.payload_sha256.clone()));
        }
        if dedup_window_ms.is_some() && target.is_none() {
            seen_payloads.insert(
                (stored.event_type.clone(), event.payload_sha256.clone()),
                stored.clone(),
            );
        }
        match type_counts
            .iter_mut()
            .find(|(t, _)| *t == stored.event_type)
        {
            Some((_, n)) => *n += 1,
            None => type_counts.push((stored.event_type.clone(), 1)),
        }
        out.push(Ingested::Created {
            event: stored,
            deliveries,
        });
    }
    for (event_type, n) in &type_counts {
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
