//! The embedded SQLite store: one file in WAL mode, no server to install.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};

use super::{
    Actor, ApiKeyAuth, AttemptOutcome, Capabilities, Claimed, DlqFilter, EventFilter, EventSummary,
    EventTypeSummary, Ingested, NewApiKey, NewAudit, NewEndpoint, NewEvent, NewReplay, NewUser,
    ReplayStep, SessionUser, Store, from_millis, stored_id, to_millis,
};
use super::{ClientLoginState, LockoutPolicy, LoginLocks};
use crate::model::{
    ApiKeyId, ApiKeyOut, AuditFilter, AuditId, AuditOut, CheckpointId, CheckpointIn, CheckpointOut,
    DeliveryId, DlqDetail, DlqEntryId, DlqEntryOut, EndpointId, EndpointOut, EventDetail, EventId,
    Page, ReplayFilter, ReplayId, ReplayOut, ReplayPreview, ReplayState, ReplayedDelivery,
    ReprocessOut, SessionId, TenantId, TenantOut, UserId, UserOut, UserPatch,
};
use crate::{EngineError, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Two pools over one file. SQLite lets one writer in at a time; letting several
/// connections race for that lock makes the losers sleep in SQLite's busy
/// handler (milliseconds each), so every write goes through the one writer
/// connection and queues fairly in the pool instead. Reads run in parallel on
/// the reader pool and, in WAL mode, never wait for the writer.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    reader: SqlitePool,
    ingest: tokio::sync::mpsc::Sender<super::sqlite_ingest::IngestRequest>,
    vault: std::sync::Arc<crate::vault::Vault>,
}

impl SqliteStore {
    pub async fn connect(
        url: &str,
        vault: std::sync::Arc<crate::vault::Vault>,
        durability: super::Durability,
    ) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL survives a crash of the process, not of the OS or
            // the power: the last commits may not have reached the disk. FULL
            // syncs the WAL on every commit (group commit keeps that to one
            // sync per group of requests).
            .synchronous(match durability {
                super::Durability::Process => SqliteSynchronous::Normal,
                super::Durability::Power => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            // 64 MiB of page cache per connection (SQLite's default is 2 MiB):
            // with millions of events the indexes ingest writes into stay in
            // memory instead of being read back from disk on every insert.
            .pragma("cache_size", "-65536")
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let ingest = super::sqlite_ingest::spawn_ingest_writer(pool.clone());
        Ok(Self {
            pool,
            reader,
            ingest,
            vault,
        })
    }

    /// The writer: every statement that changes data, and reads that must see
    /// the writer's own uncommitted work.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(super) fn ingest_queue(
        &self,
    ) -> &tokio::sync::mpsc::Sender<super::sqlite_ingest::IngestRequest> {
        &self.ingest
    }

    /// Seals and opens endpoint secrets and header values.
    pub(super) fn vault(&self) -> &crate::vault::Vault {
        &self.vault
    }

    /// Read-only queries (lists, lookups, pages).
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

#[derive(FromRow)]
struct TenantRow {
    id: String,
    slug: String,
    name: String,
    payload_dedup_window_ms: Option<i64>,
    created_at: i64,
}

impl TryFrom<TenantRow> for TenantOut {
    type Error = EngineError;
    fn try_from(r: TenantRow) -> Result<Self> {
        Ok(TenantOut {
            id: stored_id(&r.id)?,
            slug: r.slug,
            name: r.name,
            payload_dedup_window_secs: r
                .payload_dedup_window_ms
                .and_then(|ms| u64::try_from(ms / 1_000).ok()),
            created_at: from_millis(r.created_at),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities { single_node: true }
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.reader.close().await;
        self.pool.close().await;
    }

    async fn ensure_tenant(&self, slug: &str, name: &str) -> Result<TenantOut> {
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

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantOut>> {
        sqlx::query_as::<_, TenantRow>(
            r"select id, slug, name, payload_dedup_window_ms, created_at from tenants where slug = $1",
        )
        .bind(slug)
        .fetch_optional(&self.reader)
        .await?
        .map(TenantOut::try_from)
        .transpose()
    }

    async fn create_user(&self, user: NewUser) -> Result<UserOut> {
        self.create_user_impl(user).await
    }

    async fn user_count(&self) -> Result<i64> {
        self.user_count_impl().await
    }

    async fn user_credentials(&self, email: &str) -> Result<Option<(UserOut, String)>> {
        self.user_credentials_impl(email).await
    }

    async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Page<UserOut>> {
        self.list_users_impl(after, limit).await
    }

    async fn record_login(&self, user: UserId, client: &str, at: DateTime<Utc>) -> Result<()> {
        self.record_login_impl(user, client, at).await
    }

    async fn create_session(
        &self,
        user: UserId,
        token_digest: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<SessionId> {
        self.create_session_impl(user, token_digest, expires_at)
            .await
    }

    async fn session_user(
        &self,
        token_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionUser>> {
        self.session_user_impl(token_digest, now).await
    }

    async fn delete_session(&self, token_digest: &str) -> Result<()> {
        self.delete_session_impl(token_digest).await
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        self.delete_expired_sessions_impl(now).await
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKeyOut> {
        self.create_api_key_impl(key).await
    }

    async fn api_key_by_digest(&self, digest: &str) -> Result<Option<ApiKeyAuth>> {
        self.api_key_by_digest_impl(digest).await
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<()> {
        self.touch_api_key_impl(id, at).await
    }

    async fn list_api_keys(
        &self,
        tenant: TenantId,
        after: Option<ApiKeyId>,
        limit: u32,
    ) -> Result<Page<ApiKeyOut>> {
        self.list_api_keys_impl(tenant, after, limit).await
    }

    async fn update_tenant(
        &self,
        tenant: TenantId,
        patch: crate::model::TenantPatch,
    ) -> Result<()> {
        self.update_tenant_impl(tenant, patch).await
    }

    async fn create_retry_policy(
        &self,
        tenant: TenantId,
        id: crate::model::RetryPolicyId,
        policy: crate::model::RetryPolicyIn,
        audit: &NewAudit,
    ) -> Result<crate::model::RetryPolicyOut> {
        self.create_retry_policy_impl(tenant, id, policy, audit)
            .await
    }

    async fn get_retry_policy(
        &self,
        tenant: TenantId,
        id: crate::model::RetryPolicyId,
    ) -> Result<Option<crate::model::RetryPolicyOut>> {
        self.get_retry_policy_impl(tenant, id).await
    }

    async fn list_retry_policies(
        &self,
        tenant: TenantId,
        after: Option<crate::model::RetryPolicyId>,
        limit: u32,
    ) -> Result<Page<crate::model::RetryPolicyOut>> {
        self.list_retry_policies_impl(tenant, after, limit).await
    }

    async fn update_retry_policy(
        &self,
        tenant: TenantId,
        id: crate::model::RetryPolicyId,
        patch: crate::model::RetryPolicyPatch,
        audit: &NewAudit,
    ) -> Result<Option<crate::model::RetryPolicyOut>> {
        self.update_retry_policy_impl(tenant, id, patch, audit)
            .await
    }

    async fn delete_retry_policy(
        &self,
        tenant: TenantId,
        id: crate::model::RetryPolicyId,
        audit: &NewAudit,
    ) -> Result<bool> {
        self.delete_retry_policy_impl(tenant, id, audit).await
    }

    async fn endpoint_backlog(
        &self,
        tenant: TenantId,
        endpoints: &[EndpointId],
    ) -> Result<std::collections::HashMap<EndpointId, crate::model::EndpointBacklog>> {
        self.endpoint_backlog_impl(tenant, endpoints).await
    }

    async fn create_endpoint(
        &self,
        tenant: TenantId,
        endpoint: NewEndpoint,
        audit: &NewAudit,
    ) -> Result<EndpointOut> {
        self.create_endpoint_impl(tenant, endpoint, audit).await
    }

    async fn get_endpoint(&self, tenant: TenantId, id: EndpointId) -> Result<Option<EndpointOut>> {
        self.get_endpoint_impl(tenant, id).await
    }

    async fn list_endpoints(
        &self,
        tenant: TenantId,
        after: Option<EndpointId>,
        limit: u32,
    ) -> Result<Page<EndpointOut>> {
        self.list_endpoints_impl(tenant, after, limit).await
    }

    async fn update_endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
        patch: crate::model::EndpointPatch,
        audit: &NewAudit,
    ) -> Result<Option<EndpointOut>> {
        self.update_endpoint_impl(tenant, id, patch, audit).await
    }

    async fn delete_endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
        audit: &NewAudit,
    ) -> Result<bool> {
        self.delete_endpoint_impl(tenant, id, audit).await
    }

    async fn set_endpoint_enabled(
        &self,
        tenant: TenantId,
        id: EndpointId,
        enabled: bool,
        reason: Option<&str>,
        audit: Option<&NewAudit>,
    ) -> Result<bool> {
        self.set_endpoint_enabled_impl(tenant, id, enabled, reason, audit)
            .await
    }

    async fn rotate_secret(
        &self,
        tenant: TenantId,
        id: EndpointId,
        secret: crate::sign::Secret,
        old_valid_until: DateTime<Utc>,
        audit: &NewAudit,
    ) -> Result<bool> {
        self.rotate_secret_impl(tenant, id, secret, old_valid_until, audit)
            .await
    }

    async fn ingest(
        &self,
        tenant: TenantId,
        events: Vec<NewEvent>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Ingested>> {
        self.ingest_impl(tenant, events, now).await
    }

    async fn event_types(&self, tenant: TenantId) -> Result<Vec<EventTypeSummary>> {
        self.event_types_impl(tenant).await
    }

    async fn event_detail(&self, tenant: TenantId, id: EventId) -> Result<Option<EventDetail>> {
        self.event_detail_impl(tenant, id).await
    }

    async fn list_events(
        &self,
        tenant: TenantId,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Page<EventSummary>> {
        self.list_events_impl(tenant, filter, limit).await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        per_endpoint: u32,
    ) -> Result<Vec<Claimed>> {
        self.claim_due_impl(now, lease_until, limit, per_endpoint)
            .await
    }

    async fn reclaim_expired(
        &self,
        leases_ending_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<super::Settled> {
        self.reclaim_expired_impl(leases_ending_before, now).await
    }

    async fn hand_back(
        &self,
        claims: &[(DeliveryId, super::ClaimToken)],
        now: DateTime<Utc>,
    ) -> Result<super::Settled> {
        self.hand_back_impl(claims, now).await
    }

    async fn release(
        &self,
        claims: &[(DeliveryId, super::ClaimToken)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.release_impl(claims, at).await
    }

    async fn abandon(
        &self,
        delivery: DeliveryId,
        claim: super::ClaimToken,
        reason: &str,
    ) -> Result<bool> {
        self.abandon_impl(delivery, claim, reason).await
    }

    async fn record_attempts(&self, batch: Vec<AttemptOutcome>) -> Result<Vec<super::Recorded>> {
        self.record_attempts_impl(batch).await
    }

    async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.next_due_at_impl().await
    }

    async fn list_dlq(
        &self,
        tenant: TenantId,
        filter: &DlqFilter,
        limit: u32,
    ) -> Result<Page<DlqEntryOut>> {
        self.list_dlq_impl(tenant, filter, limit).await
    }

    async fn dlq_count(&self, tenant: TenantId, filter: &DlqFilter) -> Result<u64> {
        self.dlq_count_impl(tenant, filter).await
    }

    async fn dlq_entry(&self, tenant: TenantId, id: DlqEntryId) -> Result<Option<DlqDetail>> {
        self.dlq_entry_impl(tenant, id).await
    }

    async fn dlq_ids(
        &self,
        tenant: TenantId,
        filter: &DlqFilter,
        limit: u32,
    ) -> Result<Vec<DlqEntryId>> {
        self.dlq_ids_impl(tenant, filter, limit).await
    }

    async fn reprocess_dlq(
        &self,
        tenant: TenantId,
        ids: &[DlqEntryId],
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<ReprocessOut> {
        self.reprocess_dlq_impl(tenant, ids, actor, reason, now)
            .await
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
        self.discard_dlq_impl(tenant, id, actor, reason, now, audit)
            .await
    }

    async fn replay_event(
        &self,
        tenant: TenantId,
        event: EventId,
        endpoints: Option<&[EndpointId]>,
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<ReplayedDelivery>>> {
        self.replay_event_impl(tenant, event, endpoints, actor, reason, now)
            .await
    }

    async fn replay_preview(
        &self,
        tenant: TenantId,
        filter: &ReplayFilter,
        max_events: Option<u64>,
    ) -> Result<ReplayPreview> {
        self.replay_preview_impl(tenant, filter, max_events).await
    }

    async fn create_replay(
        &self,
        tenant: TenantId,
        replay: NewReplay,
        now: DateTime<Utc>,
    ) -> Result<ReplayOut> {
        self.create_replay_impl(tenant, replay, now).await
    }

    async fn get_replay(
        &self,
        tenant: Option<TenantId>,
        id: ReplayId,
    ) -> Result<Option<ReplayOut>> {
        self.get_replay_impl(tenant, id).await
    }

    async fn list_replays(
        &self,
        tenant: TenantId,
        before: Option<ReplayId>,
        limit: u32,
    ) -> Result<Page<ReplayOut>> {
        self.list_replays_impl(tenant, before, limit).await
    }

    async fn set_replay_state(
        &self,
        tenant: Option<TenantId>,
        id: ReplayId,
        from: &[ReplayState],
        to: ReplayState,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.set_replay_state_impl(tenant, id, from, to, error, now)
            .await
    }

    async fn active_replays(&self) -> Result<Vec<(ReplayId, ReplayState)>> {
        self.active_replays_impl().await
    }

    async fn replay_step(
        &self,
        id: ReplayId,
        max_events: u32,
        now: DateTime<Utc>,
    ) -> Result<ReplayStep> {
        self.replay_step_impl(id, max_events, now).await
    }

    async fn create_checkpoint(
        &self,
        tenant: TenantId,
        input: &CheckpointIn,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<CheckpointOut> {
        self.create_checkpoint_impl(tenant, input, actor, now).await
    }

    async fn list_checkpoints(
        &self,
        tenant: TenantId,
        id: Option<CheckpointId>,
    ) -> Result<Vec<CheckpointOut>> {
        self.list_checkpoints_impl(tenant, id).await
    }

    async fn page_checkpoints(
        &self,
        tenant: TenantId,
        before: Option<CheckpointId>,
        limit: u32,
    ) -> Result<Page<CheckpointOut>> {
        self.page_checkpoints_impl(tenant, before, limit).await
    }

    async fn reseal_secrets(&self) -> Result<u64> {
        self.reseal_secrets_impl().await
    }

    async fn list_tenants(&self) -> Result<Vec<TenantOut>> {
        let rows = sqlx::query_as::<_, TenantRow>(
            "select id, slug, name, payload_dedup_window_ms, created_at from tenants order by slug",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(TenantOut::try_from).collect()
    }

    async fn record_stats(&self, samples: Vec<super::StatSample>) -> Result<()> {
        self.record_stats_impl(samples).await
    }

    async fn stats(
        &self,
        tenant: TenantId,
        query: &super::StatsQuery,
    ) -> Result<crate::model::StatsOut> {
        self.stats_impl(tenant, query).await
    }

    async fn gauges(&self, now: DateTime<Utc>) -> Result<crate::metrics::Gauges> {
        self.gauges_impl(now).await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<UserOut>> {
        self.get_user_impl(id).await
    }

    async fn update_user(&self, id: UserId, patch: UserPatch) -> Result<Option<UserOut>> {
        self.update_user_impl(id, patch).await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool> {
        self.delete_user_impl(id).await
    }

    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<bool> {
        self.set_password_impl(id, password_hash).await
    }

    async fn record_failed_login(
        &self,
        id: UserId,
        client: &str,
        at: DateTime<Utc>,
        policy: &LockoutPolicy,
    ) -> Result<LoginLocks> {
        self.record_failed_login_impl(id, client, at, policy).await
    }

    async fn client_login_state(
        &self,
        id: UserId,
        client: &str,
        now: DateTime<Utc>,
        policy: &LockoutPolicy,
    ) -> Result<ClientLoginState> {
        self.client_login_state_impl(id, client, now, policy).await
    }

    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId) -> Result<bool> {
        self.revoke_api_key_impl(tenant, id).await
    }

    async fn append_audit(&self, entry: super::NewAudit) -> Result<()> {
        self.append_audit_impl(entry).await
    }

    async fn list_audit(
        &self,
        tenant: Option<TenantId>,
        filter: &AuditFilter,
        before: Option<AuditId>,
        limit: u32,
    ) -> Result<Page<AuditOut>> {
        self.list_audit_impl(tenant, filter, before, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's `synchronous` on the writer and a reader: 1 is NORMAL, 2 is FULL.
    async fn synchronous_of(durability: super::super::Durability) -> (i64, i64) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let store = SqliteStore::connect(
            &url,
            std::sync::Arc::new(crate::vault::Vault::ephemeral()),
            durability,
        )
        .await
        .unwrap();
        let writer: i64 = sqlx::query_scalar("pragma synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let reader: i64 = sqlx::query_scalar("pragma synchronous")
            .fetch_one(store.reader())
            .await
            .unwrap();
        (writer, reader)
    }

    #[tokio::test]
    async fn durability_sets_how_commits_reach_the_disk() {
        use super::super::Durability;
        assert_eq!(synchronous_of(Durability::Power).await, (2, 2), "FULL");
        assert_eq!(synchronous_of(Durability::Process).await, (1, 1), "NORMAL");
    }
}
