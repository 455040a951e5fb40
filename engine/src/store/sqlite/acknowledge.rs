//! SQLite: acknowledgements and their deadlines, on the hot writer (the
//! receipts' writer, so an acknowledgement and a receipt of the same
//! delivery never interleave).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::dispatch::{add_stats, event_type_of};
use super::streams;
use crate::Result;
use crate::model::{Counts, DeliveryId, DeliveryState};
use crate::store::acks::takes_ack;
use crate::store::{AckTarget, Acked, SqliteStore, stored_id, to_millis};

/// Deadlines a sweep moves at most, per transaction.
const EXPIRE_BATCH: i64 = 1_000;

/// A delivery as an acknowledgement finds it: state, whether acknowledged,
/// its endpoint's semantics, whether sent again for want of an
/// acknowledgement, tenant, endpoint, event and stream.
type Found = (
    String,
    bool,
    String,
    bool,
    String,
    String,
    String,
    Option<String>,
);

fn acknowledge(tx: &Connection, delivery: &str, now_ms: i64) -> Result<Acked> {
    let found: Option<Found> = tx
        .prepare_cached(
            r"select d.state, d.acked_at is not null, p.semantics, d.ack_timed_out, d.tenant_id, d.endpoint_id,
                     d.event_id, d.stream
              from deliveries d join endpoints p on p.id = d.endpoint_id where d.id = ?1",
        )?
        .query_row([delivery], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .optional()?;
    let Some((state, acked, semantics, timed_out, tenant, endpoint, event, stream)) = found else {
        return Ok(Acked::Unknown);
    };
    if acked {
        return Ok(Acked::AlreadyAcked);
    }
    if !takes_ack(&state, &semantics, timed_out) {
        return Ok(Acked::NotAwaiting(stored_id::<DeliveryState>(&state)?));
    }
    if state == "in_flight" {
        // Its receipt, when it comes, ends it succeeded.
        tx.prepare_cached("update deliveries set acked_at = ?1 where id = ?2")?
            .execute(params![now_ms, delivery])?;
    } else {
        tx.prepare_cached(
            r"update deliveries set state = 'succeeded', acked_at = ?1, next_attempt_at = null, lease_until = null,
                                    ack_timed_out = 0, updated_at = ?1
              where id = ?2",
        )?
        .execute(params![now_ms, delivery])?;
        if let Some(stream) = stream {
            streams::advance(tx, &[(endpoint.clone(), stream)].into(), now_ms)?;
        }
    }
    let event_type = event_type_of(tx, &event)?;
    let counts = Counts {
        acked: 1,
        ..Counts::default()
    };
    add_stats(tx, (&tenant, &endpoint, &event_type), now_ms, &counts)?;
    Ok(Acked::Acked)
}

fn expire(tx: &Connection, now_ms: i64) -> Result<u64> {
    let expired = tx
        .prepare_cached(
            r"update deliveries set state = 'pending', next_attempt_at = ?1, ack_timed_out = 1, updated_at = ?1
              where rowid in (select rowid from deliveries indexed by deliveries_ack_due_idx
                              where state = 'awaiting_ack' and next_attempt_at <= ?1
                              order by next_attempt_at limit ?2)
              returning tenant_id, endpoint_id, event_id",
        )?
        .query_map(params![now_ms, EXPIRE_BATCH], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<Vec<(String, String, String)>>>()?;
    let mut counted: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for (tenant, endpoint, event) in &expired {
        let event_type = event_type_of(tx, event)?;
        *counted
            .entry((tenant.clone(), endpoint.clone(), event_type))
            .or_default() += 1;
    }
    for ((tenant, endpoint, event_type), n) in &counted {
        let counts = Counts {
            ack_timeouts: *n,
            ..Counts::default()
        };
        add_stats(tx, (tenant, endpoint, event_type), now_ms, &counts)?;
    }
    Ok(expired.len() as u64)
}

#[async_trait]
impl crate::store::AckStore for SqliteStore {
    async fn ack_target(
        &self,
        delivery: DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<AckTarget>> {
        self.read_ack_target(delivery, to_millis(now)).await
    }

    async fn acknowledge(&self, delivery: DeliveryId, now: DateTime<Utc>) -> Result<Acked> {
        let now_ms = to_millis(now);
        self.hot
            .run(self.pool(), move |tx| {
                acknowledge(tx, &delivery.text(), now_ms)
            })
            .await
    }

    async fn expire_acks(&self, now: DateTime<Utc>) -> Result<u64> {
        let now_ms = to_millis(now);
        let mut total = 0;
        loop {
            let n = self
                .hot
                .run(self.pool(), move |tx| expire(tx, now_ms))
                .await?;
            total += n;
            if n < EXPIRE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}
