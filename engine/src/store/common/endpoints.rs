//! SQLite: endpoints, their secrets and headers.

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};

use super::Db;
use chrono::{DateTime, Utc};

use super::audit::{commit_audited, insert_audit};
use super::{id_page, row_by_id};
use crate::model::{EndpointId, EndpointOut, Page, Semantics, TenantId};
use crate::sign::Secret;
use crate::store::convert::json_text;
use crate::store::rows::EndpointRow;
use crate::store::sql::ENDPOINT_COLUMNS;
use crate::store::{AuditWith, NewAudit, NewEndpoint, stored_id, to_millis};
use crate::vault::Purpose;
use crate::{EngineError, Result};

use super::This;

/// An endpoint's backlog as counted: id, pending, retrying, in flight,
/// dead, waiting in a stream and awaiting acknowledgement.
type BacklogRow = (String, i64, i64, i64, i64, i64, i64);

/// A limited endpoint's bucket as read: id, limit, period, tokens, when
/// they were counted, and whether work is due for it.
type RateRow = (
    String,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    Option<i64>,
    bool,
);

/// Ids as a JSON array, for `in (IDS_OF_JSON_1)` (the backend's way to list them).
pub(super) fn id_list<T: ToString>(ids: &[T]) -> String {
    serde_json::Value::from(ids.iter().map(ToString::to_string).collect::<Vec<_>>()).to_string()
}

/// Refuses a named retry policy the tenant does not have.
async fn named_policy_exists(
    tx: &mut sqlx::Transaction<'_, Db>,
    tenant: TenantId,
    policy: crate::model::RetryPolicyId,
) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar(
        "select cast(1 as bigint) from retry_policies where id = $1 and tenant_id = $2",
    )
    .bind(policy.to_string())
    .bind(tenant.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(EngineError::not_found("retry policy", policy)),
    }
}

#[async_trait]
impl crate::store::EndpointStore for This {
    async fn create_endpoint(
        &self,
        tenant: TenantId,
        e: NewEndpoint,
        audit: &NewAudit,
    ) -> Result<EndpointOut> {
        let id = e.id;
        let now = to_millis(Utc::now());
        let mut tx = self.pool().begin().await?;
        if let Some(policy) = e.retry_policy_id {
            named_policy_exists(&mut tx, tenant, policy).await?;
        }
        sqlx::query(
            r"insert into endpoints (id, tenant_id, url, description, event_types, headers, semantics,
                                     retry_policy, timeout_ms, created_at, updated_at, retry_policy_id, max_in_flight,
                                     ordering, on_dead, rate_limit, rate_period_ms, ack_timeout_secs, breaker_settings, kind, name,
                                     filter, transform)
              values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(&e.url)
        .bind(&e.description)
        .bind(json_text(&e.event_types)?)
        .bind(self.seal_headers(&e.headers)?)
        .bind(e.semantics.as_str())
        .bind(json_text(&e.retry_policy)?)
        .bind(i64::from(e.timeout_ms))
        .bind(now)
        .bind(e.retry_policy_id.map(|p| p.to_string()))
        .bind(e.max_in_flight.map(i64::from))
        .bind(e.ordering.as_str())
        .bind(e.on_dead.as_str())
        .bind(e.rate_limit.map(|l| i64::from(l.limit)))
        .bind(e.rate_limit.map(|l| l.per.period_ms()))
        .bind(i64::from(e.ack_timeout_secs))
        .bind(e.circuit_breaker.as_ref().map(json_text).transpose()?)
        .bind(e.kind.as_str())
        .bind(&e.name)
        .bind(e.filter.as_ref().map(json_text).transpose()?)
        .bind(&e.transform)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into endpoint_secrets (endpoint_id, secret, created_at) values ($1, $2, $3)",
        )
        .bind(id.to_string())
        .bind(self.seal_secret(&e.secret))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.get_endpoint(tenant, id)
            .await?
            .ok_or_else(|| EngineError::Internal("endpoint vanished after insert".into()))
    }

    async fn get_endpoint(&self, tenant: TenantId, id: EndpointId) -> Result<Option<EndpointOut>> {
        let sql = format!(
            "select {ENDPOINT_COLUMNS} from endpoints where tenant_id = $1 and id = $2 and deleted_at is null"
        );
        row_by_id::<EndpointRow>(self.reader(), &sql, tenant, id)
            .await?
            .map(EndpointOut::try_from)
            .transpose()
    }

    async fn list_endpoints(
        &self,
        tenant: TenantId,
        after: Option<EndpointId>,
        limit: u32,
    ) -> Result<Page<EndpointOut>> {
        let sql = format!(
            "select {ENDPOINT_COLUMNS} from endpoints
             where tenant_id = $1 and deleted_at is null and id > $2 order by id limit $3"
        );
        id_page::<EndpointRow, _>(
            self.reader(),
            &sql,
            Some(tenant),
            after.map(|a| a.to_string()),
            limit,
            |e: &EndpointOut| e.id.to_string(),
        )
        .await
    }

    async fn update_endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
        patch: crate::model::EndpointPatch,
        audit: &NewAudit,
    ) -> Result<Option<EndpointOut>> {
        let mut tx = self.pool().begin().await?;
        if let Some(policy) = patch.retry_policy_id {
            named_policy_exists(&mut tx, tenant, policy).await?;
        }
        // Each column keeps its value where the patch leaves the field out. An
        // inline policy ends following a named one; a named one starts it.
        let done = sqlx::query(
            r"update endpoints set
                  url = coalesce($1, url),
                  event_types = coalesce($2, event_types),
                  description = coalesce($3, description),
                  headers = coalesce($4, headers),
                  semantics = coalesce($5, semantics),
                  retry_policy = coalesce($6, retry_policy),
                  timeout_ms = coalesce($7, timeout_ms),
                  updated_at = $8,
                  retry_policy_id = case when $6 is not null then null else coalesce($11, retry_policy_id) end,
                  max_in_flight = coalesce($12, max_in_flight),
                  ordering = coalesce($13, ordering),
                  on_dead = coalesce($14, on_dead),
                  rate_limit = case when $15 then $16 else rate_limit end,
                  rate_period_ms = case when $15 then $17 else rate_period_ms end,
                  ack_timeout_secs = coalesce($18, ack_timeout_secs),
                  breaker_settings = case when $19 is null then breaker_settings else $19 end,
                  breaker_state = case when $19 is null then breaker_state else 'closed' end,
                  breaker_until = case when $19 is null then breaker_until end,
                  breaker_opened_at = case when $19 is null then breaker_opened_at end,
                  breaker_trips = case when $19 is null then breaker_trips else 0 end,
                  breaker_failing_since = case when $19 is null then breaker_failing_since end,
                  name = coalesce($20, name),
                  filter = case when $21 then $22 else filter end,
                  transform = case when $23 then $24 else transform end
              where tenant_id = $9 and id = $10 and deleted_at is null",
        )
        .bind(&patch.url)
        .bind(patch.event_types.as_ref().map(json_text).transpose()?)
        .bind(&patch.description)
        .bind(
            patch
                .headers
                .as_ref()
                .map(|h| self.seal_headers(h))
                .transpose()?,
        )
        .bind(patch.semantics.map(Semantics::as_str))
        .bind(patch.retry_policy.as_ref().map(json_text).transpose()?)
        .bind(patch.timeout_ms.map(i64::from))
        .bind(to_millis(Utc::now()))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(patch.retry_policy_id.map(|p| p.to_string()))
        .bind(patch.max_in_flight.map(i64::from))
        .bind(patch.ordering.map(crate::model::OrderingMode::as_str))
        .bind(patch.on_dead.map(crate::model::OnDead::as_str))
        .bind(patch.rate_limit.is_some())
        .bind(patch.rate_limit.flatten().map(|l| i64::from(l.limit)))
        .bind(patch.rate_limit.flatten().map(|l| l.per.period_ms()))
        .bind(patch.ack_timeout_secs.map(i64::from))
        .bind(patch.circuit_breaker.as_ref().map(json_text).transpose()?)
        .bind(patch.name.as_deref().map(str::trim))
        .bind(patch.filter.is_some())
        .bind(patch.filter.flatten().as_ref().map(json_text).transpose()?)
        .bind(patch.transform.is_some())
        .bind(patch.transform.clone().flatten())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.get_endpoint(tenant, id).await
    }

    async fn endpoint_backlog(
        &self,
        tenant: TenantId,
        endpoints: &[EndpointId],
    ) -> Result<HashMap<EndpointId, crate::model::EndpointBacklog>> {
        // deliveries_endpoint_idx (endpoint_id, state) leaves out succeeded
        // rows, the bulk of the table; the condition matches its own.
        let sql = format!(
            r"select d.endpoint_id,
                     count(*) filter (where d.live_state = 'pending' and d.attempts = 0
                                            and d.next_attempt_at is not null),
                     count(*) filter (where d.live_state = 'pending' and d.attempts > 0
                                            and d.next_attempt_at is not null),
                     count(*) filter (where d.live_state = 'in_flight'),
                     count(*) filter (where d.live_state = 'dead'),
                     count(*) filter (where d.live_state = 'pending' and d.next_attempt_at is null),
                     count(*) filter (where d.live_state = 'awaiting_ack')
              from {}
              where d.endpoint_id in ({})
                and d.state <> 'succeeded' and d.tenant_id = $2
              group by d.endpoint_id",
            super::LIVE_DELIVERIES,
            super::IDS_OF_JSON_1
        );
        let rows: Vec<BacklogRow> = sqlx::query_as(&sql)
            .bind(id_list(endpoints))
            .bind(tenant.to_string())
            .fetch_all(self.reader())
            .await?;
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        let mut backlog = rows
            .into_iter()
            .map(
                |(id, pending, retrying, in_flight, dead, waiting, awaiting_ack)| {
                    Ok((
                        stored_id(&id)?,
                        crate::model::EndpointBacklog {
                            pending: count(pending),
                            retrying: count(retrying),
                            in_flight: count(in_flight),
                            dead: count(dead),
                            waiting: count(waiting),
                            awaiting_ack: count(awaiting_ack),
                            throttled: false,
                        },
                    ))
                },
            )
            .collect::<Result<HashMap<EndpointId, crate::model::EndpointBacklog>>>()?;
        // Throttled: work is due and its bucket holds not one whole token.
        let sql = format!(
            r"select p.id, p.rate_limit, p.rate_period_ms, t.tokens, t.counted_at,
                     exists (select 1 from {queue} d where d.endpoint_id = p.id and d.state = 'pending'
                                                      and d.next_attempt_at <= $2)
              from endpoints p left join endpoint_tokens t on t.endpoint_id = p.id
              where p.id in ({ids}) and p.rate_limit is not null and p.tenant_id = $3",
            queue = super::DELIVERY_QUEUE,
            ids = super::IDS_OF_JSON_1
        );
        let now = to_millis(Utc::now());
        let limited: Vec<RateRow> = sqlx::query_as(&sql)
            .bind(id_list(endpoints))
            .bind(now)
            .bind(tenant.to_string())
            .fetch_all(self.reader())
            .await?;
        for (id, limit, period, tokens, counted_at, due) in limited {
            let Some(limit) = crate::store::rows::rate_limit_of(limit, period) else {
                continue;
            };
            let counted = tokens.zip(counted_at);
            if due
                && limit.available(counted, now) < 1.0
                && let Some(b) = backlog.get_mut(&stored_id::<EndpointId>(&id)?)
            {
                b.throttled = true;
            }
        }
        Ok(backlog)
    }

    async fn blocked_streams(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        limit: u32,
    ) -> Result<Vec<crate::model::BlockedStream>> {
        // A live delivery of a stream waits exactly when it has no due time.
        let sql = format!(
            r"select x.stream, x.id, x.delivery_id, x.event_id,
                     (select count(*) from {queue} w
                      where w.endpoint_id = x.endpoint_id and w.stream = x.stream
                        and w.state <> 'succeeded' and w.state <> 'dead' and w.next_attempt_at is null)
              from dlq_entries x join endpoints p on p.id = x.endpoint_id
              where x.tenant_id = $1 and x.endpoint_id = $2 and x.stream is not null and p.on_dead = 'block'
              order by x.id limit $3",
            queue = super::DELIVERY_QUEUE
        );
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(&sql)
            .bind(tenant.to_string())
            .bind(endpoint.to_string())
            .bind(i64::from(limit))
            .fetch_all(self.reader())
            .await?;
        rows.into_iter()
            .map(|(stream, entry, delivery, event, waiting)| {
                Ok(crate::model::BlockedStream {
                    stream,
                    dlq_entry_id: stored_id(&entry)?,
                    delivery_id: stored_id(&delivery)?,
                    event_id: stored_id(&event)?,
                    waiting: u32::try_from(waiting).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    async fn delete_endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "update endpoints set deleted_at = $1, updated_at = $1
             where tenant_id = $2 and id = $3 and deleted_at is null",
        )
        .bind(to_millis(Utc::now()))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        commit_audited(tx, done.rows_affected() > 0, Some(audit)).await
    }

    async fn set_endpoint_enabled(
        &self,
        tenant: TenantId,
        id: EndpointId,
        enabled: bool,
        reason: Option<&str>,
        audit: Option<&NewAudit>,
    ) -> Result<bool> {
        let now = to_millis(Utc::now());
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            // Enabled again, it starts with its breaker closed.
            "update endpoints set disabled_at = $1, disabled_reason = $2, updated_at = $3,
                                  breaker_state = case when $1 is null then 'closed' else breaker_state end,
                                  breaker_until = case when $1 is null then null else breaker_until end,
                                  breaker_trips = case when $1 is null then 0 else breaker_trips end,
                                  breaker_failing_since = case when $1 is null then null else breaker_failing_since end
             where tenant_id = $4 and id = $5 and deleted_at is null",
        )
        .bind(if enabled { None } else { Some(now) })
        .bind(if enabled { None } else { reason })
        .bind(now)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        commit_audited(tx, done.rows_affected() > 0, audit).await
    }

    async fn discard_backlog(
        &self,
        tenant: TenantId,
        id: EndpointId,
        audit: &crate::store::AuditWith<'_, u64>,
    ) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let ended = sqlx::query(
            r"update deliveries set state = 'dead', next_attempt_at = null, updated_at = $1
              where endpoint_id = $2 and tenant_id = $3 and state = 'pending'",
        )
        .bind(to_millis(Utc::now()))
        .bind(id.to_string())
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if let Some(entry) = audit(&ended) {
            insert_audit(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    async fn rotate_secret(
        &self,
        tenant: TenantId,
        id: EndpointId,
        secret: Secret,
        old_valid_until: DateTime<Utc>,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let now = to_millis(Utc::now());
        let touched = sqlx::query(
            "update endpoints set updated_at = $1 where tenant_id = $2 and id = $3 and deleted_at is null",
        )
        .bind(now)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if touched.rows_affected() == 0 {
            return Ok(false);
        }
        // Every older secret stops at the earlier of its own expiry and this
        // grace period's end: an emergency rotation (no grace) retires them all.
        sqlx::query(
            r"update endpoint_secrets set expires_at = $1
              where endpoint_id = $2 and (expires_at is null or expires_at > $1)",
        )
        .bind(to_millis(old_valid_until))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        // created_at orders the secrets (newest signs first) and is part of the
        // key, so a second rotation within the same millisecond moves one on.
        let newest: Option<i64> = sqlx::query_scalar(
            "select max(created_at) from endpoint_secrets where endpoint_id = $1",
        )
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "insert into endpoint_secrets (endpoint_id, secret, created_at) values ($1, $2, $3)",
        )
        .bind(id.to_string())
        .bind(self.seal_secret(&secret))
        .bind(newest.map_or(now, |n| n.max(now - 1) + 1))
        .execute(&mut *tx)
        .await?;
        commit_audited(tx, true, Some(audit)).await
    }

    async fn reseal_secrets(&self, audit: &AuditWith<'_, u64>) -> Result<u64> {
        let vault = self.vault();
        let mut tx = self.pool().begin().await?;
        let mut changed = 0u64;

        let secrets: Vec<(String, i64, String)> =
            sqlx::query_as("select endpoint_id, created_at, secret from endpoint_secrets")
                .fetch_all(&mut *tx)
                .await?;
        for (endpoint, created_at, stored) in secrets {
            if vault.is_current(&stored) {
                continue;
            }
            let plain = vault.open(Purpose::EndpointSecret, &stored)?;
            sqlx::query(
                "update endpoint_secrets set secret = $1 where endpoint_id = $2 and created_at = $3",
            )
            .bind(vault.seal(Purpose::EndpointSecret, &plain))
            .bind(&endpoint)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
            changed += 1;
        }

        let endpoints: Vec<(String, String)> =
            sqlx::query_as("select id, headers from endpoints where headers <> '{}'")
                .fetch_all(&mut *tx)
                .await?;
        for (id, stored) in endpoints {
            let sealed: BTreeMap<String, String> = serde_json::from_str(&stored)
                .map_err(|e| EngineError::Internal(format!("corrupt endpoint headers: {e}")))?;
            let stale = sealed.values().filter(|v| !vault.is_current(v)).count();
            if stale == 0 {
                continue;
            }
            let headers = self.open_headers(&stored)?;
            sqlx::query("update endpoints set headers = $1 where id = $2")
                .bind(self.seal_headers(&headers)?)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            changed += stale as u64;
        }
        if let Some(entry) = audit(&changed) {
            insert_audit(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
