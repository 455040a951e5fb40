//! The values the store's areas take and give that are not API models.

use chrono::{DateTime, Utc};

use crate::model::{ApiKeyId, EndpointId, Role, Scope, SessionId, TenantId, UserOut};

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
pub struct StatsScope {
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

/// Builds the audit entry of a change whose wording depends on what it did;
/// the store calls it inside the change's transaction and writes what it
/// returns there (`None`: the change did nothing worth an entry).
pub type AuditWith<'a, T> = dyn Fn(&T) -> Option<NewAudit> + Send + Sync + 'a;

/// [`AuditWith`] for an ingest, which the ingest writer runs on its own task.
pub type IngestAudit = Box<AuditWith<'static, Vec<crate::store::Ingested>>>;

/// One publish request in an ingest group.
pub struct Publish {
    pub tenant: TenantId,
    pub events: Vec<crate::store::NewEvent>,
    pub now: DateTime<Utc>,
    /// The audit entry to commit with the events, if the publish is a change
    /// someone made (a test event).
    pub audit: Option<IngestAudit>,
    /// The tenant's catalog revision the events were checked against at
    /// ingest (none: not checked): the request is refused with
    /// `CatalogChanged`, and nothing written, when the catalog or the
    /// tenant's schema settings changed since.
    pub catalog_revision: Option<i64>,
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
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    pub display_prefix: String,
    pub key_digest: String,
    pub scope: Scope,
    /// The inbox a `consume` key is bound to.
    pub endpoint_id: Option<crate::model::EndpointId>,
    /// The source the events it publishes carry when they name none.
    pub default_source: Option<String>,
}

/// What a presented API key resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyAuth {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub tenant_slug: String,
    pub scope: Scope,
    /// The inbox a `consume` key is bound to.
    pub endpoint_id: Option<crate::model::EndpointId>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The source the events it publishes carry when they name none.
    pub default_source: Option<String>,
}

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

/// What a live session cookie resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub session_id: SessionId,
    pub user: UserOut,
    pub expires_at: DateTime<Utc>,
}
