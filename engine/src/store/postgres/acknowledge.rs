//! PostgreSQL: acknowledgements and their deadlines. An acknowledgement
//! locks the delivery's queue row, as claims and receipts do, so it never
//! interleaves with a claim or a receipt of the same delivery; the sweep of
//! passed deadlines skips rows another node's sweep holds.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::PostgresStore;
use super::stats::add_stats;
use super::streams;
use crate::Result;
use crate::model::{Counts, DeliveryId, DeliveryState};
use crate::store::acks::takes_ack;
use crate::store::{AckTarget, Acked, stored_id, to_millis};

/// A delivery as an acknowledgement finds it: whether acknowledged, its
/// endpoint's semantics, whether sent again for want of an
/// acknowledgement, tenant, endpoint, event type, stream and its record's
/// state.
type Found = (
    bool,
    String,
    bool,
    String,
    String,
    String,
    Option<String>,
    String,
);

async fn acknowledge(conn: &mut PgConnection, delivery: &str, now_ms: i64) -> Result<Acked> {
    // The queue row first (claims and receipts lock it first too).
    let live: Option<String> =
        sqlx::query_scalar("select state from delivery_queue where delivery_id = $1 for update")
            .bind(delivery)
            .fetch_optional(&mut *conn)
            .await?;
    let found: Option<Found> = sqlx::query_as(
        r"select d.acked_at is not null, p.semantics, d.ack_timed_out, d.tenant_id, d.endpoint_id, e.event_type,
                 d.stream, d.state
          from delivery_records d join endpoints p on p.id = d.endpoint_id join events e on e.id = d.event_id
          where d.id = $1
          for update of d",
    )
    .bind(delivery)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((acked, semantics, timed_out, tenant, endpoint, event_type, stream, recorded)) = found
    else {
        return Ok(Acked::Unknown);
    };
    if acked {
        return Ok(Acked::AlreadyAcked);
    }
    let state = live.unwrap_or(recorded);
    if !takes_ack(&state, &semantics, timed_out) {
        return Ok(Acked::NotAwaiting(stored_id::<DeliveryState>(&state)?));
    }
    if state == "in_flight" {
        // Its receipt, when it comes, ends it succeeded.
        sqlx::query("update delivery_records set acked_at = $1 where id = $2")
            .bind(now_ms)
            .bind(delivery)
            .execute(&mut *conn)
            .await?;
    } else {
        sqlx::query(
            r"with gone as (delete from delivery_queue where delivery_id = $2)
              update delivery_records set state = 'succeeded', acked_at = $1, ack_timed_out = false, updated_at = $1
              where id = $2",
        )
        .bind(now_ms)
        .bind(delivery)
        .execute(&mut *conn)
        .await?;
        if let Some(stream) = stream {
            streams::advance(conn, &[(endpoint.clone(), stream)].into(), now_ms).await?;
        }
    }
    let counts = Counts {
        acked: 1,
        ..Counts::default()
    };
    add_stats(conn, (&tenant, &endpoint, &event_type), now_ms, &counts).await?;
    Ok(Acked::Acked)
}

/// Deadlines a sweep moves at most, per transaction.
const EXPIRE_BATCH: i64 = 1_000;

async fn expire(conn: &mut PgConnection, now_ms: i64) -> Result<u64> {
    let expired: Vec<(String, String, String)> = sqlx::query_as(
        r"with due as (
              select delivery_id from delivery_queue
              where state = 'awaiting_ack' and next_attempt_at <= $1
              order by next_attempt_at limit $2
              for update skip locked
          ), queued as (
              update delivery_queue q set state = 'pending', next_attempt_at = $1
              from due where q.delivery_id = due.delivery_id
              returning q.delivery_id
          )
          update delivery_records d set state = 'pending', ack_timed_out = true, updated_at = $1
          from queued where d.id = queued.delivery_id
          returning d.tenant_id, d.endpoint_id, (select e.event_type from events e where e.id = d.event_id)",
    )
    .bind(now_ms)
    .bind(EXPIRE_BATCH)
    .fetch_all(&mut *conn)
    .await?;
    let mut counted: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for key in &expired {
        *counted.entry(key.clone()).or_default() += 1;
    }
    for ((tenant, endpoint, event_type), n) in &counted {
        let counts = Counts {
            ack_timeouts: *n,
            ..Counts::default()
        };
        add_stats(conn, (tenant, endpoint, event_type), now_ms, &counts).await?;
    }
    Ok(expired.len() as u64)
}

#[async_trait]
impl crate::store::AckStore for PostgresStore {
    async fn ack_target(
        &self,
        delivery: DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<AckTarget>> {
        self.read_ack_target(delivery, to_millis(now)).await
    }

    async fn acknowledge(&self, delivery: DeliveryId, now: DateTime<Utc>) -> Result<Acked> {
        let mut tx = self.pool().begin().await?;
        let acked = acknowledge(&mut tx, &delivery.text(), to_millis(now)).await?;
        tx.commit().await?;
        Ok(acked)
    }

    async fn expire_acks(&self, now: DateTime<Utc>) -> Result<u64> {
        let now_ms = to_millis(now);
        let mut total = 0;
        loop {
            let mut tx = self.pool().begin().await?;
            let n = expire(&mut tx, now_ms).await?;
            tx.commit().await?;
            total += n;
            if n < EXPIRE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}
