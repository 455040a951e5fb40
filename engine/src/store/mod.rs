//! Persistence. One `Store` interface, one implementation per backend; the
//! conformance tests in `tests/store.rs` run the same suite against each.
//!
//! SQLite is the embedded default. PostgreSQL joins when several nodes share the
//! work; until its implementation lands, a `postgres://` URL is refused at start
//! with a message saying so.

mod delivery;
mod sqlite;
mod sqlite_accounts;
mod sqlite_checkpoints;
mod sqlite_delivery;
mod sqlite_dispatch;
mod sqlite_dlq;
mod sqlite_events;
mod sqlite_ingest;
mod sqlite_policies;
mod sqlite_replay;
mod sqlite_secrets;
mod sqlite_stats;

pub use delivery::*;
pub use sqlite::SqliteStore;
/// DLQ entries one reprocess call handles, in one transaction, on every backend.
pub const REPROCESS_BATCH: usize = 1_000;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use crate::model::{
    ApiKeyId, ApiKeyOut, AuditFilter, AuditId, AuditOut, CheckpointId, CheckpointIn, CheckpointOut,
    DeliveryId, DlqDetail, DlqEntryId, DlqEntryOut, EndpointId, EndpointOut, EventDetail, EventId,
    Page, ReplayFilter, ReplayId, ReplayOut, ReplayPreview, ReplayState, ReplayedDelivery,
    ReprocessOut, RetryPolicyId, RetryPolicyIn, RetryPolicyOut, RetryPolicyPatch, Role, Scope,
    SessionId, TenantId, TenantOut, TenantPatch, UserId, UserOut, UserPatch,
};
use crate::{EngineError, Result};

/// The tenant every installation starts with.
pub const DEFAULT_TENANT: &str = "default";

/// What a backend can and cannot do, declared by the backend so callers never
/// ask which database they are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// One Herald node uses the database: whatever is in flight when it starts
    /// was left by its own previous run.
    pub single_node: bool,
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Recognises a database URL by its scheme, or says what is accepted.
    pub fn from_url(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(format!(
                "'{}' is not a database URL Herald knows; expected sqlite://PATH or postgres://USER@HOST/DB",
                redact_url(url)
            ))
        }
    }
}

/// A URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// What a commit (and so a 202 to a publisher) survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A crash of Herald, not a power loss or an OS crash: the last commits
    /// may sit in the OS's cache (SQLite `synchronous = NORMAL`).
    Process,
    /// A power loss too: every commit is flushed to the disk before it is
    /// acknowledged (SQLite `synchronous = FULL`).
    #[default]
    Power,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Process => "process",
            Durability::Power => "power",
        }
    }
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "process" => Ok(Durability::Process),
            "power" => Ok(Durability::Power),
            other => Err(format!("got '{other}'")),
        }
    }
}

/// Opens the database a URL names and brings its schema up to date. Secrets are
/// sealed and opened with `vault`; `Store::reseal_secrets` settles old ones.
/// Commits are power-safe ([`Durability::Power`]); see [`connect_with`].
pub async fn connect(url: &str, vault: Arc<crate::vault::Vault>) -> Result<Arc<dyn Store>> {
    connect_with(url, vault, Durability::Power).await
}

/// [`connect`] with the durability of commits chosen.
pub async fn connect_with(
    url: &str,
    vault: Arc<crate::vault::Vault>,
    durability: Durability,
) -> Result<Arc<dyn Store>> {
    match Backend::from_url(url).map_err(|m| EngineError::invalid("database_url", m))? {
        Backend::Sqlite => {
            let store = SqliteStore::connect(url, vault, durability).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        Backend::Postgres => Err(EngineError::invalid(
            "database_url",
            "the PostgreSQL backend is not available in this version of Herald yet; use a sqlite:// URL",
        )),
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    /// `None`: a global user.
    pub tenant_id: Option<TenantId>,
}

/// Counts to add to the statistics of one endpoint and event type at a time
/// (what recording an attempt does; tests add samples directly).
#[derive(Debug, Clone)]
pub struct StatSample {
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    pub event_type: String,
    pub at: DateTime<Utc>,
    pub counts: crate::model::Counts,
}

/// A statistics query: a time range at one granularity, optionally narrowed
/// to an endpoint or event type, split into series by `group_by`.
#[derive(Debug, Clone)]
pub struct StatsQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: crate::model::Granularity,
    pub group_by: crate::model::GroupBy,
    pub endpoint_id: Option<EndpointId>,
    pub event_type: Option<String>,
    /// Only each group's total for the whole range: no points, no DLQ depth.
    /// One row per group to read instead of one per bucket and group.
    pub totals_only: bool,
}

/// An audit log entry to append.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub tenant_id: Option<TenantId>,
    pub actor: String,
    pub role: String,
    pub action: crate::model::AuditAction,
    pub target: String,
    pub summary: String,
    pub correlation_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub tenant_id: TenantId,
    pub name: String,
    pub display_prefix: String,
    pub key_digest: String,
    pub scope: Scope,
}

/// What a presented API key resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyAuth {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub tenant_slug: String,
    pub scope: Scope,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a live session cookie resolves to.
/// When failed sign-ins lock what. Counting per account *and* client address
/// keeps a guesser out of an account without letting anyone who knows an
/// email keep its owner out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures from one address (within `client_window`) that lock that
    /// address out of the account for `client_window`.
    pub client_threshold: u32,
    pub client_window: chrono::Duration,
    /// Failures from every address since the last success that lock the
    /// account; each further multiple locks it again for twice as long, up to
    /// `account_max_lock`. An address with no recent failures may still sign in.
    pub account_threshold: u32,
    pub account_lock: chrono::Duration,
    pub account_max_lock: chrono::Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            client_threshold: 5,
            client_window: chrono::Duration::minutes(15),
            account_threshold: 50,
            account_lock: chrono::Duration::minutes(15),
            account_max_lock: chrono::Duration::hours(24),
        }
    }
}

/// The locks a failed sign-in set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginLocks {
    pub client_locked_until: Option<DateTime<Utc>>,
    pub account_locked_until: Option<DateTime<Utc>>,
}

/// One address's standing with one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientLoginState {
    pub locked_until: Option<DateTime<Utc>>,
    pub recent_failures: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub session_id: SessionId,
    pub user: UserOut,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn capabilities(&self) -> Capabilities;
    /// Applies pending migrations; safe to call on every start.
    async fn migrate(&self) -> Result<()>;
    /// A round trip to the database, for readiness checks.
    async fn ping(&self) -> Result<()>;
    /// Closes every connection; later calls fail. Used at shutdown.
    async fn close(&self);

    async fn ensure_tenant(&self, slug: &str, name: &str) -> Result<TenantOut>;
    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantOut>>;
    /// Applies a checked settings change (see `validate::tenant_patch`).
    async fn update_tenant(&self, tenant: TenantId, patch: TenantPatch) -> Result<()>;

    /// Fails with `Conflict` when the email is taken (emails compare case-insensitively).
    async fn create_user(&self, user: NewUser) -> Result<UserOut>;
    async fn user_count(&self) -> Result<i64>;
    /// The user and their password hash, for login.
    async fn user_credentials(&self, email: &str) -> Result<Option<(UserOut, String)>>;
    async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Page<UserOut>>;
    /// A successful sign-in from `client`: clears the account-wide count and
    /// that address's.
    async fn record_login(&self, user: UserId, client: &str, at: DateTime<Utc>) -> Result<()>;

    async fn create_session(
        &self,
        user: UserId,
        token_digest: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<SessionId>;
    /// The session's user when the session exists and has not expired at `now`.
    async fn session_user(
        &self,
        token_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionUser>>;
    async fn delete_session(&self, token_digest: &str) -> Result<()>;
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64>;

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKeyOut>;
    /// The key's tenant and scope when it exists and is not revoked.
    async fn api_key_by_digest(&self, digest: &str) -> Result<Option<ApiKeyAuth>>;
    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<()>;
    async fn list_api_keys(
        &self,
        tenant: TenantId,
        after: Option<ApiKeyId>,
        limit: u32,
    ) -> Result<Page<ApiKeyOut>>;

    // Endpoints.
    /// Creates the endpoint and appends `audit`, in one transaction.
    async fn create_endpoint(
        &self,
        tenant: TenantId,
        endpoint: NewEndpoint,
        audit: &NewAudit,
    ) -> Result<EndpointOut>;
    async fn get_endpoint(&self, tenant: TenantId, id: EndpointId) -> Result<Option<EndpointOut>>;
    async fn list_endpoints(
        &self,
        tenant: TenantId,
        after: Option<EndpointId>,
        limit: u32,
    ) -> Result<Page<EndpointOut>>;
    /// Applies a checked patch; `None` when there is no such endpoint in the tenant.
    async fn update_endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
        patch: crate::model::EndpointPatch,
        audit: &NewAudit,
    ) -> Result<Option<EndpointOut>>;
    /// What is queued and parked for each of these endpoints (absent: nothing).
    async fn endpoint_backlog(
        &self,
        tenant: TenantId,
        endpoints: &[EndpointId],
    ) -> Result<std::collections::HashMap<EndpointId, crate::model::EndpointBacklog>>;
    /// Soft-deletes; its pending deliveries end as dead when next claimed.
    async fn delete_endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
        audit: &NewAudit,
    ) -> Result<bool>;
    /// Turns an endpoint off (with a reason) or back on. False when there is
    /// no such endpoint in the tenant.
    async fn set_endpoint_enabled(
        &self,
        tenant: TenantId,
        id: EndpointId,
        enabled: bool,
        reason: Option<&str>,
        audit: Option<&NewAudit>,
    ) -> Result<bool>;
    /// Makes `secret` the endpoint's signing secret; every older one keeps
    /// signing alongside it until `old_valid_until` at the latest. False when
    /// there is no such endpoint in the tenant.
    async fn rotate_secret(
        &self,
        tenant: TenantId,
        id: EndpointId,
        secret: crate::sign::Secret,
        old_valid_until: DateTime<Utc>,
        audit: &NewAudit,
    ) -> Result<bool>;

    // Named retry policies.
    /// Fails with `Conflict` when the tenant already has a policy of that name.
    /// Creates the policy (with the id the caller chose) and appends `audit`,
    /// in one transaction.
    async fn create_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
        policy: RetryPolicyIn,
        audit: &NewAudit,
    ) -> Result<RetryPolicyOut>;
    async fn get_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
    ) -> Result<Option<RetryPolicyOut>>;
    async fn list_retry_policies(
        &self,
        tenant: TenantId,
        after: Option<RetryPolicyId>,
        limit: u32,
    ) -> Result<Page<RetryPolicyOut>>;
    /// A changed policy applies to every endpoint following it, from its next attempt.
    async fn update_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
        patch: RetryPolicyPatch,
        audit: &NewAudit,
    ) -> Result<Option<RetryPolicyOut>>;
    /// Fails with `Conflict` while an endpoint follows the policy.
    async fn delete_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
        audit: &NewAudit,
    ) -> Result<bool>;

    // Ingest: events and their deliveries, durable in one transaction.
    /// All or nothing. An idempotency key seen before (in the tenant, or earlier
    /// in the same batch) yields the original event and creates nothing.
    async fn ingest(
        &self,
        tenant: TenantId,
        events: Vec<NewEvent>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Ingested>>;
    /// Every event type the tenant has published, alphabetically.
    async fn event_types(&self, tenant: TenantId) -> Result<Vec<EventTypeSummary>>;
    async fn event_detail(&self, tenant: TenantId, id: EventId) -> Result<Option<EventDetail>>;
    async fn list_events(
        &self,
        tenant: TenantId,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Page<EventSummary>>;

    // The dispatcher's side.
    /// Claims up to `limit` due deliveries with a lease until `lease_until`, in one
    /// statement, never more for one endpoint than brings its in-flight count to
    /// `per_endpoint`; nothing stays locked while they are sent.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        per_endpoint: u32,
    ) -> Result<Vec<Claimed>>;
    /// Settles in-flight deliveries whose lease ends before
    /// `leases_ending_before`: at-least-once ones are due again at `now`;
    /// at-most-once ones may have been sent, so they end dead in the DLQ with
    /// class `outcome_unknown`.
    async fn reclaim_expired(
        &self,
        leases_ending_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Settled>;
    /// Settles claims whose requests may have gone out but whose outcome is
    /// unknown (a shutdown stopped them), as [`Store::reclaim_expired`] does.
    /// A claim no longer held (its lease expired and it was settled) is left alone.
    async fn hand_back(
        &self,
        claims: &[(DeliveryId, ClaimToken)],
        now: DateTime<Utc>,
    ) -> Result<Settled>;
    /// Gives claims back unattempted (nothing was sent), due again at `at`.
    async fn release(&self, claims: &[(DeliveryId, ClaimToken)], at: DateTime<Utc>) -> Result<()>;
    /// Ends a claimed delivery without an attempt (its endpoint is gone or
    /// disabled): dead, with a DLQ entry saying why. False when the claim is
    /// no longer held (nothing changes).
    async fn abandon(&self, delivery: DeliveryId, claim: ClaimToken, reason: &str) -> Result<bool>;
    /// Appends each receipt and moves its delivery on, all in one transaction
    /// (the dispatcher group-commits the attempts that finish together). A
    /// receipt whose claim is no longer held (the delivery was settled or
    /// claimed again since, or no longer exists) is refused and changes
    /// nothing. One answer per outcome, in order.
    async fn record_attempts(&self, batch: Vec<AttemptOutcome>) -> Result<Vec<Recorded>>;
    /// The earliest time a pending delivery is due, if any.
    async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>>;

    // The dead-letter queue.
    async fn list_dlq(
        &self,
        tenant: TenantId,
        filter: &DlqFilter,
        limit: u32,
    ) -> Result<Page<DlqEntryOut>>;
    async fn dlq_count(&self, tenant: TenantId, filter: &DlqFilter) -> Result<u64>;
    async fn dlq_entry(&self, tenant: TenantId, id: DlqEntryId) -> Result<Option<DlqDetail>>;
    /// Up to `limit` ids of entries matching `filter`, newest first.
    async fn dlq_ids(
        &self,
        tenant: TenantId,
        filter: &DlqFilter,
        limit: u32,
    ) -> Result<Vec<DlqEntryId>>;
    /// Starts a fresh attempt chain for each entry's delivery (same webhook-id)
    /// and takes it out of the DLQ, recording who and why; at most
    /// [`REPROCESS_BATCH`] ids per call, in one transaction.
    async fn reprocess_dlq(
        &self,
        tenant: TenantId,
        ids: &[DlqEntryId],
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<ReprocessOut>;
    /// Removes the entry (the delivery stays dead), recording who and why.
    /// Removes the entry and appends `audit`, in one transaction.
    async fn discard_dlq(
        &self,
        tenant: TenantId,
        id: DlqEntryId,
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
        audit: &NewAudit,
    ) -> Result<bool>;

    // Replays and checkpoints.
    /// Re-arms the event's deliveries (to `endpoints`, or to every endpoint it
    /// matches now). `None` when the event is not the tenant's.
    async fn replay_event(
        &self,
        tenant: TenantId,
        event: EventId,
        endpoints: Option<&[EndpointId]>,
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<ReplayedDelivery>>>;
    async fn replay_preview(
        &self,
        tenant: TenantId,
        filter: &ReplayFilter,
        max_events: Option<u64>,
    ) -> Result<ReplayPreview>;
    async fn create_replay(
        &self,
        tenant: TenantId,
        replay: NewReplay,
        now: DateTime<Utc>,
    ) -> Result<ReplayOut>;
    /// The job (of `tenant`, when given).
    async fn get_replay(&self, tenant: Option<TenantId>, id: ReplayId)
    -> Result<Option<ReplayOut>>;
    async fn list_replays(
        &self,
        tenant: TenantId,
        before: Option<ReplayId>,
        limit: u32,
    ) -> Result<Page<ReplayOut>>;
    /// Moves a job (of `tenant`, when given) from one of `from` to `to`;
    /// false when it was in none of those states.
    async fn set_replay_state(
        &self,
        tenant: Option<TenantId>,
        id: ReplayId,
        from: &[ReplayState],
        to: ReplayState,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Every pending or running job, across tenants (the runner's view).
    async fn active_replays(&self) -> Result<Vec<(ReplayId, ReplayState)>>;
    /// Takes the job's next `max_events` events and arms their deliveries,
    /// saving the cursor in the same transaction.
    async fn replay_step(
        &self,
        id: ReplayId,
        max_events: u32,
        now: DateTime<Utc>,
    ) -> Result<ReplayStep>;
    async fn create_checkpoint(
        &self,
        tenant: TenantId,
        input: &CheckpointIn,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<CheckpointOut>;
    /// Every tenant, by slug.
    async fn list_tenants(&self) -> Result<Vec<TenantOut>>;
    /// Adds samples to the delivery statistics (recording attempts does this itself).
    async fn record_stats(&self, samples: Vec<StatSample>) -> Result<()>;
    /// The tenant's delivery statistics for a range.
    async fn stats(&self, tenant: TenantId, query: &StatsQuery) -> Result<crate::model::StatsOut>;
    /// Queue, DLQ, endpoint and replay counts for `/metrics`, across tenants.
    async fn gauges(&self, now: DateTime<Utc>) -> Result<crate::metrics::Gauges>;
    async fn get_user(&self, id: UserId) -> Result<Option<UserOut>>;
    async fn update_user(&self, id: UserId, patch: UserPatch) -> Result<Option<UserOut>>;
    async fn delete_user(&self, id: UserId) -> Result<bool>;
    /// Replaces the password hash and ends every session of the user.
    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<bool>;
    /// Counts a failed sign-in from `client` against the address's count for
    /// this account and the account-wide count, locking either as `policy`
    /// says. Returns the locks this failure set.
    async fn record_failed_login(
        &self,
        id: UserId,
        client: &str,
        at: DateTime<Utc>,
        policy: &LockoutPolicy,
    ) -> Result<LoginLocks>;
    /// Where `client` stands with this account at `now`: its lock, and whether
    /// it failed recently (within `policy.client_window`).
    async fn client_login_state(
        &self,
        id: UserId,
        client: &str,
        now: DateTime<Utc>,
        policy: &LockoutPolicy,
    ) -> Result<ClientLoginState>;
    /// Revokes a key of the tenant; false when there is no such live key.
    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId) -> Result<bool>;
    async fn append_audit(&self, entry: NewAudit) -> Result<()>;
    /// Newest first. `tenant: None` lists every tenant's entries and the
    /// console-wide ones (global admins); `Some` lists that tenant's only.
    async fn list_audit(
        &self,
        tenant: Option<TenantId>,
        filter: &AuditFilter,
        before: Option<AuditId>,
        limit: u32,
    ) -> Result<Page<AuditOut>>;

    /// Re-seals every endpoint secret and header value not sealed under the
    /// vault's current key (values in clear included), in one transaction;
    /// returns how many values changed.
    async fn reseal_secrets(&self) -> Result<u64>;

    /// The tenant's checkpoints (or just `id`), newest position first.
    async fn list_checkpoints(
        &self,
        tenant: TenantId,
        id: Option<CheckpointId>,
    ) -> Result<Vec<CheckpointOut>>;
    /// A page of the tenant's checkpoints, newest first, after the cursor `before`.
    async fn page_checkpoints(
        &self,
        tenant: TenantId,
        before: Option<CheckpointId>,
        limit: u32,
    ) -> Result<Page<CheckpointOut>>;
}

pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Parses an id read back from the database; a malformed one is corruption.
pub(crate) fn stored_id<T: std::str::FromStr>(value: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| EngineError::Internal(format!("corrupt id in database: {e}")))
}

/// Cuts a page out of `limit + 1` rows fetched in key order.
pub(crate) fn page_of<T>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(&key)
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

pub(crate) fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_by_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://data/herald.db"),
            Ok(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db"),
            Ok(Backend::Postgres)
        );
        let err = Backend::from_url("mysql://u:secret@h/db").unwrap_err();
        assert!(err.contains("sqlite://"), "{err}");
        assert!(!err.contains("secret"), "password leaked: {err}");
    }

    #[test]
    fn redaction_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://bob:pw@h:5432/db"),
            "postgres://bob:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://bob@h/db"), "postgres://bob@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn pages_carry_a_cursor_only_when_more_rows_exist() {
        let page = page_of(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let last = page_of(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(last.next_cursor, None);
    }
}
