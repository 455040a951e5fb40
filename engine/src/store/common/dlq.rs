//! SQLite: the dead-letter queue — listing, inspecting, reprocessing and
//! discarding entries, each change recorded with who made it and why.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::Db;
use super::DbConnection;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::This;
use super::audit::{commit_audited, insert_audit};
use super::stats::count_dlq_removal;
use super::{Conditions, row_by_id};
use crate::model::DlqQuery;
use crate::model::{
    ActionId, DlqDetail, DlqEntryId, DlqEntryOut, Page, ReprocessOut, SkippedEntry, TenantId,
};
use crate::store::rows::DlqEntryRow;
use crate::store::sql::{DLQ_ENTRY_SELECT, REARM_DELIVERY};
use crate::store::{Actor, NewAudit, REPROCESS_BATCH, page_of, stored_id, to_millis};
use crate::store::{AuditWith, EventStore};
use crate::{EngineError, Result};

pub(super) async fn record_action(
    conn: &mut DbConnection,
    (tenant, delivery): (&str, &str),
    action: &str,
    actor: &Actor,
    reason: &str,
    replay: Option<&str>,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        r"insert into delivery_actions (id, tenant_id, delivery_id, action, actor, reason, replay_id, created_at)
          values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ActionId::new().to_string())
    .bind(tenant)
    .bind(delivery)
    .bind(action)
    .bind(&actor.0)
    .bind(reason)
    .bind(replay)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn push_filter(q: &mut QueryBuilder<'_, Db>, tenant: TenantId, filter: &DlqQuery) {
    q.push(" where q.tenant_id = ")
        .push_bind(tenant.to_string());
    Conditions(q)
        .eq("q.endpoint_id", filter.endpoint_id.map(|e| e.to_string()))
        .eq("q.event_type", filter.event_type.clone())
        .eq("q.error_class", filter.error_class.map(|c| c.as_str()))
        .between("q.created_at", filter.from, filter.to)
        .before("q.id", filter.cursor);
}

#[async_trait]
impl crate::store::DlqStore for This {
    async fn list_dlq(
        &self,
        tenant: TenantId,
        filter: &DlqQuery,
        limit: u32,
    ) -> Result<Page<DlqEntryOut>> {
        let mut q = QueryBuilder::<Db>::new(DLQ_ENTRY_SELECT);
        push_filter(&mut q, tenant, filter);
        q.push(" order by q.id desc limit ")
            .push_bind(i64::from(limit) + 1);
        let rows = q
            .build_query_as::<DlqEntryRow>()
            .fetch_all(self.reader())
            .await?;
        let items = rows
            .into_iter()
            .map(DlqEntryOut::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, limit, |e| e.id.to_string()))
    }

    async fn dlq_count(&self, tenant: TenantId, filter: &DlqQuery) -> Result<u64> {
        let mut q = QueryBuilder::<Db>::new("select count(*) from dlq_entries q");
        push_filter(&mut q, tenant, filter);
        let n: i64 = q.build_query_scalar().fetch_one(self.reader()).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn dlq_entry(&self, tenant: TenantId, id: DlqEntryId) -> Result<Option<DlqDetail>> {
        let sql = format!("{DLQ_ENTRY_SELECT} where q.tenant_id = $1 and q.id = $2");
        let Some(row) = row_by_id::<DlqEntryRow>(self.reader(), &sql, tenant, id).await? else {
            return Ok(None);
        };
        let entry = DlqEntryOut::try_from(row)?;
        let detail = self
            .event_detail(tenant, entry.event_id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("DLQ entry {id} lost its event")))?;
        let delivery = detail
            .deliveries
            .into_iter()
            .find(|d| d.id == entry.delivery_id)
            .ok_or_else(|| EngineError::Internal(format!("DLQ entry {id} lost its delivery")))?;
        Ok(Some(DlqDetail {
            entry,
            event: detail.event,
            delivery,
        }))
    }

    /// Up to `limit` entry ids matching `filter`, newest first (bulk reprocess).
    async fn dlq_ids(
        &self,
        tenant: TenantId,
        filter: &DlqQuery,
        limit: u32,
    ) -> Result<Vec<DlqEntryId>> {
        let mut q = QueryBuilder::<Db>::new("select q.id from dlq_entries q");
        push_filter(&mut q, tenant, filter);
        q.push(" order by q.id desc limit ")
            .push_bind(i64::from(limit));
        let ids: Vec<String> = q.build_query_scalar().fetch_all(self.reader()).await?;
        ids.iter().map(|id| stored_id(id)).collect()
    }

    async fn reprocess_dlq(
        &self,
        tenant: TenantId,
        ids: &[DlqEntryId],
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, ReprocessOut>,
    ) -> Result<ReprocessOut> {
        let now_ms = to_millis(now);
        let tenant_text = tenant.to_string();
        let mut out = ReprocessOut::default();
        let mut streams = BTreeSet::new();
        let mut tx = self.pool().begin().await?;
        for id in ids.iter().take(REPROCESS_BATCH) {
            let found: Option<(String, bool)> = sqlx::query_as(
                r"select q.delivery_id, (p.disabled_at is null and p.deleted_at is null)
                  from dlq_entries q join endpoints p on p.id = q.endpoint_id
                  where q.tenant_id = $1 and q.id = $2",
            )
            .bind(&tenant_text)
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            let skip = match &found {
                None => Some("not in the dead-letter queue (reprocessed or discarded already?)"),
                Some((_, false)) => Some("the endpoint is disabled or deleted: enable it first"),
                Some(_) => None,
            };
            if let Some(why) = skip {
                out.skipped.push(SkippedEntry {
                    id: *id,
                    reason: why.into(),
                });
                continue;
            }
            let Some((delivery, _)) = found else { continue };
            let (endpoint, stream): (String, Option<String>) = sqlx::query_as(REARM_DELIVERY)
                .bind(now_ms)
                .bind("manual")
                .bind(reason)
                .bind(None::<String>)
                .bind(&delivery)
                .fetch_one(&mut *tx)
                .await?;
            if let Some(stream) = stream {
                streams.insert((endpoint, stream));
            }
            let (endpoint, event_type): (String, String) = sqlx::query_as(
                "delete from dlq_entries where id = $1 returning endpoint_id, event_type",
            )
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
            count_dlq_removal(&mut tx, (&tenant_text, &endpoint, &event_type), now_ms).await?;
            record_action(
                &mut tx,
                (&tenant_text, &delivery),
                "reprocess",
                actor,
                reason,
                None,
                now_ms,
            )
            .await?;
            out.reprocessed.push(*id);
        }
        // Each reprocessed delivery of a stream waits for its turn, which
        // comes first unless the stream moved on past it.
        super::advance_streams_on(&mut tx, &streams, now_ms).await?;
        if let Some(entry) = audit(&out) {
            insert_audit(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn discard_dlq(
        &self,
        tenant: TenantId,
        id: DlqEntryId,
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
        audit: &NewAudit,
    ) -> Result<bool> {
        let tenant_text = tenant.to_string();
        let mut tx = self.pool().begin().await?;
        let removed: Option<(String, String, String, Option<String>)> = sqlx::query_as(
            "delete from dlq_entries where tenant_id = $1 and id = $2 returning delivery_id, endpoint_id, event_type, stream",
        )
        .bind(&tenant_text)
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((delivery, endpoint, event_type, stream)) = removed else {
            return Ok(false);
        };
        if let Some(stream) = stream {
            // A stream this entry blocked goes on.
            let stream = BTreeSet::from([(endpoint.clone(), stream)]);
            super::advance_streams_on(&mut tx, &stream, to_millis(now)).await?;
        }
        count_dlq_removal(
            &mut tx,
            (&tenant_text, &endpoint, &event_type),
            to_millis(now),
        )
        .await?;
        record_action(
            &mut tx,
            (&tenant_text, &delivery),
            "discard",
            actor,
            reason,
            None,
            to_millis(now),
        )
        .await?;
        commit_audited(tx, true, Some(audit)).await
    }
}
