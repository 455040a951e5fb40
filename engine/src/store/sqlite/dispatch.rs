//! SQLite: the dispatcher's claims, lease recovery and receipts, each one
//! transaction on the hot writer (`hot.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, named_params, params};

use crate::Result;
use crate::dlq::DeadLetter;
use crate::model::{AttemptId, Counts, DeliveryId, DlqEntryId, ErrorClass, Granularity};
use crate::store::{
    AfterAttempt, AttemptOutcome, ClaimToken, Claimed, Recorded, Settled, from_millis, stored_id,
    to_millis,
};

use crate::store::SqliteStore;

use super::endpoint_cache::ClaimedRow;
use super::stats::{StatParam, stat_params, stats_upsert_sql};
use crate::store::convert::{json_text, semantics_of};

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
                    .map(|(id, token)| serde_json::json!([id.to_string(), token.0]))
                    .collect(),
            )
            .to_string(),
        )
    }

    /// A condition on `deliveries` whose one parameter is `?1`.
    fn condition(&self) -> &'static str {
        match self {
            InFlight::LeaseBefore(_) => "state = 'in_flight' and lease_until < ?1",
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
fn requeue(tx: &Transaction<'_>, selection: &InFlight, now_ms: i64) -> Result<u64> {
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
    tx: &Transaction<'_>,
    selection: &InFlight,
    now_ms: i64,
    why: &str,
) -> Result<Settled> {
    let select = format!(
        r"select id, tenant_id, endpoint_id, event_id from deliveries
          where {}
            and endpoint_id in (select id from endpoints where semantics = 'at_most_once')",
        selection.condition()
    );
    let unknown = tx
        .prepare_cached(&select)?
        .query_map([selection.param()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<Vec<(String, String, String, String)>>>()?;
    let mut dead_lettered = 0;
    for (delivery, tenant, endpoint, event) in &unknown {
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
    Ok(Settled {
        requeued,
        dead: unknown.len() as u64,
        dead_lettered,
    })
}

/// The type of a stored event ("" if it is gone).
fn event_type_of(tx: &Transaction<'_>, event: &str) -> Result<String> {
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
    tx: &Transaction<'_>,
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
                                       event_type, error_class)
              values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
                      coalesce(?10, (select error_class from attempts where id = ?7)))
              on conflict (delivery_id) do nothing",
        )?
        .execute(params![
            DlqEntryId::new().to_string(),
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
fn add_stats(
    tx: &Transaction<'_>,
    key: (&str, &str, &str),
    at_ms: i64,
    counts: &Counts,
) -> Result<()> {
    let mut upsert = tx.prepare_cached(stats_upsert_sql())?;
    for (i, param) in stat_params(key, at_ms, counts).into_iter().enumerate() {
        match param {
            StatParam::Text(text) => upsert.raw_bind_parameter(i + 1, text)?,
            StatParam::Int(n) => upsert.raw_bind_parameter(i + 1, n)?,
        }
    }
    upsert.raw_execute()?;
    Ok(())
}

/// The receipts of a batch of attempts: each moves its delivery on and is
/// stored, and the statistics are summed per endpoint, type and minute and
/// written once. A receipt counts only while its delivery is still in flight
/// under the claim its worker was given: a worker whose lease expired (the
/// delivery was handed back, claimed again, or settled meanwhile) changes
/// nothing.
fn record_set(
    tx: &Transaction<'_>,
    batch: Vec<AttemptOutcome>,
    now_ms: i64,
) -> Result<Vec<Recorded>> {
    let mut stats: std::collections::BTreeMap<(String, String, String, i64), Counts> =
        std::collections::BTreeMap::new();
    let mut recorded = Vec::with_capacity(batch.len());
    // A lookup by key and an update by rowid: `update … returning` would
    // gather its rows in a temporary table first, one per statement.
    let mut held = tx.prepare_cached(
        r"select rowid, attempts + 1, tenant_id, endpoint_id, event_id from deliveries
          where id = ?1 and state = 'in_flight' and claim_token = ?2",
    )?;
    let mut advance = tx.prepare_cached(
        r"update deliveries set attempts = ?2, state = ?3, next_attempt_at = ?4, lease_until = null,
                                first_attempt_at = coalesce(first_attempt_at, ?5), updated_at = ?6
          where rowid = ?1",
    )?;
    let mut store = tx.prepare_cached(
        "insert into attempts (id, delivery_id, attempt_no, trigger, started_at, latency_ms, request_headers, \
         response_status, response_headers, response_excerpt, error_class, error_message) \
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for outcome in batch {
        let delivery = outcome.delivery.to_string();
        let (state, next_at) = match &outcome.next {
            AfterAttempt::Succeeded => ("succeeded", None),
            AfterAttempt::RetryAt(at) => ("pending", Some(to_millis(*at))),
            AfterAttempt::Dead { .. } => ("dead", None),
        };
        let attempt = &outcome.attempt;
        let started = to_millis(attempt.started_at);
        let moved: Option<(i64, i64, String, String, String)> = held
            .query_row(params![&delivery, outcome.claim.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let Some((rowid, attempt_no, tenant, endpoint, event)) = moved else {
            tracing::warn!(
                delivery = %delivery,
                "receipt refused: the delivery is no longer in flight under this worker's claim"
            );
            recorded.push(Recorded::Refused);
            continue;
        };
        advance.execute(params![rowid, attempt_no, state, next_at, started, now_ms])?;
        let event_type = match &outcome.event_type {
            Some(known) => known.clone(),
            None => event_type_of(tx, &event)?,
        };
        let attempt_id = AttemptId::new().to_string();
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
    Ok(recorded)
}

/// Claims up to `limit` due deliveries (see `claim_due`) and reads what
/// sending each needs, in due order: each taken is updated by rowid, where an
/// `update … returning` would gather its rows in a temporary table first.
fn claim(
    tx: &Transaction<'_>,
    (now_ms, lease_ms): (i64, i64),
    limit: u32,
    per_endpoint: u32,
    ahead: u32,
) -> Result<Vec<ClaimedRow>> {
    // Fair by construction: walk the endpoints that have pending work (a
    // skip-scan, one index seek per endpoint), give each at most the slots
    // its in-flight count leaves free, and take them round-robin (every
    // endpoint's first due delivery before anyone's second), with tenants
    // taking turns too. An endpoint at its limit is skipped and its work
    // stays due; one endpoint's backlog cannot hide anyone else's.
    // `indexed by` keeps every step on the pending-only index: the
    // planner would otherwise pick `deliveries_endpoint_idx` and sort or
    // scan an endpoint's whole history. Each turn seeks the delivery
    // after the previous turn's in index order, as two seeks (the same
    // due time and a later rowid, else a later due time): a row-value
    // comparison on `(next_attempt_at, rowid)` seeks on the time alone and
    // scanned every delivery sharing it (a whole batch of events).
    let mut taken = tx
        .prepare_cached(CLAIM_SQL)?
        .query_map(
            named_params! {
                "$2": now_ms,
                "$3": i64::from(limit),
                "$4": i64::from(per_endpoint),
                "$5": i64::from(ahead),
            },
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?
        .collect::<rusqlite::Result<Vec<(i64, i64)>>>()?;
    taken.sort_by_key(|(rowid, due)| (*due, *rowid));
    let mut hold = tx.prepare_cached(
        r"update deliveries set state = 'in_flight', lease_until = ?2, updated_at = ?3,
                                claim_token = claim_token + 1
          where rowid = ?1",
    )?;
    let mut read = tx.prepare_cached(CLAIMED_SQL)?;
    let mut rows = Vec::with_capacity(taken.len());
    for (rowid, _) in taken {
        hold.execute(params![rowid, lease_ms, now_ms])?;
        // By position, in `CLAIMED_SQL`'s order: a lookup by name costs a
        // scan of the column names per value.
        rows.push(read.query_row([rowid], |r| {
            Ok(ClaimedRow {
                id: r.get(0)?,
                claim_token: r.get(1)?,
                tenant_id: r.get(2)?,
                event_id: r.get(3)?,
                endpoint_id: r.get(4)?,
                attempts: r.get(5)?,
                chain_attempts: r.get(6)?,
                first_attempt_at: r.get(7)?,
                chain_trigger: r.get(8)?,
                chain_reason: r.get(9)?,
                event_type: r.get(10)?,
                payload: r.get(11)?,
                correlation_id: r.get(12)?,
                test: r.get(13)?,
                url: r.get(14)?,
                headers: r.get(15)?,
                semantics: r.get(16)?,
                retry_policy: r.get(17)?,
                timeout_ms: r.get(18)?,
                active: r.get(19)?,
                max_in_flight: r.get(20)?,
                version: r.get(21)?,
            })
        })?);
    }
    Ok(rows)
}

/// The due deliveries a claim takes (rowid, due time), with the claim's
/// parameters: `$2` now, `$3` the most to take, `$4` the default per-endpoint
/// concurrency, `$5` how many times that an endpoint may hold at once.
const CLAIM_SQL: &str = r"with recursive
              endpoints_with_work(endpoint_id) as (
                  select (select min(endpoint_id) from deliveries indexed by deliveries_endpoint_due_idx
                          where state = 'pending')
                  union all
                  select (select min(endpoint_id) from deliveries indexed by deliveries_endpoint_due_idx
                          where state = 'pending' and endpoint_id > w.endpoint_id)
                  from endpoints_with_work w where w.endpoint_id is not null
              ),
              ready as (
                  select w.endpoint_id,
                         (select min(next_attempt_at) from deliveries d indexed by deliveries_endpoint_due_idx
                          where d.state = 'pending' and d.endpoint_id = w.endpoint_id) as first_due,
                         $5 * coalesce((select p.max_in_flight from endpoints p where p.id = w.endpoint_id), $4)
                           - (select count(*) from deliveries d
                              where d.state = 'in_flight' and d.endpoint_id = w.endpoint_id) as free
                  from endpoints_with_work w where w.endpoint_id is not null
              ),
              walk(endpoint_id, first_due, free, turn, rid) as (
                  select r.endpoint_id, r.first_due, r.free, 1,
                         (select d.rowid from deliveries d indexed by deliveries_endpoint_due_idx
                          where d.state = 'pending' and d.endpoint_id = r.endpoint_id
                          order by d.next_attempt_at, d.rowid limit 1)
                  from ready r where r.free >= 1 and r.first_due <= $2
                  union all
                  select w.endpoint_id, w.first_due, w.free, w.turn + 1,
                         coalesce(
                           (select d.rowid from deliveries d indexed by deliveries_endpoint_due_idx, deliveries cur
                            where cur.rowid = w.rid and d.state = 'pending' and d.endpoint_id = w.endpoint_id
                              and d.next_attempt_at = cur.next_attempt_at and d.rowid > cur.rowid
                            order by d.rowid limit 1),
                           (select d.rowid from deliveries d indexed by deliveries_endpoint_due_idx, deliveries cur
                            where cur.rowid = w.rid and d.state = 'pending' and d.endpoint_id = w.endpoint_id
                              and d.next_attempt_at > cur.next_attempt_at and d.next_attempt_at <= $2
                            order by d.next_attempt_at, d.rowid limit 1))
                  from walk w where w.turn < w.free and w.rid is not null
              ),
              turns as (
                  select w.rid, w.turn, w.first_due,
                         row_number() over (partition by d.tenant_id order by w.turn, w.first_due) as tenant_turn
                  from walk w join deliveries d on d.rowid = w.rid
                  where w.rid is not null
              )
              select t.rid, d.next_attempt_at from turns t join deliveries d on d.rowid = t.rid
              order by t.tenant_turn, t.turn, t.first_due limit $3";

/// What sending one claimed delivery needs, by its rowid.
const CLAIMED_SQL: &str = r"select d.id, d.claim_token, d.tenant_id, d.event_id, d.endpoint_id, d.attempts, d.attempts - d.chain_base as chain_attempts,
                     d.first_attempt_at, d.chain_trigger, d.chain_reason,
                     e.event_type, e.payload, e.correlation_id, e.test,
                     p.url, p.headers, p.semantics,
                     coalesce(rp.policy, p.retry_policy) as retry_policy, p.timeout_ms,
                     (p.disabled_at is null and p.deleted_at is null) as active, p.max_in_flight,
                     p.updated_at || '/' || coalesce((select group_concat(s.created_at || ':' || coalesce(s.expires_at, ''))
                                                      from endpoint_secrets s where s.endpoint_id = p.id), '') as version
              from deliveries d
              join events e on e.id = d.event_id
              join endpoints p on p.id = d.endpoint_id
              left join retry_policies rp on rp.id = p.retry_policy_id
              where d.rowid = ?1";

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
        let rows = self
            .hot
            .run(self.pool(), move |tx| {
                claim(tx, (now_ms, lease_ms), limit, per_endpoint, ahead)
            })
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let opened = self.opened_endpoints(&rows).await?;

        rows.iter()
            .map(|r| {
                let endpoint = &opened[r.endpoint_id.as_str()];
                Ok(Claimed {
                    id: stored_id(&r.id)?,
                    tenant_id: stored_id(&r.tenant_id)?,
                    event_id: stored_id(&r.event_id)?,
                    event_type: r.event_type.clone(),
                    payload: r.payload.clone(),
                    correlation_id: r.correlation_id.clone(),
                    test: r.test,
                    endpoint_id: stored_id(&r.endpoint_id)?,
                    url: r.url.clone(),
                    headers: endpoint.headers.clone(),
                    semantics: semantics_of(&r.semantics),
                    retry_policy: endpoint.retry_policy.clone(),
                    timeout_ms: u32::try_from(r.timeout_ms).unwrap_or(u32::MAX),
                    max_in_flight: r.max_in_flight.and_then(|n| u32::try_from(n).ok()),
                    secrets: endpoint.live_secrets(now_ms),
                    endpoint_active: r.active,
                    attempts: u32::try_from(r.attempts).unwrap_or(0),
                    chain_attempts: u32::try_from(r.chain_attempts).unwrap_or(0),
                    first_attempt_at: r.first_attempt_at.map(from_millis),
                    trigger: stored_id(&r.chain_trigger)?,
                    reason: r.chain_reason.clone(),
                    claim: ClaimToken(r.claim_token),
                })
            })
            .collect()
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
                let delivery = delivery.to_string();
                let row: Option<(String, String, String)> = tx
                    .prepare_cached(
                        r"update deliveries set state = 'dead', lease_until = null, next_attempt_at = null, updated_at = ?1
                          where id = ?2 and state = 'in_flight' and claim_token = ?3
                          returning tenant_id, endpoint_id, event_id",
                    )?
                    .query_row(params![now_ms, &delivery, claim.0], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?;
                let Some((tenant, endpoint, event)) = row else {
                    tracing::warn!(%delivery, "not abandoning a delivery that is no longer held under this claim");
                    return Ok(false);
                };
                insert_dlq_entry(
                    tx,
                    (&delivery, &tenant, &endpoint, &event),
                    &DeadLetter::abandoned(&reason),
                    now_ms,
                )?;
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

    async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = sqlx::query_scalar(
            "select min(next_attempt_at) from deliveries where state = 'pending'",
        )
        .fetch_one(self.reader())
        .await?;
        Ok(at.map(from_millis))
    }
}
