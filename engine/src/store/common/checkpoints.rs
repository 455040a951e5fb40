//! SQLite: checkpoints, named positions in a tenant's event sequence that a
//! replay can start after.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::This;
use super::audit::insert_audit;
use crate::error::taken;
use crate::model::{CheckpointId, CheckpointIn, CheckpointOut, Page, TenantId};
use crate::store::rows::{CheckpointRow, checkpoint_out};
use crate::store::{Actor, AuditWith, from_millis, page_of, to_millis};
use crate::{EngineError, Result};

#[async_trait]
impl crate::store::CheckpointStore for This {
    async fn create_checkpoint(
        &self,
        tenant: TenantId,
        input: &CheckpointIn,
        actor: &Actor,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, CheckpointOut>,
    ) -> Result<CheckpointOut> {
        let tenant_text = tenant.to_string();
        let mut tx = self.pool().begin().await?;
        let newest: i64 =
            sqlx::query_scalar("select coalesce(max(seq), 0) from events where tenant_id = $1")
                .bind(&tenant_text)
                .fetch_one(&mut *tx)
                .await?;
        let seq = input.seq.unwrap_or(newest);
        if seq < 0 {
            return Err(EngineError::invalid("seq", "must be 0 or more"));
        }
        if seq > newest {
            // A position the tenant's sequence has not reached: the request is
            // fine, the stored state is not there yet.
            return Err(EngineError::Conflict {
                message: format!(
                    "seq: the newest event's sequence number is {newest}; a checkpoint cannot be ahead of it"
                ),
            });
        }
        if let Some(ep) = input.endpoint_id {
            let found: Option<i64> = sqlx::query_scalar(
                "select cast(1 as bigint) from endpoints where tenant_id = $1 and id = $2 and deleted_at is null",
            )
            .bind(&tenant_text)
            .bind(ep.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            if found.is_none() {
                return Err(EngineError::not_found("endpoint", ep));
            }
        }
        let id = CheckpointId::new();
        sqlx::query(
            r"insert into checkpoints (id, tenant_id, name, seq, endpoint_id, created_by, created_at)
              values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(&tenant_text)
        .bind(&input.name)
        .bind(seq)
        .bind(input.endpoint_id.map(|e| e.to_string()))
        .bind(&actor.0)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(taken(|| format!("name: a checkpoint named '{}' exists already", input.name)))?;
        let out = CheckpointOut {
            id,
            name: input.name.clone(),
            seq,
            endpoint_id: input.endpoint_id,
            created_by: actor.0.clone(),
            created_at: from_millis(to_millis(now)),
        };
        if let Some(entry) = audit(&out) {
            insert_audit(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn list_checkpoints(
        &self,
        tenant: TenantId,
        id: Option<CheckpointId>,
    ) -> Result<Vec<CheckpointOut>> {
        let rows: Vec<CheckpointRow> = sqlx::query_as(
            r"select id, name, seq, endpoint_id, created_by, created_at from checkpoints
              where tenant_id = $1 and ($2 is null or id = $2) order by seq desc, id desc",
        )
        .bind(tenant.to_string())
        .bind(id.map(|i| i.to_string()))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(checkpoint_out).collect()
    }

    async fn page_checkpoints(
        &self,
        tenant: TenantId,
        before: Option<CheckpointId>,
        limit: u32,
    ) -> Result<Page<CheckpointOut>> {
        let rows: Vec<CheckpointRow> = sqlx::query_as(
            r"select id, name, seq, endpoint_id, created_by, created_at from checkpoints
              where tenant_id = $1 and ($2 is null or id < $2) order by id desc limit $3",
        )
        .bind(tenant.to_string())
        .bind(before.map(|i| i.to_string()))
        .bind(i64::from(limit) + 1)
        .fetch_all(self.reader())
        .await?;
        let items = rows
            .into_iter()
            .map(checkpoint_out)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, limit, |c| c.id.to_string()))
    }
}
