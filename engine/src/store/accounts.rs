//! Tenants, users, sign-in state, sessions and API keys.

use super::*;

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn ensure_tenant(&self, slug: &str, name: &str) -> Result<TenantOut>;
    /// Creates the tenant and appends `audit`, in one transaction; when the
    /// slug is taken, changes nothing and answers the existing tenant with
    /// `false`.
    async fn create_tenant(
        &self,
        slug: &str,
        name: &str,
        audit: &NewAudit,
    ) -> Result<(TenantOut, bool)>;
    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantOut>>;
    /// Applies a checked settings change (see `validate::tenant_patch`) and
    /// appends `audit`, in one transaction.
    async fn update_tenant(
        &self,
        tenant: TenantId,
        patch: TenantPatch,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Fails with `Conflict` when the email is taken (emails compare case-insensitively).
    /// Creates the user and appends `audit`, in one transaction.
    async fn create_user(&self, user: NewUser, audit: &NewAudit) -> Result<UserOut>;
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
    /// Stores the key (with the id the caller chose) and appends `audit`, in
    /// one transaction.
    async fn create_api_key(&self, key: NewApiKey, audit: &NewAudit) -> Result<ApiKeyOut>;
    /// The key's tenant and scope when it exists and is not revoked.
    async fn api_key_by_digest(&self, digest: &str) -> Result<Option<ApiKeyAuth>>;
    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<()>;
    async fn list_api_keys(
        &self,
        tenant: TenantId,
        after: Option<ApiKeyId>,
        limit: u32,
    ) -> Result<Page<ApiKeyOut>>;
    /// Every tenant, by slug.
    async fn list_tenants(&self) -> Result<Vec<TenantOut>>;
    async fn get_user(&self, id: UserId) -> Result<Option<UserOut>>;
    /// Applies the patch and appends `audit`, in one transaction; `None` (and
    /// nothing appended) when there is no such user.
    async fn update_user(
        &self,
        id: UserId,
        patch: UserPatch,
        audit: &NewAudit,
    ) -> Result<Option<UserOut>>;
    /// Deletes the user (their sessions go with them) and appends `audit`, in
    /// one transaction; false (and nothing appended) when there is no such user.
    async fn delete_user(&self, id: UserId, audit: &NewAudit) -> Result<bool>;
    /// Replaces the password hash, ends every session of the user and appends
    /// `audit`, in one transaction; false (and nothing changed) when there is
    /// no such user.
    async fn set_password(&self, id: UserId, password_hash: &str, audit: &NewAudit)
    -> Result<bool>;
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
    /// Revokes a key of the tenant and appends `audit`, in one transaction;
    /// false (and nothing appended) when there is no such live key.
    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        audit: &NewAudit,
    ) -> Result<bool>;
}
