//! The audit log. A change appends its entry inside its own transaction
//! (`insert_audit`); the area's methods read the log and append entries that
//! record no change (sign-ins).

use async_trait::async_trait;

use super::{Db, DbConnection};
use chrono::Utc;

use super::This;
use crate::Result;
use crate::model::query::ActionMatch;
use crate::model::{AuditId, AuditOut, AuditQuery, Page, TenantId};
use crate::store::rows::AuditRow;
use crate::store::{NewAudit, page_of, to_millis};

/// `LIKE` pattern text with its wildcards escaped (`\` is the escape character).
fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// An audit entry's row, for sqlx and for the hot writer alike.
pub(super) const INSERT_AUDIT: &str = r"insert into audit_log (id, tenant_id, at, actor, role, action, target, summary, correlation_id)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Ends a change's transaction: when it changed something, appends `audit`
/// (if any) and commits, both or neither; when it changed nothing, rolls
/// back. Answers whether it changed something.
pub(super) async fn commit_audited(
    mut tx: sqlx::Transaction<'_, Db>,
    changed: bool,
    audit: Option<&NewAudit>,
) -> Result<bool> {
    if !changed {
        return Ok(false);
    }
    if let Some(audit) = audit {
        insert_audit(&mut tx, audit).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Appends an audit entry on `conn`: inside a change's transaction, the entry
/// commits with the change or not at all.
pub(super) async fn insert_audit(conn: &mut DbConnection, e: &NewAudit) -> Result<()> {
    sqlx::query(INSERT_AUDIT)
        .bind(AuditId::new().to_string())
        .bind(e.tenant_id.map(|t| t.to_string()))
        .bind(to_millis(Utc::now()))
        .bind(&e.actor)
        .bind(&e.role)
        .bind(e.action.as_str())
        .bind(&e.target)
        .bind(&e.summary)
        .bind(&e.correlation_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[async_trait]
impl crate::store::AuditStore for This {
    async fn append_audit(&self, e: NewAudit) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        insert_audit(&mut conn, &e).await
    }

    async fn list_audit(
        &self,
        tenant: Option<TenantId>,
        f: &AuditQuery,
        limit: u32,
    ) -> Result<Page<AuditOut>> {
        let (action_exact, action_prefix) = match f.action_match() {
            Some(ActionMatch::Prefix(a)) => (None, Some(format!("{}%", like_escaped(a)))),
            Some(ActionMatch::Exact(a)) => (Some(a.to_string()), None),
            None => (None, None),
        };
        let sql = format!(
            r"select id, tenant_id, at, actor, role, action, target, summary, correlation_id
              from audit_log
              where ($1 is null or tenant_id = $1)
                and ($2 is null or id < $2)
                and ($3 is null or action = $3)
                and ($4 is null or action {like} $4 escape '\')
                and ($5 is null or actor {like} $5 escape '\')
                and ($6 is null or target = $6)
                and ($7 is null or at >= $7)
                and ($8 is null or at < $8)
              order by id desc limit $9",
            like = super::LIKE_ANY_CASE
        );
        let rows = sqlx::query_as::<_, AuditRow>(&sql)
            .bind(tenant.map(|t| t.to_string()))
            .bind(f.cursor.map(|b| b.to_string()))
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
