//! SQLite: the dispatcher's claims, lease recovery and receipts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::dlq::DeadLetter;
use crate::model::{AttemptId, DeliveryId, DlqEntryId, ErrorClass};
use crate::store::{
    AfterAttempt, AttemptOutcome, ClaimToken, Claimed, Recorded, Settled, from_millis, stored_id,
    to_millis,
};

use crate::store::SqliteStore;

use super::endpoint_cache::ClaimedRow;

use super::endpoints::id_list;
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

    /// A condition on `deliveries` whose one parameter is `$1`.
    fn condition(&self) -> &'static str {
        match self {
            InFlight::LeaseBefore(_) => "state = 'in_flight' and lease_until < $1",
            InFlight::Claims(_) => {
                "state = 'in_flight' and (id, claim_token) in \
                 (select json_extract(value, '$[0]'), json_extract(value, '$[1]') from json_each($1))"
            }
        }
    }
}

/// Puts the in-flight deliveries `selection` picks back in the queue, due at
/// `now_ms`; returns how many.
async fn requeue(
    conn: &mut sqlx::SqliteConnection,
    selection: &InFlight,
    now_ms: i64,
) -> Result<u64> {
    let update = format!(
        r"update deliveries set state = 'pending', lease_until = null, next_attempt_at = $2, updated_at = $2
          where {}",
        selection.condition()
    );
    let query = sqlx::query(&update);
    let query = match selection {
        InFlight::LeaseBefore(cutoff) => query.bind(*cutoff),
        InFlight::Claims(list) => query.bind(list.as_str()),
    };
    Ok(query.bind(now_ms).execute(conn).await?.rows_affected())
}

/// The in-flight deliveries `selection` picks (a condition on `deliveries`
/// with one parameter, `$1`), whose attempt's outcome nobody knows: the
/// at-least-once ones are due again at `now_ms`; the at-most-once ones may have
/// reached their receiver, so they are never sent again automatically but end
/// dead with a DLQ entry of class `outcome_unknown`.
async fn settle_in_flight(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    selection: InFlight,
    now_ms: i64,
    why: &str,
) -> Result<Settled> {
    let condition = selection.condition();
    let select = format!(
        r"select id, tenant_id, endpoint_id, event_id from deliveries
          where {condition}
            and endpoint_id in (select id from endpoints where semantics = 'at_most_once')"
    );
    let query = sqlx::query_as(&select);
    let query = match &selection {
        InFlight::LeaseBefore(cutoff) => query.bind(*cutoff),
        InFlight::Claims(list) => query.bind(list.as_str()),
    };
    let unknown: Vec<(String, String, String, String)> = query.fetch_all(&mut **tx).await?;
    let mut dead_lettered = 0;
    for (delivery, tenant, endpoint, event) in &unknown {
        sqlx::query(
            "update deliveries set state = 'dead', lease_until = null, next_attempt_at = null, updated_at = $1 where id = $2",
        )
        .bind(now_ms)
        .bind(delivery)
        .execute(&mut **tx)
        .await?;
        let added = insert_dlq_entry(
            tx,
            (delivery, tenant, endpoint, event),
            &DeadLetter::outcome_unknown(why),
            now_ms,
        )
        .await?;
        dead_lettered += u64::from(added);
    }
    let requeued = requeue(tx, &selection, now_ms).await?;
    Ok(Settled {
        requeued,
        dead: unknown.len() as u64,
        dead_lettered,
    })
}

/// Puts a dead delivery in the DLQ (or refreshes the entry it already has),
/// and counts the addition in the statistics in the same transaction. This is
/// the one place DLQ entries are written; true when a new entry was added.
async fn insert_dlq_entry(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    (delivery, tenant, endpoint, event): (&str, &str, &str, &str),
    entry: &DeadLetter,
    now_ms: i64,
) -> Result<bool> {
    let (reason, last_attempt) = (&entry.reason, entry.last_attempt.as_deref());
    let class = entry.class;
    let event_type: String = sqlx::query_scalar("select event_type from events where id = $1")
        .bind(event)
        .fetch_optional(&mut **tx)
        .await?
        .unwrap_or_default();
    let added = sqlx::query(
        r"insert into dlq_entries (id, tenant_id, delivery_id, endpoint_id, event_id, reason, last_attempt_id, created_at,
                                   event_type, error_class)
          values ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                  coalesce($10, (select error_class from attempts where id = $7)))
          on conflict (delivery_id) do nothing",
    )
    .bind(DlqEntryId::new().to_string())
    .bind(tenant)
    .bind(delivery)
    .bind(endpoint)
    .bind(event)
    .bind(reason)
    .bind(last_attempt)
    .bind(now_ms)
    .bind(&event_type)
    .bind(class.map(ErrorClass::as_str))
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if added {
        super::stats::count_dlq_addition(tx, (tenant, endpoint, &event_type), now_ms).await?;
    } else {
        sqlx::query(
            r"update dlq_entries set reason = $1, last_attempt_id = $2, created_at = $3,
                                     error_class = coalesce($4, (select error_class from attempts where id = $2))
              where delivery_id = $5",
        )
        .bind(reason)
        .bind(last_attempt)
        .bind(now_ms)
        .bind(class.map(ErrorClass::as_str))
        .bind(delivery)
        .execute(&mut **tx)
        .await?;
    }
    Ok(added)
}

/// The receipts of a batch of attempts, set by set: one update moves every
/// delivery on, one insert per run of rows stores the attempts, and the
/// statistics are summed per endpoint, type and minute and written once.
/// A receipt counts only while its delivery is still in flight under the
/// claim its worker was given: a worker whose lease expired (the delivery was
/// handed back, claimed again, or settled meanwhile) changes nothing.
async fn record_set(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    batch: Vec<AttemptOutcome>,
    now_ms: i64,
) -> Result<Vec<Recorded>> {
    let moves: Vec<serde_json::Value> = batch
        .iter()
        .map(|o| {
            let (state, next_at) = match &o.next {
                AfterAttempt::Succeeded => ("succeeded", None),
                AfterAttempt::RetryAt(at) => ("pending", Some(to_millis(*at))),
                AfterAttempt::Dead { .. } => ("dead", None),
            };
            serde_json::json!([
                o.delivery.to_string(),
                o.claim.0,
                state,
                next_at,
                to_millis(o.attempt.started_at)
            ])
        })
        .collect();
    let moved: Vec<(String, i64, String, String, String)> = sqlx::query_as(
        r"update deliveries set attempts = attempts + 1, state = v.new_state, next_attempt_at = v.next_at,
                                lease_until = null, first_attempt_at = coalesce(first_attempt_at, v.started),
                                updated_at = $2
          from (select json_extract(value, '$[0]') as did, json_extract(value, '$[1]') as token,
                       json_extract(value, '$[2]') as new_state, json_extract(value, '$[3]') as next_at,
                       json_extract(value, '$[4]') as started
                from json_each($1)) as v
          where deliveries.id = v.did and deliveries.state = 'in_flight' and deliveries.claim_token = v.token
          returning id, attempts, tenant_id, endpoint_id, event_id",
    )
    .bind(serde_json::Value::Array(moves).to_string())
    .bind(now_ms)
    .fetch_all(&mut **tx)
    .await?;
    let moved: std::collections::HashMap<String, (i64, String, String, String)> = moved
        .into_iter()
        .map(|(id, attempt_no, tenant, endpoint, event)| {
            (id, (attempt_no, tenant, endpoint, event))
        })
        .collect();

    let mut stats: std::collections::BTreeMap<(String, String, String, i64), crate::model::Counts> =
        std::collections::BTreeMap::new();
    let mut recorded = Vec::with_capacity(batch.len());
    let mut rows = Vec::with_capacity(moved.len());
    let mut dead = Vec::new();
    for outcome in batch {
        let delivery = outcome.delivery.to_string();
        let Some((attempt_no, tenant, endpoint, event)) = moved.get(&delivery) else {
            tracing::warn!(
                delivery = %delivery,
                "receipt refused: the delivery is no longer in flight under this worker's claim"
            );
            recorded.push(Recorded::Refused);
            continue;
        };
        let event_type = match &outcome.event_type {
            Some(known) => known.clone(),
            None => sqlx::query_scalar("select event_type from events where id = $1")
                .bind(event)
                .fetch_optional(&mut **tx)
                .await?
                .unwrap_or_default(),
        };
        let attempt = &outcome.attempt;
        // The DLQ entry, if any, is counted where it is written.
        stats
            .entry((
                tenant.clone(),
                endpoint.clone(),
                event_type,
                crate::model::Granularity::Minute.bucket_start(to_millis(attempt.started_at)),
            ))
            .or_default()
            .add(&crate::model::Counts::of_attempt(
                attempt.error_class,
                attempt.latency_ms,
                false,
            ));
        let attempt_id = AttemptId::new().to_string();
        if let AfterAttempt::Dead { reason } = &outcome.next {
            dead.push((
                recorded.len(),
                delivery.clone(),
                reason.clone(),
                attempt_id.clone(),
            ));
        }
        recorded.push(Recorded::Applied {
            dead_lettered: false,
        });
        rows.push((attempt_id, delivery, *attempt_no, outcome.attempt));
    }
    insert_attempts(tx, &rows).await?;
    for (at, delivery, reason, attempt_id) in dead {
        let (_, tenant, endpoint, event) = &moved[&delivery];
        let added = insert_dlq_entry(
            tx,
            (&delivery, tenant, endpoint, event),
            &DeadLetter::after_attempt(&reason, &attempt_id),
            now_ms,
        )
        .await?;
        recorded[at] = Recorded::Applied {
            dead_lettered: added,
        };
    }
    for ((tenant, endpoint, event_type, minute), counts) in &stats {
        super::stats::add_stats(tx, (tenant, endpoint, event_type), *minute, counts).await?;
    }
    Ok(recorded)
}

/// Stores attempts (id, delivery id, attempt number, receipt) in runs of rows.
async fn insert_attempts(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    rows: &[(String, String, i64, crate::store::NewAttempt)],
) -> Result<()> {
    for run in super::ingest::runs(rows) {
        let encoded = run
            .iter()
            .map(|(_, _, _, a)| {
                Ok((
                    json_text(&a.request_headers)?,
                    json_text(&a.response_headers)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "insert into attempts (id, delivery_id, attempt_no, trigger, started_at, latency_ms, request_headers, \
             response_status, response_headers, response_excerpt, error_class, error_message) ",
        );
        insert.push_values(
            run.iter().zip(encoded),
            |mut b, ((id, delivery, no, a), (request, response))| {
                b.push_bind(id.as_str())
                    .push_bind(delivery.as_str())
                    .push_bind(*no)
                    .push_bind(a.trigger.as_str())
                    .push_bind(to_millis(a.started_at))
                    .push_bind(i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
                    .push_bind(request)
                    .push_bind(a.response_status.map(i64::from))
                    .push_bind(response)
                    .push_bind(a.response_excerpt.as_str())
                    .push_bind(a.error_class.map(|c| c.as_str()))
                    .push_bind(a.error_message.as_deref());
            },
        );
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
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
        let ids: Vec<String> = sqlx::query_scalar(
            r"with recursive
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
              update deliveries set state = 'in_flight', lease_until = $1, updated_at = $2,
                                    claim_token = claim_token + 1
              where rowid in (select rid from turns order by tenant_turn, turn, first_due limit $3)
              returning id",
        )
        .bind(to_millis(lease_until))
        .bind(now_ms)
        .bind(i64::from(limit))
        .bind(i64::from(per_endpoint))
        .bind(i64::from(ahead))
        .fetch_all(self.pool())
        .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = id_list(&ids);

        let rows = sqlx::query_as::<_, ClaimedRow>(
            r"select d.id, d.claim_token, d.tenant_id, d.event_id, d.endpoint_id, d.attempts, d.attempts - d.chain_base as chain_attempts,
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
              where d.id in (select value from json_each($1))
              order by d.next_attempt_at",
        )
        .bind(&list)
        .fetch_all(self.reader())
        .await?;

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
        let mut tx = self.pool().begin().await?;
        let settled = settle_in_flight(
            &mut tx,
            InFlight::LeaseBefore(to_millis(leases_ending_before)),
            to_millis(now),
            "the worker's lease ran out during an at-most-once attempt",
        )
        .await?;
        tx.commit().await?;
        Ok(settled)
    }

    async fn hand_back(
        &self,
        claims: &[(DeliveryId, ClaimToken)],
        now: DateTime<Utc>,
    ) -> Result<Settled> {
        if claims.is_empty() {
            return Ok(Settled::default());
        }
        let mut tx = self.pool().begin().await?;
        let settled = settle_in_flight(
            &mut tx,
            InFlight::of_claims(claims),
            to_millis(now),
            "Herald stopped during an at-most-once attempt",
        )
        .await?;
        tx.commit().await?;
        Ok(settled)
    }

    async fn abandon(&self, delivery: DeliveryId, claim: ClaimToken, reason: &str) -> Result<bool> {
        let now_ms = to_millis(Utc::now());
        let mut tx = self.pool().begin().await?;
        let row: Option<(String, String, String)> = sqlx::query_as(
            r"update deliveries set state = 'dead', lease_until = null, next_attempt_at = null, updated_at = $1
              where id = $2 and state = 'in_flight' and claim_token = $3
              returning tenant_id, endpoint_id, event_id",
        )
        .bind(now_ms)
        .bind(delivery.to_string())
        .bind(claim.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((tenant, endpoint, event)) = row else {
            tracing::warn!(%delivery, "not abandoning a delivery that is no longer held under this claim");
            return Ok(false);
        };
        insert_dlq_entry(
            &mut tx,
            (&delivery.to_string(), &tenant, &endpoint, &event),
            &DeadLetter::abandoned(reason),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn release(&self, claims: &[(DeliveryId, ClaimToken)], now: DateTime<Utc>) -> Result<()> {
        if claims.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool().acquire().await?;
        requeue(&mut conn, &InFlight::of_claims(claims), to_millis(now)).await?;
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
        let mut tx = self.pool().begin().await?;
        let recorded = record_set(&mut tx, batch, now_ms).await?;
        tx.commit().await?;
        Ok(recorded)
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
