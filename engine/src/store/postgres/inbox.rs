//! PostgreSQL: pull inboxes' leases. A lease is a row of the queue held
//! `in_flight` by the owner `inbox` (no node: a node's restart or death
//! does not end it; its visibility timeout does), with `next_attempt_at`
//! holding when it began. Consumers pulling at once skip each other's rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::dispatch::settings_of;
use super::endpoint_cache::ClaimedRow;
use crate::Result;
use crate::model::{DeliveryId, EndpointId, InboxOut, TenantId};
use crate::store::{Claimed, PostgresStore, from_millis, to_millis};

/// The columns a lease is returned with, as a claim's (`ClaimedRow`), and
/// when it began; `h` is the queue's rows, `d` the records, `e` the events.
const LEASED_COLUMNS: &str = r"h.delivery_id as id, h.claim_token, d.tenant_id, d.event_id, d.endpoint_id, d.attempts,
       d.attempts - d.chain_base as chain_attempts, d.first_attempt_at, d.chain_trigger, d.chain_reason,
       e.event_type, e.payload, e.correlation_id, e.test, d.ack_timed_out, h.next_attempt_at as leased_at,
       null::text as replay_transform";

/// Leases the inbox's (`$1`) messages due by `$2` until `$3`, at most `$4`,
/// earliest due first; rows other consumers hold locked are skipped.
fn lease_sql() -> String {
    format!(
        r"with picked as (
    select delivery_id from delivery_queue
    where endpoint_id = $1 and state = 'pending' and next_attempt_at <= $2
    order by next_attempt_at, delivery_id
    limit $4
    for update skip locked
), h as (
    update delivery_queue q
    set state = 'in_flight', lease_until = $3, lease_owner = 'inbox', next_attempt_at = $2,
        claim_token = nextval('delivery_claims')
    from picked where q.delivery_id = picked.delivery_id
    returning q.delivery_id, q.claim_token, q.next_attempt_at
)
select {LEASED_COLUMNS}
from h join delivery_records d on d.id = h.delivery_id join events e on e.id = d.event_id
order by d.id"
    )
}

#[derive(sqlx::FromRow)]
struct LeasedRow {
    #[sqlx(flatten)]
    claimed: ClaimedRow,
    leased_at: i64,
}

impl PostgresStore {
    async fn leases(
        &self,
        tx: &mut sqlx::PgConnection,
        rows: Vec<LeasedRow>,
        now_ms: i64,
    ) -> Result<Vec<(Claimed, DateTime<Utc>)>> {
        let began: Vec<i64> = rows.iter().map(|r| r.leased_at).collect();
        let rows: Vec<ClaimedRow> = rows.into_iter().map(|r| r.claimed).collect();
        let endpoints = settings_of(tx, &rows, (now_ms, now_ms)).await?;
        let claimed = self.claimed(&rows, &endpoints, now_ms).await?;
        Ok(claimed
            .into_iter()
            .zip(began.into_iter().map(from_millis))
            .collect())
    }
}

#[async_trait]
impl crate::store::InboxStore for PostgresStore {
    async fn lease_inbox(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        consumer: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        let now_ms = to_millis(now);
        let mut tx = self.pool().begin().await?;
        let rows: Vec<LeasedRow> = sqlx::query_as(&lease_sql())
            .bind(endpoint.to_string())
            .bind(now_ms)
            .bind(to_millis(until))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query(
            r"insert into inbox_consumers (endpoint_id, consumer, tenant_id, first_pull_at, last_pull_at, pulls, leased)
              values ($1, $2, $3, $4, $4, 1, $5)
              on conflict (endpoint_id, consumer) do update
              set last_pull_at = excluded.last_pull_at, pulls = inbox_consumers.pulls + 1,
                  leased = inbox_consumers.leased + excluded.leased",
        )
        .bind(endpoint.to_string())
        .bind(consumer)
        .bind(tenant.to_string())
        .bind(now_ms)
        .bind(rows.len() as i64)
        .execute(&mut *tx)
        .await?;
        let leases = self.leases(&mut tx, rows, now_ms).await?;
        tx.commit().await?;
        Ok(leases.into_iter().map(|(c, _)| c).collect())
    }

    async fn inbox_leases(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        ids: &[DeliveryId],
    ) -> Result<Vec<(Claimed, DateTime<Utc>)>> {
        let now_ms = to_millis(Utc::now());
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let mut conn = self.pool().acquire().await?;
        let rows: Vec<LeasedRow> = sqlx::query_as(&format!(
            r"select {LEASED_COLUMNS}
              from delivery_queue h join delivery_records d on d.id = h.delivery_id
              join events e on e.id = d.event_id
              where h.delivery_id = any($1) and h.endpoint_id = $2 and d.tenant_id = $3
                and h.state = 'in_flight' and h.lease_owner = 'inbox'"
        ))
        .bind(&ids)
        .bind(endpoint.to_string())
        .bind(tenant.to_string())
        .fetch_all(&mut *conn)
        .await?;
        self.leases(&mut conn, rows, now_ms).await
    }

    async fn expired_inbox_leases(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Claimed, DateTime<Utc>)>> {
        let now_ms = to_millis(now);
        let mut conn = self.pool().acquire().await?;
        let rows: Vec<LeasedRow> = sqlx::query_as(&format!(
            r"select {LEASED_COLUMNS}
              from delivery_queue h join delivery_records d on d.id = h.delivery_id
              join events e on e.id = d.event_id
              where h.state = 'in_flight' and h.lease_owner = 'inbox' and h.lease_until < $1
              limit $2"
        ))
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        self.leases(&mut conn, rows, now_ms).await
    }

    async fn inbox_state(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        now: DateTime<Utc>,
    ) -> Result<InboxOut> {
        self.read_inbox_state(tenant, endpoint, now).await
    }
}
