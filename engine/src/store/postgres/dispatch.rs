//! PostgreSQL: the dispatcher's claims, lease recovery and receipts, on the
//! queue of live work (`delivery_queue`: pending and in-flight deliveries
//! only); a delivery's record (`delivery_records`) is written when an
//! attempt ends, never by a claim. A claim picks its deliveries fairly in
//! one statement (round-robin over endpoints and tenants, each endpoint
//! capped by its free slots, counted over every node's in-flight work) and
//! takes them with `for update skip locked`, so two claims never take the
//! same delivery. Every claim gives the delivery a new `claim_token` (from a
//! sequence, so no token is ever used twice), the fencing token its receipt
//! must show. Receipts of a batch are written with one statement per table
//! (`unnest`).
//!
//! An endpoint's concurrency limit holds across nodes: its deliveries in
//! flight on every node count against it, and claims of the installation
//! take turns (a transaction-scoped advisory lock around pick and take), so
//! two nodes never both see the same free slots. Nodes claim nothing ahead
//! of their slots here: a delivery claimed is a delivery on the wire.
//!
//! Each endpoint is served by one node at a time, its owner: of the live
//! nodes (by heartbeat), the one ranked first for it by rendezvous hashing
//! (`endpoint_owner`, migration 0006). A node claims and refills only for
//! the endpoints it owns, so an endpoint's receipts and refills batch on one
//! node instead of splitting into small transactions on each, and endpoints
//! move only when a node joins or stops beating. Ownership is not what keeps
//! the limit: while nodes disagree about who is live, two may claim for the
//! same endpoint, and the count over every node bounds them both.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::PostgresStore;
use super::endpoint_cache::{ClaimedEndpoint, ClaimedRow};
use super::receipts::record_set;
use super::stats::add_stats;
use super::streams;
use super::tokens::spend_tokens;
use crate::Result;
use crate::dlq::DeadLetter;
use crate::model::{Counts, DeliveryId, DlqEntryId, EndpointId, ErrorClass};
use crate::store::{
    AttemptOutcome, ClaimToken, Claimed, Recorded, Settled, from_millis, to_millis,
};

/// Which deliveries a claim takes, in the order it takes them (`$1` now,
/// `$2` the most to take, `$3` the default per-endpoint concurrency, `$4`
/// how many times that an endpoint may hold at once, `$5` this node, `$6`
/// the oldest heartbeat of a live node). Within a tenant every endpoint's
/// first due delivery comes before anyone's second (earlier-due endpoints
/// first); tenants take turns. An endpoint at its limit gives none, and a
/// node claims only for the endpoints it owns (`endpoint_owner`, migration
/// 0006): each endpoint's work stays on one node, whose receipts refill its
/// slots in large batches, and the endpoints spread over the nodes. The
/// owners spread the work; the limit, counted over every node, is the count.
const PICK_SQL: &str = r"with ready as (
    select p.id as endpoint_id, p.tenant_id,
           least(case when p.breaker_state = 'open' then 1 else $4 * coalesce(p.max_in_flight, $3) end
                   - (select count(*) from delivery_queue f where f.state = 'in_flight' and f.endpoint_id = p.id),
                 case when p.rate_limit is null then $2
                      else floor(least(greatest(1.0, p.rate_limit * 1000.0 / p.rate_period_ms),
                                       coalesce(t.tokens, greatest(1.0, p.rate_limit * 1000.0 / p.rate_period_ms))
                                         + greatest(0, $1 - coalesce(t.counted_at, $1))
                                           * p.rate_limit::float8 / p.rate_period_ms))::bigint end) as free
    from endpoints p
    left join endpoint_tokens t on t.endpoint_id = p.id
    where exists (select 1 from delivery_queue d
                  where d.state = 'pending' and d.endpoint_id = p.id and d.next_attempt_at <= $1)
      and (p.disabled_at is null or p.deleted_at is not null)
      and (p.kind = 'webhook' or p.deleted_at is not null)
      and (p.breaker_state = 'closed' or p.breaker_until <= $1 or p.deleted_at is not null)
      and endpoint_owner(p.id, $6, $5) = $5
), lanes as (
    select r.endpoint_id, r.tenant_id, d.id, d.next_attempt_at,
           row_number() over (partition by r.endpoint_id order by d.next_attempt_at, d.id) as turn,
           min(d.next_attempt_at) over (partition by r.endpoint_id) as first_due
    from ready r
    cross join lateral (
        select delivery_id as id, next_attempt_at from delivery_queue d
        where d.state = 'pending' and d.endpoint_id = r.endpoint_id and d.next_attempt_at <= $1
        order by d.next_attempt_at, d.delivery_id
        limit least(r.free, $2)
    ) d
    where r.free > 0
), ranked as (
    select id, turn, first_due, endpoint_id,
           row_number() over (partition by tenant_id order by turn, first_due, endpoint_id) as tenant_turn
    from lanes
)
select id from ranked order by tenant_turn, turn, first_due, endpoint_id limit $2";

/// Leases the deliveries of the statement's first CTE, `picked`, to this
/// node (`$4`) until `$3`; returns what sending each needs, earliest due first.
macro_rules! take_picked {
    () => {
        r"held as (
    update delivery_queue q
    set state = 'in_flight', lease_until = $3, lease_owner = $4, claim_token = nextval('delivery_claims')
    from picked where q.delivery_id = picked.delivery_id
    returning q.delivery_id, q.claim_token, q.next_attempt_at
)
select h.delivery_id as id, h.claim_token, d.tenant_id, d.event_id, d.endpoint_id, d.attempts,
       d.attempts - d.chain_base as chain_attempts, d.first_attempt_at, d.chain_trigger, d.chain_reason,
       e.event_type, e.payload, e.correlation_id, e.test, d.ack_timed_out,
       (select j.transform from replay_jobs j where j.id = d.replay_id) as replay_transform
from held h join delivery_records d on d.id = h.delivery_id join events e on e.id = d.event_id
order by h.next_attempt_at, h.delivery_id"
    };
}

/// Takes the picked deliveries (`$1`) still pending and due by `$2` that no
/// other node holds locked.
const TAKE_SQL: &str = concat!(
    r"with picked as (
    select delivery_id from delivery_queue
    where delivery_id = any($1) and state = 'pending' and next_attempt_at <= $2
    for update skip locked
), ",
    take_picked!()
);

/// Refills the slots a batch of receipts freed (`$1` endpoints, `$5` how
/// many each): for each endpoint this node owns (as in [`PICK_SQL`], `$7`
/// the oldest heartbeat of a live node), its earliest deliveries due by `$2`
/// that no other node holds locked, no more than it freed and no more than
/// its limit leaves room for (`$6` the default per-endpoint concurrency).
/// The counts of what is in flight see this transaction's receipts.
const REFILL_SQL: &str = concat!(
    r"with freed as (
    select f.endpoint_id,
           least(f.n,
                 case when p.breaker_state = 'open' then 1 else coalesce(p.max_in_flight, $6) end
                   - (select count(*) from delivery_queue c
                      where c.state = 'in_flight' and c.endpoint_id = f.endpoint_id),
                 case when p.rate_limit is null then f.n
                      else floor(least(greatest(1.0, p.rate_limit * 1000.0 / p.rate_period_ms),
                                       coalesce(t.tokens, greatest(1.0, p.rate_limit * 1000.0 / p.rate_period_ms))
                                         + greatest(0, $2 - coalesce(t.counted_at, $2))
                                           * p.rate_limit::float8 / p.rate_period_ms))::bigint end) as n
    from unnest($1::text[], $5::bigint[]) as f(endpoint_id, n)
    join endpoints p on p.id = f.endpoint_id
    left join endpoint_tokens t on t.endpoint_id = p.id
    where endpoint_owner(p.id, $7, $4) = $4 and (p.disabled_at is null or p.deleted_at is not null)
      and (p.kind = 'webhook' or p.deleted_at is not null)
      and (p.breaker_state = 'closed' or p.breaker_until <= $2 or p.deleted_at is not null)
), picked as (
    select d.delivery_id from freed f
    cross join lateral (
        select delivery_id from delivery_queue d
        where d.state = 'pending' and d.endpoint_id = f.endpoint_id and d.next_attempt_at <= $2
        order by d.next_attempt_at, d.delivery_id
        limit greatest(f.n, 0)
        for update skip locked
    ) d
), ",
    take_picked!()
);

/// Claimed endpoints' delivery settings (`$1` their ids); `version` changes
/// with any change to the endpoint or its secrets.
const ENDPOINTS_SQL: &str = r"select p.id as endpoint_id, p.url, p.headers, p.semantics, p.ack_timeout_secs,
       (p.breaker_state = 'open' and p.breaker_until <= $2) as breaker_open, coalesce(rp.policy, p.retry_policy) as retry_policy,
       p.timeout_ms, (p.disabled_at is null and p.deleted_at is null) as active, p.max_in_flight,
       p.updated_at || '/' || coalesce((select string_agg(s.created_at || ':' || coalesce(s.expires_at::text, ''), ','
                                                          order by s.created_at)
                                        from endpoint_secrets s where s.endpoint_id = p.id), '') as version,
       p.transform
from endpoints p left join retry_policies rp on rp.id = p.retry_policy_id
where p.id = any($1)";

/// Which in-flight deliveries to settle.
enum InFlight {
    /// Those whose lease ends before this time (ms).
    LeaseBefore(i64),
    /// These claims.
    Claims(Vec<String>, Vec<i64>),
    /// Those this node holds.
    OwnedBy(String),
}

impl InFlight {
    fn of_claims(claims: &[(DeliveryId, ClaimToken)]) -> Self {
        InFlight::Claims(
            claims.iter().map(|(id, _)| id.text()).collect(),
            claims.iter().map(|(_, token)| token.0).collect(),
        )
    }

    /// A condition on `delivery_queue q` over the parameters `$1` and `$2`.
    fn condition(&self) -> &'static str {
        match self {
            // An inbox's leases (owner `inbox`) end by their visibility
            // timeout, as attempts (`inbox::expire_leases`), not here.
            InFlight::LeaseBefore(_) => {
                "q.state = 'in_flight' and q.lease_until < $1 and $2::bigint[] is null \
                 and q.lease_owner is distinct from 'inbox'"
            }
            InFlight::Claims(..) => {
                "q.state = 'in_flight' and (q.delivery_id, q.claim_token) in \
                 (select * from unnest($1::text[], $2::bigint[]))"
            }
            InFlight::OwnedBy(_) => {
                "q.state = 'in_flight' and q.lease_owner = $1 and $2::bigint[] is null"
            }
        }
    }

    fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        match self {
            InFlight::LeaseBefore(cutoff) => q.bind(*cutoff).bind(None::<Vec<i64>>),
            InFlight::Claims(ids, tokens) => q.bind(ids).bind(tokens),
            InFlight::OwnedBy(node) => q.bind(node).bind(None::<Vec<i64>>),
        }
    }

    fn bind_as<'q, O>(
        &'q self,
        q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        match self {
            InFlight::LeaseBefore(cutoff) => q.bind(*cutoff).bind(None::<Vec<i64>>),
            InFlight::Claims(ids, tokens) => q.bind(ids).bind(tokens),
            InFlight::OwnedBy(node) => q.bind(node).bind(None::<Vec<i64>>),
        }
    }
}

/// Puts the in-flight deliveries `selection` picks back in the queue, due at
/// `now_ms`; returns how many.
async fn requeue(conn: &mut PgConnection, selection: &InFlight, now_ms: i64) -> Result<u64> {
    let update = format!(
        r"update delivery_queue q set state = 'pending', lease_until = null, next_attempt_at = $3
          where {}",
        selection.condition()
    );
    let moved = selection
        .bind(sqlx::query(&update))
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(moved.rows_affected())
}

/// The in-flight deliveries `selection` picks, whose attempt's outcome nobody
/// knows: at-least-once ones are due again at `now_ms`; at-most-once ones may
/// have reached their receiver, so they end dead with a DLQ entry of class
/// `outcome_unknown`.
async fn settle_in_flight(
    conn: &mut PgConnection,
    selection: &InFlight,
    now_ms: i64,
    why: &str,
) -> Result<Settled> {
    let select = format!(
        r"select q.delivery_id, d.tenant_id, q.endpoint_id, d.event_id
          from delivery_queue q join delivery_records d on d.id = q.delivery_id
          where {}
            and q.endpoint_id in (select id from endpoints where semantics = 'at_most_once')
          for update of q skip locked",
        selection.condition()
    );
    let unknown: Vec<(String, String, String, String)> = selection
        .bind_as(sqlx::query_as(&select))
        .fetch_all(&mut *conn)
        .await?;
    let mut dead_lettered = 0;
    let mut ended = BTreeSet::new();
    for (delivery, tenant, endpoint, event) in &unknown {
        if let Some((.., Some(stream))) = end_live(conn, delivery, None, now_ms).await? {
            ended.insert((endpoint.clone(), stream));
        }
        let added = insert_dlq_entry(
            conn,
            (delivery, tenant, endpoint, event),
            &DeadLetter::outcome_unknown(why),
            now_ms,
        )
        .await?;
        dead_lettered += u64::from(added);
    }
    let requeued = requeue(conn, selection, now_ms).await?;
    streams::advance(conn, &ended, now_ms).await?;
    Ok(Settled {
        requeued,
        dead: unknown.len() as u64,
        dead_lettered,
    })
}

/// Ends a live delivery dead (off the queue, and so in its record), when
/// `claim` is given only if it is still in flight under that claim; returns
/// its tenant, endpoint, event and stream if it ended.
async fn end_live(
    conn: &mut PgConnection,
    delivery: &str,
    claim: Option<i64>,
    now_ms: i64,
) -> Result<Option<(String, String, String, Option<String>)>> {
    Ok(sqlx::query_as(
        r"with gone as (
              delete from delivery_queue
              where delivery_id = $2 and ($3::bigint is null or (state = 'in_flight' and claim_token = $3))
              returning delivery_id
          )
          update delivery_records d set state = 'dead', ack_timed_out = false, updated_at = $1
          from gone where d.id = gone.delivery_id
          returning d.tenant_id, d.endpoint_id, d.event_id, d.stream",
    )
    .bind(now_ms)
    .bind(delivery)
    .bind(claim)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The type of a stored event ("" if it is gone).
pub(super) async fn event_type_of(conn: &mut PgConnection, event: &str) -> Result<String> {
    let found: Option<String> = sqlx::query_scalar("select event_type from events where id = $1")
        .bind(event)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(found.unwrap_or_default())
}

/// Puts a dead delivery in the DLQ (or refreshes the entry it already has),
/// and counts the addition in the statistics in the same transaction; true
/// when a new entry was added.
pub(super) async fn insert_dlq_entry(
    conn: &mut PgConnection,
    (delivery, tenant, endpoint, event): (&str, &str, &str, &str),
    entry: &DeadLetter,
    now_ms: i64,
) -> Result<bool> {
    let (reason, last_attempt) = (&entry.reason, entry.last_attempt.as_deref());
    let class = entry.class.map(ErrorClass::as_str);
    let event_type = event_type_of(conn, event).await?;
    let added = sqlx::query(
        r"insert into dlq_entries (id, tenant_id, delivery_id, endpoint_id, event_id, reason, last_attempt_id, created_at,
                                   event_type, error_class, stream)
          values ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                  coalesce($10, (select error_class from attempts where id = $7)),
                  (select stream from delivery_records where id = $3))
          on conflict (delivery_id) do nothing",
    )
    .bind(DlqEntryId::new().text())
    .bind(tenant)
    .bind(delivery)
    .bind(endpoint)
    .bind(event)
    .bind(reason)
    .bind(last_attempt)
    .bind(now_ms)
    .bind(&event_type)
    .bind(class)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if added {
        let counts = Counts {
            dlq_added: 1,
            ..Counts::default()
        };
        add_stats(conn, (tenant, endpoint, &event_type), now_ms, &counts).await?;
    } else {
        sqlx::query(
            r"update dlq_entries set reason = $1, last_attempt_id = $2, created_at = $3,
                                     error_class = coalesce($4, (select error_class from attempts where id = $2))
              where delivery_id = $5",
        )
        .bind(reason)
        .bind(last_attempt)
        .bind(now_ms)
        .bind(class)
        .bind(delivery)
        .execute(&mut *conn)
        .await?;
    }
    Ok(added)
}

/// The oldest heartbeat (ms) of a node counted as alive at `now_ms`.
fn alive_since(now_ms: i64) -> i64 {
    now_ms - i64::try_from(crate::membership::ALIVE_WITHIN.as_millis()).unwrap_or(i64::MAX)
}

/// The settings of the endpoints `rows` were taken for. An endpoint whose
/// breaker is half-open (open, its probe time passed by `now_ms`; one that
/// opened since these were taken has a later probe time) gave its probe: no other delivery of it is claimed until
/// the probe's outcome moves the breaker on, or its lease (`probe_lease_ms`)
/// ends.
pub(super) async fn settings_of(
    conn: &mut PgConnection,
    rows: &[ClaimedRow],
    (now_ms, probe_lease_ms): (i64, i64),
) -> Result<Vec<ClaimedEndpoint>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut endpoint_ids: Vec<&str> = rows.iter().map(|r| r.endpoint_id.as_str()).collect();
    endpoint_ids.sort_unstable();
    endpoint_ids.dedup();
    let endpoints: Vec<ClaimedEndpoint> = sqlx::query_as(ENDPOINTS_SQL)
        .bind(&endpoint_ids)
        .bind(now_ms)
        .fetch_all(&mut *conn)
        .await?;
    let probing: Vec<&str> = endpoints
        .iter()
        .filter(|e| e.breaker_open)
        .map(|e| e.endpoint_id.as_str())
        .collect();
    if !probing.is_empty() {
        sqlx::query(
            "update endpoints set breaker_until = $1 where id = any($2) and breaker_state = 'open'",
        )
        .bind(probe_lease_ms)
        .bind(&probing)
        .execute(&mut *conn)
        .await?;
    }
    Ok(endpoints)
}

impl PostgresStore {
    async fn settle(
        &self,
        selection: InFlight,
        now: DateTime<Utc>,
        why: &'static str,
    ) -> Result<Settled> {
        let mut tx = self.pool().begin().await?;
        let settled = settle_in_flight(&mut tx, &selection, to_millis(now), why).await?;
        tx.commit().await?;
        Ok(settled)
    }
}

#[async_trait]
impl crate::store::DispatchStore for PostgresStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        per_endpoint: u32,
        ahead: u32,
    ) -> Result<Vec<Claimed>> {
        let now_ms = to_millis(now);
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Claiming ahead would let each node fill its own slots from rows it
        // holds: across nodes that is a limit per node, not per endpoint.
        let _ = ahead;
        let mut tx = self.pool().begin().await?;
        sqlx::query("select pg_advisory_xact_lock(hashtext($1))")
            .bind(&self.claim_lock)
            .execute(&mut *tx)
            .await?;
        let picked: Vec<String> = sqlx::query_scalar(PICK_SQL)
            .bind(now_ms)
            .bind(i64::from(limit))
            .bind(i64::from(per_endpoint))
            .bind(1_i64)
            .bind(&self.node)
            .bind(alive_since(now_ms))
            .fetch_all(&mut *tx)
            .await?;
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows: Vec<ClaimedRow> = sqlx::query_as(TAKE_SQL)
            .bind(&picked)
            .bind(now_ms)
            .bind(to_millis(lease_until))
            .bind(&self.node)
            .fetch_all(&mut *tx)
            .await?;
        spend_tokens(&mut tx, &rows, now_ms).await?;
        let endpoints = settings_of(&mut tx, &rows, (now_ms, to_millis(lease_until))).await?;
        tx.commit().await?;
        // The claim's order is the pick's (fair) order, not the due order.
        let position: std::collections::HashMap<&str, usize> = picked
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        rows.sort_by_key(|r| position.get(r.id.as_str()).copied());
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

    async fn reclaim_own(&self, now: DateTime<Utc>) -> Result<Settled> {
        self.settle(
            InFlight::OwnedBy(self.node.clone()),
            now,
            "this node restarted during an at-most-once attempt",
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
        let delivery = delivery.text();
        let mut tx = self.pool().begin().await?;
        let row = end_live(&mut tx, &delivery, Some(claim.0), now_ms).await?;
        let Some((tenant, endpoint, event, stream)) = row else {
            tracing::warn!(correlation_id = "dispatcher", %delivery, "not abandoning a delivery that is no longer held under this claim");
            return Ok(false);
        };
        insert_dlq_entry(
            &mut tx,
            (&delivery, &tenant, &endpoint, &event),
            &DeadLetter::abandoned(reason),
            now_ms,
        )
        .await?;
        if let Some(stream) = stream {
            streams::advance(&mut tx, &BTreeSet::from([(endpoint, stream)]), now_ms).await?;
        }
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

    async fn record_attempts(&self, batch: Vec<AttemptOutcome>) -> Result<Vec<Recorded>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let now_ms = to_millis(Utc::now());
        let mut tx = self.pool().begin().await?;
        let (recorded, _) = record_set(&mut tx, batch, now_ms).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    fn refills(&self) -> bool {
        true
    }

    async fn record_and_refill(
        &self,
        batch: Vec<AttemptOutcome>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        per_endpoint: u32,
    ) -> Result<(Vec<Recorded>, Vec<Claimed>)> {
        if batch.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let now_ms = to_millis(now);
        let mut tx = self.pool().begin().await?;
        let (recorded, freed) = record_set(&mut tx, batch, now_ms).await?;
        let rows: Vec<ClaimedRow> = if freed.is_empty() {
            Vec::new()
        } else {
            let (endpoints, counts): (Vec<String>, Vec<i64>) = freed.into_iter().unzip();
            sqlx::query_as(REFILL_SQL)
                .bind(&endpoints)
                .bind(now_ms)
                .bind(to_millis(lease_until))
                .bind(&self.node)
                .bind(&counts)
                .bind(i64::from(per_endpoint))
                .bind(alive_since(now_ms))
                .fetch_all(&mut *tx)
                .await?
        };
        spend_tokens(&mut tx, &rows, now_ms).await?;
        let endpoints = settings_of(&mut tx, &rows, (now_ms, to_millis(lease_until))).await?;
        tx.commit().await?;
        if rows.is_empty() {
            return Ok((recorded, Vec::new()));
        }
        Ok((recorded, self.claimed(&rows, &endpoints, now_ms).await?))
    }

    async fn advance_stalled_streams(
        &self,
        endpoint: Option<EndpointId>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let endpoint = endpoint.map(|e| e.text());
        let stalled = streams::stalled(&mut tx, endpoint.as_deref()).await?;
        let armed = streams::advance(&mut tx, &stalled, to_millis(now)).await?;
        tx.commit().await?;
        Ok(armed)
    }

    async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = sqlx::query_scalar(
            "select min(next_attempt_at) from delivery_queue where state = 'pending'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(at.map(from_millis))
    }
}
