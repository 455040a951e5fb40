//! SQLite: pull inboxes' leases, on the hot writer (the receipts' writer,
//! so a lease, its settlement and its expiry never interleave).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::claim::{endpoint_settings, read_claimed};
use super::endpoint_cache::{ClaimedEndpoint, ClaimedRow};
use crate::Result;
use crate::model::{DeliveryId, EndpointId, InboxOut, TenantId};
use crate::store::{Claimed, SqliteStore, from_millis, to_millis};

/// Leases, each with when it began, and the endpoint settings they need.
type Leases = (Vec<(ClaimedRow, i64)>, Vec<ClaimedEndpoint>);

/// Marks the delivery at `rowid` leased until `until_ms` from `now_ms`
/// (`next_attempt_at` holds when the lease began).
const LEASE_SQL: &str = r"update deliveries set state = 'in_flight', lease_until = ?2, next_attempt_at = ?3,
                              updated_at = ?3, claim_token = claim_token + 1
                          where rowid = ?1";

fn lease(
    tx: &Connection,
    (tenant, endpoint, consumer): (&str, &str, &str),
    (now_ms, until_ms): (i64, i64),
    limit: u32,
) -> Result<Leases> {
    let rowids = tx
        .prepare_cached(
            r"select rowid from deliveries indexed by deliveries_endpoint_due_idx
              where state = 'pending' and endpoint_id = ?1 and next_attempt_at <= ?2
              order by next_attempt_at, rowid limit ?3",
        )?
        .query_map(params![endpoint, now_ms, i64::from(limit)], |r| {
            r.get::<_, i64>(0)
        })?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    let mut hold = tx.prepare_cached(LEASE_SQL)?;
    let mut rows = Vec::with_capacity(rowids.len());
    for rowid in rowids {
        hold.execute(params![rowid, until_ms, now_ms])?;
        rows.push((read_claimed(tx, rowid, tenant, endpoint)?, now_ms));
    }
    tx.prepare_cached(
        r"insert into inbox_consumers (endpoint_id, consumer, tenant_id, first_pull_at, last_pull_at, pulls, leased)
          values (?1, ?2, ?3, ?4, ?4, 1, ?5)
          on conflict (endpoint_id, consumer) do update
          set last_pull_at = excluded.last_pull_at, pulls = pulls + 1, leased = leased + excluded.leased",
    )?
    .execute(params![endpoint, consumer, tenant, now_ms, rows.len() as i64])?;
    let endpoints = if rows.is_empty() {
        Vec::new()
    } else {
        vec![endpoint_settings(tx, endpoint, now_ms)?]
    };
    Ok((rows, endpoints))
}

fn leased(
    tx: &Connection,
    (tenant, endpoint): (&str, &str),
    ids: &[String],
    now_ms: i64,
) -> Result<Leases> {
    let mut find = tx.prepare_cached(
        r"select rowid, next_attempt_at from deliveries
          where id = ?1 and endpoint_id = ?2 and tenant_id = ?3 and state = 'in_flight'",
    )?;
    let mut rows = Vec::new();
    for id in ids {
        let found: Option<(i64, i64)> = find
            .query_row(params![id, endpoint, tenant], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((rowid, leased_at)) = found {
            rows.push((read_claimed(tx, rowid, tenant, endpoint)?, leased_at));
        }
    }
    let endpoints = if rows.is_empty() {
        Vec::new()
    } else {
        vec![endpoint_settings(tx, endpoint, now_ms)?]
    };
    Ok((rows, endpoints))
}

fn expired(tx: &Connection, now_ms: i64, limit: u32) -> Result<Leases> {
    let inboxes = tx
        .prepare_cached("select id, tenant_id from endpoints where kind = 'inbox'")?
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut find = tx.prepare_cached(
        r"select rowid, next_attempt_at from deliveries indexed by deliveries_lease_idx
          where state = 'in_flight' and endpoint_id = ?1 and lease_until < ?2 limit ?3",
    )?;
    let (mut rows, mut endpoints) = (Vec::new(), Vec::new());
    for (endpoint, tenant) in inboxes {
        let left = i64::from(limit) - rows.len() as i64;
        if left <= 0 {
            break;
        }
        let found = find
            .query_map(params![endpoint, now_ms, left], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if found.is_empty() {
            continue;
        }
        for (rowid, leased_at) in found {
            rows.push((read_claimed(tx, rowid, &tenant, &endpoint)?, leased_at));
        }
        endpoints.push(endpoint_settings(tx, &endpoint, now_ms)?);
    }
    Ok((rows, endpoints))
}

impl SqliteStore {
    /// The leases as the dispatcher's claims are returned, each with when it began.
    async fn leases(
        &self,
        (rows, endpoints): Leases,
        now_ms: i64,
    ) -> Result<Vec<(Claimed, DateTime<Utc>)>> {
        let began: Vec<i64> = rows.iter().map(|(_, at)| *at).collect();
        let rows: Vec<ClaimedRow> = rows.into_iter().map(|(r, _)| r).collect();
        let claimed = self.claimed(&rows, &endpoints, now_ms).await?;
        Ok(claimed
            .into_iter()
            .zip(began.into_iter().map(from_millis))
            .collect())
    }
}

#[async_trait]
impl crate::store::InboxStore for SqliteStore {
    async fn lease_inbox(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        consumer: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        let (now_ms, until_ms) = (to_millis(now), to_millis(until));
        let (tenant, endpoint, consumer) = (
            tenant.to_string(),
            endpoint.to_string(),
            consumer.to_owned(),
        );
        let leases = self
            .hot
            .run(self.pool(), move |tx| {
                lease(
                    tx,
                    (&tenant, &endpoint, &consumer),
                    (now_ms, until_ms),
                    limit,
                )
            })
            .await?;
        Ok(self
            .leases(leases, now_ms)
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .collect())
    }

    async fn inbox_leases(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        ids: &[DeliveryId],
    ) -> Result<Vec<(Claimed, DateTime<Utc>)>> {
        let now_ms = to_millis(Utc::now());
        let (tenant, endpoint) = (tenant.to_string(), endpoint.to_string());
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let leases = self
            .hot
            .run(self.pool(), move |tx| {
                leased(tx, (&tenant, &endpoint), &ids, now_ms)
            })
            .await?;
        self.leases(leases, now_ms).await
    }

    async fn expired_inbox_leases(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Claimed, DateTime<Utc>)>> {
        let now_ms = to_millis(now);
        let leases = self
            .hot
            .run(self.pool(), move |tx| expired(tx, now_ms, limit))
            .await?;
        self.leases(leases, now_ms).await
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
