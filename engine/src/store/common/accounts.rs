//! Accounts: console users (credentials, roles, tenant binding, lockout),
//! their sessions, API keys, and the audit log.

use async_trait::async_trait;

use super::This;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::audit::{commit_audited, insert_audit};
use super::id_page;
use crate::error::taken;
use crate::model::{
    ApiKeyId, ApiKeyOut, Page, SessionId, TenantId, TenantOut, TenantPatch, UserId, UserOut,
    UserPatch,
};
use crate::store::rows::{ApiKeyRow, TenantRow, UserRow};
use crate::store::sql::USER_COLUMNS;

/// A tenant's columns, in `TenantRow`'s order.
const TENANT_COLUMNS: &str = "id, slug, name, payload_dedup_window_ms, ops_endpoint_id, dlq_alert_threshold, event_retention_days, \
     stats_retention_days, schema_mode, require_registered_types, created_at";
use crate::store::{
    ApiKeyAuth, ClientLoginState, LockoutPolicy, LoginLocks, NewApiKey, NewAudit, NewUser,
    SessionUser, from_millis, normalise_email, stored_id, to_millis,
};
use crate::{EngineError, Result};

#[async_trait]
impl crate::store::AccountStore for This {
    async fn ensure_tenant(&self, slug: &str, name: &str) -> Result<TenantOut> {
        // Read first: opening a database another process (a running server)
        // writes to should not need the write lock when the tenant exists.
        if let Some(tenant) = self.tenant_by_slug(slug).await? {
            return Ok(tenant);
        }
        sqlx::query(
            r"insert into tenants (id, slug, name, created_at) values ($1, $2, $3, $4)
              on conflict (slug) do nothing",
        )
        .bind(TenantId::new().to_string())
        .bind(slug)
        .bind(name)
        .bind(to_millis(Utc::now()))
        .execute(&self.pool)
        .await?;
        self.tenant_by_slug(slug)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("tenant '{slug}' vanished after insert")))
    }

    async fn create_tenant(
        &self,
        slug: &str,
        name: &str,
        audit: &NewAudit,
    ) -> Result<(TenantOut, bool)> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            r"insert into tenants (id, slug, name, created_at) values ($1, $2, $3, $4)
              on conflict (slug) do nothing",
        )
        .bind(TenantId::new().to_string())
        .bind(slug)
        .bind(name)
        .bind(to_millis(Utc::now()))
        .execute(&mut *tx)
        .await?;
        let created = done.rows_affected() == 1;
        if created {
            insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        let tenant = self.tenant_by_slug(slug).await?.ok_or_else(|| {
            EngineError::Internal(format!("tenant '{slug}' vanished after insert"))
        })?;
        Ok((tenant, created))
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantOut>> {
        sqlx::query_as::<_, TenantRow>(&format!(
            "select {TENANT_COLUMNS} from tenants where slug = $1"
        ))
        .bind(slug)
        .fetch_optional(self.reader())
        .await?
        .map(TenantOut::try_from)
        .transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<TenantOut>> {
        let rows = sqlx::query_as::<_, TenantRow>(&format!(
            "select {TENANT_COLUMNS} from tenants order by slug"
        ))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(TenantOut::try_from).collect()
    }

    async fn get_user(&self, id: UserId) -> Result<Option<UserOut>> {
        sqlx::query_as::<_, UserRow>(&format!("select {USER_COLUMNS} from users where id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .map(UserOut::try_from)
            .transpose()
    }

    async fn update_user(
        &self,
        id: UserId,
        patch: UserPatch,
        audit: &NewAudit,
    ) -> Result<Option<UserOut>> {
        let (set_tenant, tenant) = match patch.tenant_id {
            None => (false, None),
            Some(t) => (true, t.map(|t| t.to_string())),
        };
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query_as::<_, UserRow>(&format!(
            r"update users set role = coalesce($1, role),
                               tenant_id = case when $2 then $3 else tenant_id end
              where id = $4 returning {USER_COLUMNS}"
        ))
        .bind(patch.role.map(|r| r.as_str()))
        .bind(set_tenant)
        .bind(tenant)
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        commit_audited(tx, row.is_some(), Some(audit)).await?;
        row.map(UserOut::try_from).transpose()
    }

    async fn delete_user(&self, id: UserId, audit: &NewAudit) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("delete from users where id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        commit_audited(tx, done.rows_affected() > 0, Some(audit)).await
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "update users set password_hash = $1, failed_logins = 0, locked_until = null where id = $2",
        )
        .bind(password_hash)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        // A new password ends every session and starts every count over.
        for sql in [
            "delete from sessions where user_id = $1",
            "delete from login_failures where user_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        commit_audited(tx, done.rows_affected() > 0, Some(audit)).await
    }

    async fn record_failed_login(
        &self,
        id: UserId,
        client: &str,
        at: DateTime<Utc>,
        policy: &LockoutPolicy,
    ) -> Result<LoginLocks> {
        let at_ms = to_millis(at);
        let window_start = to_millis(at - policy.client_window);
        let client_until = to_millis(at + policy.client_window);
        let mut tx = self.pool().begin().await?;
        // The address's count: failures older than the window are forgotten;
        // reaching the threshold locks the address out and starts over.
        let client_locked: Option<i64> = sqlx::query_scalar(
            r"insert into login_failures (user_id, client, failures, last_failed_at, locked_until)
              values ($1, $2, 1, $3, case when 1 >= $4 then $5 end)
              on conflict (user_id, client) do update set
                  failures = case
                      when login_failures.last_failed_at < $6 then 1
                      else login_failures.failures + 1 end,
                  locked_until = case
                      when (case when login_failures.last_failed_at < $6 then 1
                                 else login_failures.failures + 1 end) >= $4 then $5
                      else login_failures.locked_until end,
                  last_failed_at = $3
              returning locked_until",
        )
        .bind(id.to_string())
        .bind(client)
        .bind(at_ms)
        .bind(i64::from(policy.client_threshold.max(1)))
        .bind(client_until)
        .bind(window_start)
        .fetch_one(&mut *tx)
        .await?;
        // The account's count runs until a success. Each multiple of the
        // threshold locks it, for twice as long as the multiple before.
        let failed: Option<i64> = sqlx::query_scalar(
            "update users set failed_logins = failed_logins + 1 where id = $1 returning failed_logins",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let threshold = i64::from(policy.account_threshold.max(1));
        let mut account_locked_until = None;
        if let Some(failed) = failed
            && failed % threshold == 0
        {
            let doublings = u32::try_from(failed / threshold - 1)
                .unwrap_or(u32::MAX)
                .min(20);
            let lock = policy
                .account_lock
                .checked_mul(1 << doublings)
                .unwrap_or(policy.account_max_lock)
                .min(policy.account_max_lock);
            let until = at + lock;
            sqlx::query("update users set locked_until = $1 where id = $2")
                .bind(to_millis(until))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            account_locked_until = Some(until);
        }
        tx.commit().await?;
        Ok(LoginLocks {
            client_locked_until: client_locked
                .filter(|u| *u == client_until)
                .map(from_millis),
            account_locked_until,
        })
    }

    async fn client_login_state(
        &self,
        id: UserId,
        client: &str,
        now: DateTime<Utc>,
        policy: &LockoutPolicy,
    ) -> Result<ClientLoginState> {
        let row: Option<(i64, i64, Option<i64>)> = sqlx::query_as(
            "select failures, last_failed_at, locked_until from login_failures
             where user_id = $1 and client = $2",
        )
        .bind(id.to_string())
        .bind(client)
        .fetch_optional(self.pool())
        .await?;
        let Some((failures, last_failed_at, locked_until)) = row else {
            return Ok(ClientLoginState::default());
        };
        let recent = last_failed_at >= to_millis(now - policy.client_window);
        Ok(ClientLoginState {
            locked_until: locked_until.map(from_millis).filter(|u| *u > now),
            recent_failures: if recent {
                u32::try_from(failures).unwrap_or(u32::MAX).max(1)
            } else {
                0
            },
        })
    }

    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            r"update api_keys set revoked_at = $1
              where tenant_id = $2 and id = $3 and revoked_at is null",
        )
        .bind(to_millis(Utc::now()))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let revoked = commit_audited(tx, done.rows_affected() > 0, Some(audit)).await?;
        self.keys.forget(id);
        Ok(revoked)
    }

    async fn create_user(&self, user: NewUser, audit: &NewAudit) -> Result<UserOut> {
        let email = normalise_email(&user.email);
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query_as::<_, UserRow>(&format!(
            r"insert into users (id, email, password_hash, role, created_at, tenant_id)
              values ($1, $2, $3, $4, $5, $6) returning {USER_COLUMNS}"
        ))
        .bind(UserId::new().to_string())
        .bind(&email)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(to_millis(Utc::now()))
        .bind(user.tenant_id.map(|t| t.to_string()))
        .fetch_one(&mut *tx)
        .await
        .map_err(taken(|| {
            format!("a user with email '{email}' already exists")
        }))?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("select count(*) from users")
            .fetch_one(self.reader())
            .await?)
    }

    async fn user_credentials(&self, email: &str) -> Result<Option<(UserOut, String)>> {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row = sqlx::query_as::<_, Row>(&format!(
            "select {USER_COLUMNS}, password_hash from users where email = $1"
        ))
        .bind(normalise_email(email))
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| Ok((r.user.try_into()?, r.password_hash)))
            .transpose()
    }

    async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Page<UserOut>> {
        let sql = format!("select {USER_COLUMNS} from users where id > $1 order by id limit $2");
        id_page::<UserRow, _>(
            self.reader(),
            &sql,
            None,
            after.map(|a| a.to_string()),
            limit,
            |u: &UserOut| u.id.to_string(),
        )
        .await
    }

    async fn record_login(&self, user: UserId, client: &str, at: DateTime<Utc>) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "update users set last_login_at = $1, failed_logins = 0, locked_until = null where id = $2",
        )
        .bind(to_millis(at))
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("delete from login_failures where user_id = $1 and client = $2")
            .bind(user.to_string())
            .bind(client)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_session(
        &self,
        user: UserId,
        token_digest: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<SessionId> {
        let id = SessionId::new();
        sqlx::query(
            r"insert into sessions (id, token_digest, user_id, created_at, expires_at)
              values ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(token_digest)
        .bind(user.to_string())
        .bind(to_millis(Utc::now()))
        .bind(to_millis(expires_at))
        .execute(self.pool())
        .await?;
        Ok(id)
    }

    async fn session_user(
        &self,
        token_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionUser>> {
        #[derive(FromRow)]
        struct Row {
            session_id: String,
            expires_at: i64,
            #[sqlx(flatten)]
            user: UserRow,
        }
        let row = sqlx::query_as::<_, Row>(
            r"select s.id as session_id, s.expires_at,
                     u.id, u.email, u.role, u.tenant_id, u.created_at, u.last_login_at, u.locked_until
              from sessions s join users u on u.id = s.user_id
              where s.token_digest = $1 and s.expires_at > $2",
        )
        .bind(token_digest)
        .bind(to_millis(now))
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            Ok(SessionUser {
                session_id: stored_id(&r.session_id)?,
                expires_at: from_millis(r.expires_at),
                user: r.user.try_into()?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, token_digest: &str) -> Result<()> {
        sqlx::query("delete from sessions where token_digest = $1")
            .bind(token_digest)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("delete from sessions where expires_at <= $1")
            .bind(to_millis(now))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    async fn create_api_key(&self, key: NewApiKey, audit: &NewAudit) -> Result<ApiKeyOut> {
        let id = key.id;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            r"insert into api_keys (id, tenant_id, name, display_prefix, key_digest, scope, created_at, endpoint_id,
                                   default_source)
              values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.to_string())
        .bind(key.tenant_id.to_string())
        .bind(&key.name)
        .bind(&key.display_prefix)
        .bind(&key.key_digest)
        .bind(key.scope.as_str())
        .bind(to_millis(Utc::now()))
        .bind(key.endpoint_id.map(|e| e.to_string()))
        .bind(&key.default_source)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        let row = sqlx::query_as::<_, ApiKeyRow>(
            r"select k.id, k.name, k.display_prefix, t.slug as tenant, k.scope, k.created_at, k.last_used_at, k.endpoint_id, k.default_source
              from api_keys k join tenants t on t.id = k.tenant_id where k.id = $1",
        )
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn api_key_by_digest(&self, digest: &str) -> Result<Option<ApiKeyAuth>> {
        if let Some(auth) = self.keys.get(digest) {
            return Ok(Some(auth));
        }
        #[derive(FromRow)]
        struct Row {
            id: String,
            tenant_id: String,
            tenant_slug: String,
            scope: String,
            last_used_at: Option<i64>,
            endpoint_id: Option<String>,
            default_source: Option<String>,
        }
        let row = sqlx::query_as::<_, Row>(
            r"select k.id, k.tenant_id, t.slug as tenant_slug, k.scope, k.last_used_at, k.endpoint_id, k.default_source
              from api_keys k join tenants t on t.id = k.tenant_id
              where k.key_digest = $1 and k.revoked_at is null",
        )
        .bind(digest)
        .fetch_optional(self.reader())
        .await?;
        let auth = row
            .map(|r| -> Result<ApiKeyAuth> {
                Ok(ApiKeyAuth {
                    id: stored_id(&r.id)?,
                    tenant_id: stored_id(&r.tenant_id)?,
                    tenant_slug: r.tenant_slug,
                    scope: stored_id(&r.scope)?,
                    endpoint_id: r.endpoint_id.as_deref().map(stored_id).transpose()?,
                    last_used_at: r.last_used_at.map(from_millis),
                    default_source: r.default_source,
                })
            })
            .transpose()?;
        if let Some(auth) = &auth {
            self.keys.put(digest, auth);
        }
        Ok(auth)
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("update api_keys set last_used_at = $1 where id = $2")
            .bind(to_millis(at))
            .bind(id.to_string())
            .execute(self.pool())
            .await?;
        self.keys.touched(id, at);
        Ok(())
    }

    async fn list_api_keys(
        &self,
        tenant: TenantId,
        after: Option<ApiKeyId>,
        limit: u32,
    ) -> Result<Page<ApiKeyOut>> {
        id_page::<ApiKeyRow, _>(
            self.reader(),
            r"select k.id, k.name, k.display_prefix, t.slug as tenant, k.scope, k.created_at, k.last_used_at, k.endpoint_id, k.default_source
              from api_keys k join tenants t on t.id = k.tenant_id
              where k.tenant_id = $1 and k.id > $2 and k.revoked_at is null
              order by k.id limit $3",
            Some(tenant),
            after.map(|a| a.to_string()),
            limit,
            |k: &ApiKeyOut| k.id.to_string(),
        )
        .await
    }

    async fn update_tenant(
        &self,
        tenant: TenantId,
        patch: TenantPatch,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        if let Some(window) = patch.payload_dedup_window_secs {
            let window_ms =
                window.map(|s| i64::try_from(s.saturating_mul(1_000)).unwrap_or(i64::MAX));
            sqlx::query("update tenants set payload_dedup_window_ms = $1 where id = $2")
                .bind(window_ms)
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(endpoint) = patch.operations_endpoint_id {
            if let Some(id) = endpoint {
                let found: Option<String> = sqlx::query_scalar(
                    "select id from endpoints where tenant_id = $1 and id = $2 and deleted_at is null",
                )
                .bind(tenant.to_string())
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                if found.is_none() {
                    return Err(EngineError::not_found("endpoint", id));
                }
            }
            sqlx::query("update tenants set ops_endpoint_id = $1 where id = $2")
                .bind(endpoint.map(|id| id.to_string()))
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(threshold) = patch.dlq_alert_threshold {
            // A new threshold is a new crossing to watch for.
            sqlx::query(
                "update tenants set dlq_alert_threshold = $1, dlq_alerted_at = null where id = $2",
            )
            .bind(threshold.map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
            .bind(tenant.to_string())
            .execute(&mut *tx)
            .await?;
        }
        for (column, days) in [
            ("event_retention_days", patch.event_retention_days),
            ("stats_retention_days", patch.stats_retention_days),
        ] {
            if let Some(days) = days {
                sqlx::query(&format!("update tenants set {column} = $1 where id = $2"))
                    .bind(days.map(i64::from))
                    .bind(tenant.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        // Either changes what ingest checks: the catalog's revision moves, so
        // events checked under the old settings are checked again.
        if patch.schema_mode.is_some() || patch.require_registered_types.is_some() {
            sqlx::query(
                r"update tenants set schema_mode = coalesce($1, schema_mode),
                    require_registered_types = coalesce($2, require_registered_types),
                    catalog_revision = catalog_revision + 1
                  where id = $3",
            )
            .bind(patch.schema_mode.map(|m| m.as_str()))
            .bind(patch.require_registered_types)
            .bind(tenant.to_string())
            .execute(&mut *tx)
            .await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
