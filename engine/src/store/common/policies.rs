//! SQLite: named retry policies and tenant settings.

use async_trait::async_trait;
use chrono::Utc;

use super::This;
use super::audit::{commit_audited, insert_audit};
use super::{id_page, row_by_id};
use crate::error::taken;
use crate::model::{
    Page, RetryPolicyId, RetryPolicyIn, RetryPolicyOut, RetryPolicyPatch, TenantId,
};
use crate::store::convert::json_text;
use crate::store::rows::PolicyRow;
use crate::store::sql::POLICY_COLUMNS;
use crate::store::{NewAudit, to_millis};
use crate::{EngineError, Result};

fn name_taken(name: &str) -> impl FnOnce(sqlx::Error) -> EngineError + '_ {
    taken(move || format!("a retry policy named '{name}' already exists"))
}

#[async_trait]
impl crate::store::PolicyStore for This {
    async fn create_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
        input: RetryPolicyIn,
        audit: &NewAudit,
    ) -> Result<RetryPolicyOut> {
        let now = to_millis(Utc::now());
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            r"insert into retry_policies (id, tenant_id, name, description, policy, created_at, updated_at)
              values ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(&input.name)
        .bind(&input.description)
        .bind(json_text(&input.policy)?)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(name_taken(&input.name))?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.get_retry_policy(tenant, id)
            .await?
            .ok_or_else(|| EngineError::Internal("retry policy vanished after insert".into()))
    }

    async fn get_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
    ) -> Result<Option<RetryPolicyOut>> {
        let sql = format!(
            "select {POLICY_COLUMNS} from retry_policies rp where rp.tenant_id = $1 and rp.id = $2"
        );
        row_by_id::<PolicyRow>(self.reader(), &sql, tenant, id)
            .await?
            .map(RetryPolicyOut::try_from)
            .transpose()
    }

    async fn list_retry_policies(
        &self,
        tenant: TenantId,
        after: Option<RetryPolicyId>,
        limit: u32,
    ) -> Result<Page<RetryPolicyOut>> {
        let sql = format!(
            "select {POLICY_COLUMNS} from retry_policies rp
             where rp.tenant_id = $1 and rp.id > $2 order by rp.id limit $3"
        );
        id_page::<PolicyRow, _>(
            self.reader(),
            &sql,
            Some(tenant),
            after.map(|a| a.to_string()),
            limit,
            |p: &RetryPolicyOut| p.id.to_string(),
        )
        .await
    }

    async fn update_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
        patch: RetryPolicyPatch,
        audit: &NewAudit,
    ) -> Result<Option<RetryPolicyOut>> {
        let name = patch.name.clone().unwrap_or_default();
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            r"update retry_policies set
                  name = coalesce($1, name),
                  description = coalesce($2, description),
                  policy = coalesce($3, policy),
                  updated_at = $4
              where tenant_id = $5 and id = $6",
        )
        .bind(&patch.name)
        .bind(&patch.description)
        .bind(patch.policy.as_ref().map(json_text).transpose()?)
        .bind(to_millis(Utc::now()))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(name_taken(&name))?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.get_retry_policy(tenant, id).await
    }

    async fn delete_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        // Another tenant's policy is not there at all: no count, no write.
        let exists: Option<i64> = sqlx::query_scalar(
            "select cast(1 as bigint) from retry_policies where tenant_id = $1 and id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            return Ok(false);
        }
        // Deleted endpoints keep their reference for the record; live ones block.
        let users: i64 = sqlx::query_scalar(
            "select count(*) from endpoints
             where tenant_id = $1 and retry_policy_id = $2 and deleted_at is null",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        if users > 0 {
            return Err(EngineError::Conflict {
                message: format!(
                    "retry policy '{id}' is used by {users} endpoint(s); move them to another policy first"
                ),
            });
        }
        sqlx::query(
            "update endpoints set retry_policy_id = null where tenant_id = $1 and retry_policy_id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("delete from retry_policies where tenant_id = $1 and id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        commit_audited(tx, done.rows_affected() > 0, Some(audit)).await
    }
}
