//! Users as admins manage them, sign-in lockout, key revocation and the audit log.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::sqlite::{USER_COLUMNS, UserRow};
use super::{NewAudit, SqliteStore, from_millis, page_of, stored_id, to_millis};
use crate::model::{
    ApiKeyId, AuditFilter, AuditId, AuditOut, Page, TenantId, UserId, UserOut, UserPatch,
};
use crate::{EngineError, Result};

#[derive(FromRow)]
struct AuditRow {
    id: String,
    tenant_id: Option<String>,
    at: i64,
    actor: String,
    role: String,
    action: String,
    target: String,
    summary: String,
    correlation_id: Option<String>,
}

impl TryFrom<AuditRow> for AuditOut {
    type Error = EngineError;
    fn try_from(r: AuditRow) -> Result<Self> {
        Ok(AuditOut {
            id: stored_id(&r.id)?,
            tenant_id: r.tenant_id.as_deref().map(stored_id).transpose()?,
            at: from_millis(r.at),
            actor: r.actor,
            role: r.role,
            action: r.action,
            target: r.target,
            summary: r.summary,
            correlation_id: r.correlation_id,
        })
    }
}

/// `LIKE` pattern text with its wildcards escaped (`\` is the escape character).
fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

impl SqliteStore {
    pub(super) async fn get_user_impl(&self, id: UserId) -> Result<Option<UserOut>> {
        sqlx::query_as::<_, UserRow>(&format!("select {USER_COLUMNS} from users where id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .map(UserOut::try_from)
            .transpose()
    }

    pub(super) async fn update_user_impl(
        &self,
        id: UserId,
        patch: UserPatch,
    ) -> Result<Option<UserOut>> {
        let (set_tenant, tenant) = match patch.tenant_id {
            None => (false, None),
            Some(t) => (true, t.map(|t| t.to_string())),
        };
        let row = sqlx::query_as::<_, UserRow>(&format!(
            r"update users set role = coalesce($1, role),
                               tenant_id = case when $2 then $3 else tenant_id end
              where id = $4 returning {USER_COLUMNS}"
        ))
        .bind(patch.role.map(|r| r.as_str()))
        .bind(set_tenant)
        .bind(tenant)
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.map(UserOut::try_from).transpose()
    }

    pub(super) async fn delete_user_impl(&self, id: UserId) -> Result<bool> {
        let done = sqlx::query("delete from users where id = $1")
            .bind(id.to_string())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn set_password_impl(&self, id: UserId, password_hash: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "update users set password_hash = $1, failed_logins = 0, locked_until = null where id = $2",
        )
        .bind(password_hash)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("delete from sessions where user_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn record_failed_login_impl(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        threshold: u32,
        lock_for: chrono::Duration,
    ) -> Result<Option<DateTime<Utc>>> {
        let until = at + lock_for;
        // Reaching the threshold locks the account and starts the count over,
        // so the next lock needs as many failures again.
        let locked: Option<Option<i64>> = sqlx::query_scalar(
            r"update users set
                  locked_until = case when failed_logins + 1 >= $1 then $2 else locked_until end,
                  failed_logins = case when failed_logins + 1 >= $1 then 0 else failed_logins + 1 end
              where id = $3
              returning case when locked_until = $2 then locked_until end",
        )
        .bind(i64::from(threshold.max(1)))
        .bind(to_millis(until))
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await?;
        Ok(locked.flatten().map(from_millis))
    }

    pub(super) async fn revoke_api_key_impl(&self, tenant: TenantId, id: ApiKeyId) -> Result<bool> {
        let done = sqlx::query(
            r"update api_keys set revoked_at = $1
              where tenant_id = $2 and id = $3 and revoked_at is null",
        )
        .bind(to_millis(Utc::now()))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn append_audit_impl(&self, e: NewAudit) -> Result<()> {
        sqlx::query(
            r"insert into audit_log (id, tenant_id, at, actor, role, action, target, summary, correlation_id)
              values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(AuditId::new().to_string())
        .bind(e.tenant_id.map(|t| t.to_string()))
        .bind(to_millis(Utc::now()))
        .bind(&e.actor)
        .bind(&e.role)
        .bind(&e.action)
        .bind(&e.target)
        .bind(&e.summary)
        .bind(&e.correlation_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(super) async fn list_audit_impl(
        &self,
        tenant: Option<TenantId>,
        f: &AuditFilter,
        before: Option<AuditId>,
        limit: u32,
    ) -> Result<Page<AuditOut>> {
        let (action_exact, action_prefix) = match f.action.as_deref() {
            Some(a) if a.ends_with('.') => (None, Some(format!("{}%", like_escaped(a)))),
            Some(a) => (Some(a.to_string()), None),
            None => (None, None),
        };
        let rows = sqlx::query_as::<_, AuditRow>(
            r"select id, tenant_id, at, actor, role, action, target, summary, correlation_id
              from audit_log
              where ($1 is null or tenant_id = $1)
                and ($2 is null or id < $2)
                and ($3 is null or action = $3)
                and ($4 is null or action like $4 escape '\')
                and ($5 is null or actor like $5 escape '\')
                and ($6 is null or target = $6)
                and ($7 is null or at >= $7)
                and ($8 is null or at < $8)
              order by id desc limit $9",
        )
        .bind(tenant.map(|t| t.to_string()))
        .bind(before.map(|b| b.to_string()))
        .bind(action_exact)
        .bind(action_prefix)
        .bind(f.actor.as_deref().map(|a| format!("%{}%", like_escaped(a))))
        .bind(&f.target)
        .bind(f.since.map(to_millis))
        .bind(f.until.map(to_millis))
        .bind(i64::from(limit) + 1)
        .fetch_all(self.reader())
        .await?;
        let entries = rows
            .into_iter()
            .map(AuditOut::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(entries, limit, |e| e.id.to_string()))
    }
}
