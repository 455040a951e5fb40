//! SQLite: the dispatcher's claims (`claim.rs`), lease recovery and receipts,
//! each one transaction on the hot writer (`hot.rs`).

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::Result;
use crate::dlq::DeadLetter;
use crate::model::{
    AttemptId, Counts, DeliveryId, DlqEntryId, EndpointId, ErrorClass, Granularity,
};
use crate::store::{
    AfterAttempt, AttemptOutcome, ClaimToken, Claimed, Recorded, Settled, from_millis, to_millis,
};

use crate::store::SqliteStore;

use super::claim::{NEXT_DUE_SQL, claim};
use super::stats::{LATENCY_CONFLICT, StatParam, stat_params, stats_upsert_sql};
use super::streams;
use crate::store::convert::json_text;

/// Which in-flight deliveries to settle.
enum InFlight {
    /// Those whose lease ends before this time (ms).
    LeaseBefore(i64),
    /// These claims: a JSON array of `[delivery id, claim token]`.
    Claims(String),
}

impl InFlight {
    fn of_claims(claims: &[(DeliveryId, ClaimToken)]) -> Self {
        InFlight::Claims(
            serde_json::Value::Array(
                claims
                    .iter()
                    .map(|(id, token)| serde_json::json!([id.text(), token.0]))
                    .collect(),
            )
            .to_string(),
        )
    }

    /// A condition on `deliveries` whose one parameter is `?1`.
    fn condition(&self) -> &'static str {
        match self {
            // An inbox's leases end by their visibility timeout, as
            // attempts (`inbox::expire_leases`), not here.
            InFlight::LeaseBefore(_) => {
                "state = 'in_flight' and lease_until < ?1 \
                 and endpoint_id not in (select id from endpoints where kind = 'inbox')"
            }
            InFlight::Claims(_) => {
                "state = 'in_flight' and (id, claim_token) in \
                 (select json_extract(value, '$[0]'), json_extract(value, '$[1]') from json_each(?1))"
            }
        }
    }

    /// The value of `?1`.
    fn param(&self) -> rusqlite::types::Value {
        match self {
            InFlight::LeaseBefore(cutoff) => rusqlite::types::Value::Integer(*cutoff),
            InFlight::Claims(list) => rusqlite::types::Value::Text(list.clone()),
        }
    }
}

/// Puts the in-flight deliveries `selection` picks back in the queue, due at
/// `now_ms`; returns how many.
fn requeue(tx: &Connection, selection: &InFlight, now_ms: i64) -> Result<u64> {
    let update = format!(
        r"update deliveries set state = 'pending', lease_until = null, next_attempt_at = ?2, updated_at = ?2
          where {}",
        selection.condition()
    );
    let moved = tx
        .prepare_cached(&update)?
        .execute(params![selection.param(), now_ms])?;
    Ok(moved as u64)
}

/// The in-flight deliveries `selection` picks, whose attempt's outcome nobody
/// knows: the at-least-once ones are due again at `now_ms`; the at-most-once
/// ones may have reached their receiver, so they are never sent again
/// automatically but end dead with a DLQ entry of class `outcome_unknown`.
fn settle_in_flight(
    tx: &Connection,
    selection: &InFlight,
    now_ms: i64,
    why: &str,
) -> Result<Settled> {
    let select = format!(
        r"select id, tenant_id, endpoint_id, event_id, stream from deliveries
          where {}
            and endpoint_id in (select id from endpoints where semantics = 'at_most_once')",
        selection.condition()
    );
    let unknown = tx
        .prepare_cached(&select)?
        .query_map([selection.param()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<Vec<(String, String, String, String, Option<String>)>>>()?;
    let mut dead_lettered = 0;
    let mut ended = BTreeSet::new();
    for (delivery, tenant, endpoint, event, stream) in &unknown {
        if let Some(stream) = stream {
            ended.insert((endpoint.clone(), stream.clone()));
        }
        tx.prepare_cached(
            "update deliveries set state = 'dead', lease_until = null, next_attempt_at = null, updated_at = ?1 where id = ?2",
        )?
        .execute(params![now_ms, delivery])?;
        let added = insert_dlq_entry(
            tx,
            (delivery, tenant, endpoint, event),
            &DeadLetter::outcome_unknown(why),
            now_ms,
        )?;
        dead_lettered += u64::from(added);
    }
    let requeued = requeue(tx, selection, now_ms)?;
    streams::advance(tx, &ended, now_ms)?;
    Ok(Settled {
        requeued,
        dead: unknown.len() as u64,
        dead_lettered,
    })
}

/// The type of a stored event ("" if it is gone).
pub(super) fn event_type_of(tx: &Connection, event: &str) -> Result<String> {
    Ok(tx
        .prepare_cached("select event_type from events where id = ?1")?
        .query_row([event], |r| r.get(0))
        .optional()?
        .unwrap_or_default())
}

/// Puts a dead delivery in the DLQ (or refreshes the entry it already has),
/// and counts the addition in the statistics in the same transaction. This is
/// the one place DLQ entries are written; true when a new entry was added.
fn insert_dlq_entry(
    tx: &Connection,
    (delivery, tenant, endpoint, event): (&str, &str, &str, &str),
    entry: &DeadLetter,
    now_ms: i64,
) -> Result<bool> {
    let (reason, last_attempt) = (&entry.reason, entry.last_attempt.as_deref());
    let class = entry.class.map(ErrorClass::as_str);
    let event_type = event_type_of(tx, event)?;
    let added = tx
        .prepare_cached(
            r"insert into dlq_entries (id, tenant_id, delivery_id, endpoint_id, event_id, reason, last_attempt_id, created_at,
                                       event_type, error_class, stream)
              values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
                      coalesce(?10, (select error_class from attempts where id = ?7)),
                      (select stream from deliveries where id = ?3))
              on conflict (delivery_id) do nothing",
        )?
        .execute(params![
            DlqEntryId::new().text(),
            tenant,
            delivery,
            endpoint,
            event,
            reason,
            last_attempt,
            now_ms,
            &event_type,
            class
        ])?
        == 1;
    if added {
        let counts = Counts {
            dlq_added: 1,
            ..Counts::default()
        };
        add_stats(tx, (tenant, endpoint, &event_type), now_ms, &counts)?;
    } else {
        tx.prepare_cached(
            r"update dlq_entries set reason = ?1, last_attempt_id = ?2, created_at = ?3,
                                     error_class = coalesce(?4, (select error_class from attempts where id = ?2))
              where delivery_id = ?5",
        )?
        .execute(params![reason, last_attempt, now_ms, class, delivery])?;
    }
    Ok(added)
}

/// Adds `counts` to the minute, hour and day rows of `(tenant, endpoint, event type)` at `at_ms`.
pub(super) fn add_stats(
    tx: &Connection,
    key: (&str, &str, &str),
    at_ms: i64,
    counts: &Counts,
) -> Result<()> {
    let run = |sql: &str, params: Vec<StatParam<'_>>| -> Result<()> {
        let mut upsert = tx.prepare_cached(sql)?;
        for (i, param) in params.into_iter().enumerate() {
            match param {
                StatParam::Text(text) => upsert.raw_bind_parameter(i + 1, text)?,
                StatParam::Int(n) => upsert.raw_bind_parameter(i + 1, n)?,
            }
        }
        upsert.raw_execute()?;
        Ok(())
    };
    run(stats_upsert_sql(), stat_params(key, at_ms, counts))?;
    for (from, n) in &counts.latency_histogram {
        run(
            latency_upsert_sql(),
            latency_params(key, at_ms, (*from, *n)),
        )?;
    }
    Ok(())
}

/// The statement that adds `n` attempts to one latency bucket of the minute,
/// hour and day rows of one `(tenant, endpoint, event type)`, for a writer
/// that prepares it once: `latency_params` gives its parameters.
fn latency_upsert_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let rows = (0..Granularity::ALL.len())
            .map(|g| {
                let row: Vec<String> = (1..=7).map(|i| format!("${}", g * 7 + i)).collect();
                format!("select {}", row.join(", "))
            })
            .collect::<Vec<_>>()
            .join(" union all ");
        format!(
            "insert into delivery_latency (tenant_id, endpoint_id, event_type, granularity, bucket_start, from_ms, n) \
             {rows} where true{LATENCY_CONFLICT}"
        )
    })
}

/// The parameters of `latency_upsert_sql` for `n` attempts in the bucket
/// starting at `from_ms`, at `at_ms`.
fn latency_params<'a>(
    (tenant, endpoint, event_type): (&'a str, &'a str, &'a str),
    at_ms: i64,
    (from_ms, n): (u64, u64),
) -> Vec<StatParam<'a>> {
    Granularity::ALL
        .into_iter()
        .flat_map(|g| {
            [
                StatParam::Text(tenant),
                StatParam::Text(endpoint),
                StatParam::Text(event_type),
                StatParam::Text(g.as_str()),
                StatParam::Int(g.bucket_start(at_ms)),
                StatParam::Int(i64::try_from(from_ms).unwrap_or(i64::MAX)),
                StatParam::Int(i64::try_from(n).unwrap_or(i64::MAX)),
            ]
        })
        .collect()
}

/// A delivery a receipt finds in flight under its claim: rowid, the
/// attempt's number, tenant, endpoint, event, stream and whether its
/// receiver acknowledged it while the attempt was in flight.
type Held = (i64, i64, String, String, String, Option<String>, bool);

/// The receipts of a batch of attempts: each moves its delivery on and is
/// stored, and the statistics are summed per endpoint, type and minute and
/// written once. A receipt counts only while its delivery is still in flight
/// under the claim its worker was given: a worker whose lease expired (the
/// delivery was handed back, claimed again, or settled meanwhile) changes
/// nothing.
fn record_set(tx: &Connection, batch: Vec<AttemptOutcome>, now_ms: i64) -> Result<Vec<Recorded>> {
    let mut stats: std::collections::BTreeMap<(String, String, String, i64), Counts> =
        std::collections::BTreeMap::new();
    let mut recorded = Vec::with_capacity(batch.len());
    let mut ended = BTreeSet::new();
    // A lookup by key and an update by rowid: `update … returning` would
    // gather its rows in a temporary table first, one per statement.
    let mut held = tx.prepare_cached(
        r"select rowid, attempts + 1, tenant_id, endpoint_id, event_id, stream, acked_at is not null from deliveries
          where id = ?1 and state = 'in_flight' and claim_token = ?2",
    )?;
    let mut advance = tx.prepare_cached(
        r"update deliveries set attempts = ?2, state = ?3, next_attempt_at = ?4, lease_until = null,
                                first_attempt_at = coalesce(first_attempt_at, ?5), updated_at = ?6, ack_timed_out = 0
          where rowid = ?1",
    )?;
    let mut store = tx.prepare_cached(
        "insert into attempts (id, delivery_id, attempt_no, trigger, started_at, latency_ms, request_headers, \
         response_status, response_headers, response_excerpt, error_class, error_message) \
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for mut outcome in batch {
        let delivery = outcome.delivery.text();
        let attempt = &outcome.attempt;
        let started = to_millis(attempt.started_at);
        let moved: Option<Held> = held
            .query_row(params![&delivery, outcome.claim.0], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .optional()?;
        let Some((rowid, attempt_no, tenant, endpoint, event, stream, acked)) = moved else {
            // On the hot writer's thread, outside any span.
            tracing::warn!(
                correlation_id = "receipts",
                delivery = %delivery,
                "receipt refused: the delivery is no longer in flight under this worker's claim"
            );
            recorded.push(Recorded::Refused);
            continue;
        };
        if acked {
            outcome.next = AfterAttempt::Succeeded;
        }
        let (state, next_at) = outcome.next.stored();
        advance.execute(params![rowid, attempt_no, state, next_at, started, now_ms])?;
        if let (Some(stream), None) = (stream, next_at) {
            ended.insert((endpoint.clone(), stream));
        }
        let event_type = match &outcome.event_type {
            Some(known) => known.clone(),
            None => event_type_of(tx, &event)?,
        };
        let attempt_id = AttemptId::new().text();
        store.execute(params![
            &attempt_id,
            &delivery,
            attempt_no,
            attempt.trigger.as_str(),
            started,
            i64::try_from(attempt.latency_ms).unwrap_or(i64::MAX),
            json_text(&attempt.request_headers)?,
            attempt.response_status.map(i64::from),
            json_text(&attempt.response_headers)?,
            attempt.response_excerpt.as_str(),
            attempt.error_class.map(|c| c.as_str()),
            attempt.error_message.as_deref(),
        ])?;
        // The DLQ entry, if any, is counted where it is written.
        stats
            .entry((
                tenant.clone(),
                endpoint.clone(),
                event_type,
                Granularity::Minute.bucket_start(started),
            ))
            .or_default()
            .add(&Counts::of_attempt(
                attempt.error_class,
                attempt.latency_ms,
                false,
            ));
        let dead_lettered = match &outcome.next {
            AfterAttempt::Dead { reason } => insert_dlq_entry(
                tx,
                (&delivery, &tenant, &endpoint, &event),
                &DeadLetter::after_attempt(reason, &attempt_id),
                now_ms,
            )?,
            _ => false,
        };
        recorded.push(Recorded::Applied { dead_lettered });
    }
    for ((tenant, endpoint, event_type, minute), counts) in &stats {
        add_stats(tx, (tenant, endpoint, event_type), *minute, counts)?;
    }
    // After the DLQ entries: a dead delivery of a blocking stream holds it.
    streams::advance(tx, &ended, now_ms)?;
    Ok(recorded)
}

impl SqliteStore {
    /// `settle_in_flight` as a job of the hot writer.
    async fn settle(
        &self,
        selection: InFlight,
        now: DateTime<Utc>,
        why: &'static str,
    ) -> Result<Settled> {
        let now_ms = to_millis(now);
        self.hot
            .run(self.pool(), move |tx| {
                settle_in_flight(tx, &selection, now_ms, why)
            })
            .await
    }
}

#[async_trait]
impl crate::store::DispatchStore for SqliteStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        per_endpoint: u32,
        ahead: u32,
    ) -> Result<Vec<Claimed>> {
        let now_ms = to_millis(now);
        let lease_ms = to_millis(lease_until);
        let (rows, endpoints) = self
            .hot
            .run(self.pool(), move |tx| {
                claim(tx, (now_ms, lease_ms), limit, per_endpoint, ahead)
            })
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.claimed(&rows, &endpoints, now_ms).await
    }

    async fn reclaim_expired(
        &self,
        leases_ending_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Settled> {
        self.settle(
            InFlight::LeaseBefore(to_millis(leases_ending_before)),
            now,
            "the worker's lease ran out during an at-most-once attempt",
        )
        .await
    }

    /// One node per database: whatever is in flight is its own.
    async fn reclaim_own(&self, now: DateTime<Utc>) -> Result<Settled> {
        self.settle(
            InFlight::LeaseBefore(i64::MAX),
            now,
            "Herald stopped during an at-most-once attempt",
        )
        .await
    }

    async fn hand_back(
        &self,
        claims: &[(DeliveryId, ClaimToken)],
        now: DateTime<Utc>,
    ) -> Result<Settled> {
        if claims.is_empty() {
            return Ok(Settled::default());
        }
        self.settle(
            InFlight::of_claims(claims),
            now,
            "Herald stopped during an at-most-once attempt",
        )
        .await
    }

    async fn abandon(&self, delivery: DeliveryId, claim: ClaimToken, reason: &str) -> Result<bool> {
        let now_ms = to_millis(Utc::now());
        let reason = reason.to_owned();
        self.hot
            .run(self.pool(), move |tx| {
                let delivery = delivery.text();
                let row: Option<(String, String, String, Option<String>)> = tx
                    .prepare_cached(
                        r"update deliveries set state = 'dead', lease_until = null, next_attempt_at = null, updated_at = ?1,
                                                ack_timed_out = 0
                          where id = ?2 and state = 'in_flight' and claim_token = ?3
                          returning tenant_id, endpoint_id, event_id, stream",
                    )?
                    .query_row(params![now_ms, &delivery, claim.0], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()?;
                let Some((tenant, endpoint, event, stream)) = row else {
                    tracing::warn!(correlation_id = "dispatcher", %delivery, "not abandoning a delivery that is no longer held under this claim");
                    return Ok(false);
                };
                insert_dlq_entry(
                    tx,
                    (&delivery, &tenant, &endpoint, &event),
                    &DeadLetter::abandoned(&reason),
                    now_ms,
                )?;
                if let Some(stream) = stream {
                    streams::advance(tx, &BTreeSet::from([(endpoint, stream)]), now_ms)?;
                }
                Ok(true)
            })
            .await
    }

    async fn release(&self, claims: &[(DeliveryId, ClaimToken)], now: DateTime<Utc>) -> Result<()> {
        if claims.is_empty() {
            return Ok(());
        }
        let selection = InFlight::of_claims(claims);
        let now_ms = to_millis(now);
        self.hot
            .run(self.pool(), move |tx| requeue(tx, &selection, now_ms))
            .await?;
        Ok(())
    }

    /// Receipts of many attempts in one transaction (group commit): the
    /// dispatcher collects the attempts that finish while the previous batch
    /// is being written. A delivery that no longer exists is skipped.
    async fn record_attempts(&self, batch: Vec<AttemptOutcome>) -> Result<Vec<Recorded>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let now_ms = to_millis(Utc::now());
        self.hot
            .run(self.pool(), move |tx| record_set(tx, batch, now_ms))
            .await
    }

    async fn advance_stalled_streams(
        &self,
        endpoint: Option<EndpointId>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let now_ms = to_millis(now);
        let endpoint = endpoint.map(|e| e.text());
        self.hot
            .run(self.pool(), move |tx| {
                let stalled = streams::stalled(tx, endpoint.as_deref())?;
                streams::advance(tx, &stalled, now_ms)
            })
            .await
    }

    async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = sqlx::query_scalar(NEXT_DUE_SQL)
            .fetch_one(self.reader())
            .await?;
        Ok(at.map(from_millis))
    }
}
