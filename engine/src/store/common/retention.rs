//! Retention in SQL both backends share: pruning expired events and
//! statistics in short transactions, and expunging one event.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::This;
use super::audit::insert_audit;
use super::dlq::record_action;
use super::stats::count_dlq_removal;
use super::{IDS_OF_JSON_1, LOCK_FOR_PRUNE, PRUNE_DELIVERIES};
use crate::model::{EventId, TenantId};
use crate::store::convert::json_text;
use crate::store::{Actor, AuditWith, Expunged, Pruned, Retention, stored_id, to_millis};
use crate::{EngineError, Result};

/// The first id an event received at `at` could have: every id below it is older.
fn first_event_id_at(at: DateTime<Utc>) -> String {
    let ms = u64::try_from(to_millis(at)).unwrap_or(0);
    format!("{}{}", EventId::PREFIX, ulid::Ulid::from_parts(ms, 0))
}

fn days(n: Option<i64>) -> Option<u32> {
    n.and_then(|d| u32::try_from(d).ok())
}

#[async_trait]
impl crate::store::RetentionStore for This {
    async fn retentions(&self) -> Result<Vec<Retention>> {
        let rows: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "select id, event_retention_days, stats_retention_days from tenants
             where event_retention_days is not null or stats_retention_days is not null
             order by id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.into_iter()
            .map(|(id, events, stats)| {
                Ok(Retention {
                    tenant_id: stored_id(&id)?,
                    events_days: days(events),
                    stats_days: days(stats),
                })
            })
            .collect()
    }

    async fn prune_events(
        &self,
        tenant: TenantId,
        before: DateTime<Utc>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Pruned> {
        let tenant_text = tenant.to_string();
        let mut tx = self.pool().begin().await?;
        // Event ids are ULIDs: the tenant's index on (tenant_id, id) walks
        // them oldest first. Each batch is locked (PostgreSQL: rows another
        // node is pruning are skipped), so a delivery made for one of them
        // after the check below waits for this transaction and then finds
        // its event gone, never the other way round.
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "select id from events where tenant_id = $1 and id > $2 and id < $3
             order by id limit $4{LOCK_FOR_PRUNE}"
        ))
        .bind(&tenant_text)
        .bind(cursor.unwrap_or(""))
        .bind(first_event_id_at(before))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = ids.last().cloned() else {
            return Ok(Pruned::default());
        };
        let batch = json_text(&ids)?;
        let held: Vec<String> = sqlx::query_scalar(&format!(
            "select distinct d.event_id from {PRUNE_DELIVERIES} d
             where d.event_id in ({IDS_OF_JSON_1})
               and (d.state in ('pending', 'in_flight', 'awaiting_ack')
                    or exists (select 1 from dlq_entries q where q.delivery_id = d.id))"
        ))
        .bind(&batch)
        .fetch_all(&mut *tx)
        .await?;
        let held: BTreeSet<String> = held.into_iter().collect();
        let expired: Vec<&String> = ids.iter().filter(|id| !held.contains(*id)).collect();
        let removed = if expired.is_empty() {
            0
        } else {
            // Deliveries, receipts and actions go with their event (on delete cascade).
            sqlx::query(&format!("delete from events where id in ({IDS_OF_JSON_1})"))
                .bind(json_text(&expired)?)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        };
        tx.commit().await?;
        Ok(Pruned {
            removed,
            held: held.len() as u64,
            cursor: Some(last),
        })
    }

    async fn prune_stats(
        &self,
        tenant: TenantId,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64> {
        // Latency rows first, so a histogram never outlives the counts it
        // belongs to.
        let latencies = sqlx::query(
            "delete from delivery_latency
             where (tenant_id, granularity, bucket_start, endpoint_id, event_type, from_ms) in (
                 select tenant_id, granularity, bucket_start, endpoint_id, event_type, from_ms from delivery_latency
                 where tenant_id = $1 and granularity in ('minute', 'hour', 'day') and bucket_start < $2
                 limit $3)",
        )
        .bind(tenant.to_string())
        .bind(to_millis(before))
        .bind(i64::from(limit))
        .execute(self.pool())
        .await?
        .rows_affected();
        let Some(rest) = u64::from(limit).checked_sub(latencies).filter(|r| *r > 0) else {
            return Ok(latencies);
        };
        let done = sqlx::query(
            "delete from delivery_stats
             where (tenant_id, granularity, bucket_start, endpoint_id, event_type) in (
                 select tenant_id, granularity, bucket_start, endpoint_id, event_type from delivery_stats
                 where tenant_id = $1 and granularity in ('minute', 'hour', 'day') and bucket_start < $2
                 limit $3)",
        )
        .bind(tenant.to_string())
        .bind(to_millis(before))
        .bind(i64::try_from(rest).unwrap_or(i64::MAX))
        .execute(self.pool())
        .await?;
        Ok(latencies + done.rows_affected())
    }

    async fn expunge_event(
        &self,
        tenant: TenantId,
        event: EventId,
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, Expunged>,
    ) -> Result<Expunged> {
        let tenant_text = tenant.to_string();
        let event_text = event.to_string();
        let now_ms = to_millis(now);
        let mut tx = self.pool().begin().await?;
        let found: Option<String> = sqlx::query_scalar(
            "update events set payload = 'null', metadata = null, payload_sha256 = '', expunged_at = $1
             where tenant_id = $2 and id = $3 returning id",
        )
        .bind(now_ms)
        .bind(&tenant_text)
        .bind(&event_text)
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Err(EngineError::not_found("event", event));
        }
        let in_flight: i64 = sqlx::query_scalar(
            "select count(*) from deliveries where event_id = $1 and state = 'in_flight'",
        )
        .bind(&event_text)
        .fetch_one(&mut *tx)
        .await?;
        if in_flight > 0 {
            // Its request is on the wire; were it to fail, its retry would
            // have nothing to send. Deliveries are in flight for seconds.
            return Err(EngineError::Conflict {
                message: format!(
                    "event '{event}' has {in_flight} delivery in flight right now; try again in a few seconds"
                ),
            });
        }
        let receipts = sqlx::query(
            "update attempts set response_headers = '{}', response_excerpt = ''
             where delivery_id in (select id from deliveries where event_id = $1)",
        )
        .bind(&event_text)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // What a play inbox kept of its deliveries goes too.
        sqlx::query(
            "delete from play_requests
             where delivery_id in (select id from deliveries where event_id = $1)",
        )
        .bind(&event_text)
        .execute(&mut *tx)
        .await?;
        let why = if reason.is_empty() {
            "expunged".to_string()
        } else {
            format!("expunged: {reason}")
        };
        let mut streams = BTreeSet::new();
        let ended: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "update deliveries set state = 'dead', next_attempt_at = null, updated_at = $1
             where event_id = $2 and state in ('pending', 'awaiting_ack')
             returning id, endpoint_id, stream",
        )
        .bind(now_ms)
        .bind(&event_text)
        .fetch_all(&mut *tx)
        .await?;
        let removed: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "delete from dlq_entries where tenant_id = $1 and event_id = $2
             returning delivery_id, endpoint_id, event_type, stream",
        )
        .bind(&tenant_text)
        .bind(&event_text)
        .fetch_all(&mut *tx)
        .await?;
        let (ended_count, removed_count) = (ended.len() as u64, removed.len() as u64);
        // Each delivery ended or taken out of the DLQ is recorded as discarded.
        let waiting = ended.into_iter().map(|(d, e, s)| (d, e, s, None));
        let dead = removed.into_iter().map(|(d, e, t, s)| (d, e, s, Some(t)));
        for (delivery, endpoint, stream, dlq_type) in waiting.chain(dead) {
            if let Some(event_type) = &dlq_type {
                count_dlq_removal(&mut tx, (&tenant_text, &endpoint, event_type), now_ms).await?;
            }
            record_action(
                &mut tx,
                (&tenant_text, &delivery),
                "discard",
                actor,
                &why,
                None,
                now_ms,
            )
            .await?;
            if let Some(stream) = stream {
                streams.insert((endpoint, stream));
            }
        }
        // Ordered streams these deliveries held go on.
        super::advance_streams_on(&mut tx, &streams, now_ms).await?;
        let out = Expunged {
            receipts,
            deliveries_ended: ended_count,
            dlq_removed: removed_count,
        };
        if let Some(entry) = audit(&out) {
            insert_audit(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(out)
    }
}
