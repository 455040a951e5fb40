//! The store conformance suite. Every backend runs the same checks, so their
//! behaviour cannot drift; a backend joins by adding itself to `backends()`.

// A scenario reads top to bottom: the function-length limit is for Herald's own code.
#![allow(clippy::too_many_lines)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use herald_engine::EngineError;
use herald_engine::auth::{generate_api_key, generate_session_token, token_digest};
use herald_engine::model::AuditAction;
use herald_engine::model::{Role, Scope};
use herald_engine::store::{DEFAULT_TENANT, NewApiKey, NewAudit, NewUser, Store};

struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    /// For tests that inject failures with the backend's own SQL.
    url: String,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<PgSchema>,
}

impl Backend {
    /// Makes every insert into `table` fail from now on, or only those of
    /// events of `event_type` when given (the table has that column).
    async fn refuse_inserts(&self, table: &str, event_type: Option<&str>) {
        if self.name == "sqlite" {
            let raw = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            let when = event_type.map_or(String::new(), |t| format!("when new.event_type = '{t}'"));
            sqlx::query(&format!(
                "create trigger refuse_{table} before insert on {table} {when} \
                 begin select raise(abort, 'injected failure'); end"
            ))
            .execute(&raw)
            .await
            .unwrap();
            raw.close().await;
        } else {
            let raw = sqlx::PgPool::connect(&self.url).await.unwrap();
            sqlx::query(&format!(
                "create function refuse_{table}() returns trigger language plpgsql as \
                 $$ begin raise exception 'injected failure'; end $$"
            ))
            .execute(&raw)
            .await
            .unwrap();
            let when =
                event_type.map_or(String::new(), |t| format!("when (new.event_type = '{t}')"));
            sqlx::query(&format!(
                "create trigger refuse_{table} before insert on {table} for each row {when} \
                 execute function refuse_{table}()"
            ))
            .execute(&raw)
            .await
            .unwrap();
            raw.close().await;
        }
    }
}

/// The database the PostgreSQL half of the suite runs in; each test gets a
/// schema of its own there, dropped when it ends.
fn postgres_base() -> Option<String> {
    match std::env::var("HERALD_TEST_POSTGRES") {
        Ok(v) if v == "skip" => None,
        Ok(v) if !v.is_empty() => Some(v),
        _ => Some("postgres://postgres@127.0.0.1:5432/herald_test".into()),
    }
}

/// A schema made for one test, dropped (with everything in it) when the
/// test's backends go.
struct PgSchema {
    base: String,
    name: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // A runtime of its own: drop runs inside the test's runtime.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let pool = sqlx::PgPool::connect(&base).await?;
                    // The test's own connections may still hold a transaction
                    // (their runtime is the one this drop blocks): ended here.
                    sqlx::query(
                        "select pg_terminate_backend(pid) from pg_stat_activity \
                         where application_name = $1 and pid <> pg_backend_pid()",
                    )
                    .bind(&name)
                    .execute(&pool)
                    .await?;
                    sqlx::query(&format!("drop schema if exists {name} cascade"))
                        .execute(&pool)
                        .await?;
                    pool.close().await;
                    Ok::<_, sqlx::Error>(())
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test schema {}", self.name);
        }
    }
}

/// A store on a fresh schema of the test database (made if missing).
async fn postgres_backend(base: &str) -> Backend {
    let unreachable = |e: sqlx::Error| -> ! {
        panic!(
            "PostgreSQL at {base} cannot be reached ({e}); start it, or set \
             HERALD_TEST_POSTGRES=skip to run the suite on SQLite alone"
        )
    };
    let pool = match sqlx::PgPool::connect(base).await {
        Ok(pool) => pool,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            // The test database does not exist yet: made from the server's own.
            let (server, db) = base
                .rsplit_once('/')
                .expect("a database URL names a database");
            let admin = sqlx::PgPool::connect(&format!("{server}/postgres"))
                .await
                .unwrap_or_else(|e| unreachable(e));
            // Two test binaries may race to make it: the loser is told it exists.
            let _ = sqlx::query(&format!("create database {db}"))
                .execute(&admin)
                .await;
            admin.close().await;
            sqlx::PgPool::connect(base)
                .await
                .unwrap_or_else(|e| unreachable(e))
        }
        Err(e) => unreachable(e),
    };
    let name = format!("t_{}", ulid::Ulid::new().to_string().to_lowercase());
    sqlx::query(&format!("create schema {name}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let schema = PgSchema {
        base: base.to_string(),
        name: name.clone(),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{name}&application_name={name}");
    let store = herald_engine::store::connect(
        &url,
        std::sync::Arc::new(herald_engine::vault::Vault::ephemeral()),
    )
    .await
    .expect("postgres opens");
    Backend {
        name: "postgres",
        store,
        url,
        _dir: None,
        _schema: Some(schema),
    }
}

async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = herald_engine::store::connect(
        &url,
        std::sync::Arc::new(herald_engine::vault::Vault::ephemeral()),
    )
    .await
    .expect("sqlite opens");
    let mut all = vec![Backend {
        name: "sqlite",
        store,
        url,
        _dir: Some(dir),
        _schema: None,
    }];
    if let Some(base) = postgres_base() {
        all.push(postgres_backend(&base).await);
    }
    all
}

/// Every delivery due at `at`, claimed with a 60 s lease (up to 100, with
/// no per-endpoint limit that a scenario's few deliveries could reach).
async fn claim_due_now(
    b: &Backend,
    at: chrono::DateTime<Utc>,
) -> Vec<herald_engine::store::Claimed> {
    b.store
        .claim_due(at, at + Duration::seconds(60), 100, 100, 1)
        .await
        .unwrap()
}

/// Who the suite's changes are by, as the audit log records them.
fn audit() -> NewAudit {
    NewAudit {
        tenant_id: None,
        actor: "store test".into(),
        role: "-".into(),
        action: AuditAction::EndpointCreate,
        target: "-".into(),
        summary: "a change made by the conformance suite".into(),
        correlation_id: None,
    }
}

/// The tenant every installation starts with.
async fn default_tenant(b: &Backend) -> herald_engine::model::TenantOut {
    b.store
        .ensure_tenant(DEFAULT_TENANT, "Default")
        .await
        .unwrap()
}

fn user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: email.into(),
        password_hash: "$argon2id$placeholder".into(),
        role,
        tenant_id: None,
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for b in backends().await {
        b.store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", b.name));
        b.store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", b.name));
        b.store.ping().await.unwrap();
    }
}

#[tokio::test]
async fn ensure_tenant_creates_once() {
    for b in backends().await {
        let first = default_tenant(&b).await;
        let again = b
            .store
            .ensure_tenant(DEFAULT_TENANT, "Other name")
            .await
            .unwrap();
        assert_eq!(first, again, "{}", b.name);
        assert_eq!(
            again.name, "Default",
            "{}: an existing tenant is not renamed",
            b.name
        );
        assert!(b.store.tenant_by_slug("missing").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn emails_are_unique_regardless_of_case() {
    for b in backends().await {
        let created = b
            .store
            .create_user(user("Ops@Example.com", Role::Operator), &audit())
            .await
            .unwrap();
        assert_eq!(created.email, "ops@example.com", "{}", b.name);
        let err = b
            .store
            .create_user(user("OPS@example.com", Role::Viewer), &audit())
            .await
            .unwrap_err();
        assert!(
            matches!(err, EngineError::Conflict { .. }),
            "{}: {err}",
            b.name
        );
        let (found, hash) = b
            .store
            .user_credentials(" ops@EXAMPLE.com ")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, created.id);
        assert_eq!(hash, "$argon2id$placeholder");
        assert_eq!(b.store.user_count().await.unwrap(), 1);
    }
}

#[tokio::test]
async fn users_page_in_creation_order() {
    for b in backends().await {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                b.store
                    .create_user(user(&format!("u{i}@x.io"), Role::Viewer), &audit())
                    .await
                    .unwrap()
                    .id,
            );
        }
        let first = b.store.list_users(None, 3).await.unwrap();
        assert_eq!(
            first.items.iter().map(|u| u.id).collect::<Vec<_>>(),
            ids[..3]
        );
        let cursor = first.next_cursor.expect("more pages").parse().unwrap();
        let second = b.store.list_users(Some(cursor), 3).await.unwrap();
        assert_eq!(
            second.items.iter().map(|u| u.id).collect::<Vec<_>>(),
            ids[3..]
        );
        assert!(second.next_cursor.is_none(), "{}", b.name);
    }
}

#[tokio::test]
async fn sessions_resolve_until_they_expire_or_are_deleted() {
    for b in backends().await {
        let u = b
            .store
            .create_user(user("s@x.io", Role::Support), &audit())
            .await
            .unwrap();
        let now = Utc::now();
        let (_, live) = generate_session_token();
        let (_, old) = generate_session_token();
        b.store
            .create_session(u.id, &live, now + Duration::hours(1))
            .await
            .unwrap();
        b.store
            .create_session(u.id, &old, now - Duration::seconds(1))
            .await
            .unwrap();

        let found = b
            .store
            .session_user(&live, now)
            .await
            .unwrap()
            .expect("live session");
        assert_eq!(found.user.id, u.id);
        assert_eq!(found.user.role, Role::Support);
        assert!(
            b.store.session_user(&old, now).await.unwrap().is_none(),
            "{}: expired",
            b.name
        );
        assert!(
            b.store
                .session_user("unknown", now)
                .await
                .unwrap()
                .is_none()
        );

        assert_eq!(
            b.store.delete_expired_sessions(now).await.unwrap(),
            1,
            "{}",
            b.name
        );
        b.store.delete_session(&live).await.unwrap();
        assert!(b.store.session_user(&live, now).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn api_keys_resolve_by_digest_within_their_tenant() {
    for b in backends().await {
        let default = default_tenant(&b).await;
        let other = b.store.ensure_tenant("acme", "Acme").await.unwrap();
        let secret = generate_api_key();
        let created = b
            .store
            .create_api_key(
                NewApiKey {
                    id: herald_engine::model::ApiKeyId::new(),
                    tenant_id: other.id,
                    name: "ingest".into(),
                    display_prefix: secret.display_prefix.clone(),
                    key_digest: secret.digest.clone(),
                    scope: Scope::Ingest,
                    endpoint_id: None,
                    default_source: None,
                },
                &audit(),
            )
            .await
            .unwrap();
        assert_eq!(created.tenant, "acme");
        assert_eq!(created.prefix, secret.display_prefix);

        let auth = b
            .store
            .api_key_by_digest(&token_digest(&secret.key))
            .await
            .unwrap()
            .expect("key resolves");
        assert_eq!(
            (auth.tenant_id, auth.scope),
            (other.id, Scope::Ingest),
            "{}",
            b.name
        );
        assert!(auth.last_used_at.is_none());
        b.store.touch_api_key(auth.id, Utc::now()).await.unwrap();
        let again = b
            .store
            .api_key_by_digest(&secret.digest)
            .await
            .unwrap()
            .unwrap();
        assert!(again.last_used_at.is_some(), "{}", b.name);

        assert!(
            b.store
                .api_key_by_digest(&token_digest("hrld_other"))
                .await
                .unwrap()
                .is_none()
        );
        // Tenant isolation: the other tenant's list does not show it.
        assert!(
            b.store
                .list_api_keys(default.id, None, 50)
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert_eq!(
            b.store
                .list_api_keys(other.id, None, 50)
                .await
                .unwrap()
                .items
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn a_closed_store_fails_instead_of_hanging() {
    for b in backends().await {
        b.store.close().await;
        assert!(b.store.ping().await.is_err(), "{}", b.name);
    }
}

/// With the audit insert refused, no account change goes through: tenants
/// and users are not created, users not changed or deleted, keys not issued
/// or revoked; with it in
/// place, each change leaves exactly one entry.
#[tokio::test]
async fn an_account_change_and_its_audit_entry_commit_together() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        let new_key = |secret: &herald_engine::auth::NewApiKeySecret| NewApiKey {
            id: herald_engine::model::ApiKeyId::new(),
            tenant_id: t.id,
            name: "k".into(),
            display_prefix: secret.display_prefix.clone(),
            key_digest: secret.digest.clone(),
            scope: Scope::Read,
            endpoint_id: None,
            default_source: None,
        };
        let kept_user = b
            .store
            .create_user(user("kept@x.io", Role::Viewer), &audit())
            .await
            .unwrap();
        let kept_secret = generate_api_key();
        let kept_key = b
            .store
            .create_api_key(new_key(&kept_secret), &audit())
            .await
            .unwrap();
        let entries = b
            .store
            .list_audit(None, &herald_engine::model::AuditQuery::default(), 50)
            .await
            .unwrap();
        assert_eq!(
            entries.items.len(),
            2,
            "{}: two changes, two entries",
            b.name
        );

        b.refuse_inserts("audit_log", None).await;
        let refused = |what: &str, failed: bool| assert!(failed, "{}: {what} went through", b.name);
        refused(
            "a new tenant",
            b.store
                .create_tenant("refused", "Refused", &audit())
                .await
                .is_err(),
        );
        assert!(
            b.store.tenant_by_slug("refused").await.unwrap().is_none(),
            "{}: a tenant was created without its audit entry",
            b.name
        );
        refused(
            "a new user",
            b.store
                .create_user(user("refused@x.io", Role::Viewer), &audit())
                .await
                .is_err(),
        );
        let patch = herald_engine::model::UserPatch {
            role: Some(Role::Admin),
            tenant_id: None,
        };
        refused(
            "a user change",
            b.store
                .update_user(kept_user.id, patch, &audit())
                .await
                .is_err(),
        );
        refused(
            "a user deletion",
            b.store.delete_user(kept_user.id, &audit()).await.is_err(),
        );
        let refused_secret = generate_api_key();
        refused(
            "a new key",
            b.store
                .create_api_key(new_key(&refused_secret), &audit())
                .await
                .is_err(),
        );
        refused(
            "a revocation",
            b.store
                .revoke_api_key(t.id, kept_key.id, &audit())
                .await
                .is_err(),
        );

        assert!(
            b.store
                .user_credentials("refused@x.io")
                .await
                .unwrap()
                .is_none(),
            "{}: a user was created without its audit entry",
            b.name
        );
        let user_now = b.store.get_user(kept_user.id).await.unwrap();
        assert_eq!(
            user_now.as_ref(),
            Some(&kept_user),
            "{}: a user was changed or deleted without its audit entry",
            b.name
        );
        assert!(
            b.store
                .api_key_by_digest(&refused_secret.digest)
                .await
                .unwrap()
                .is_none(),
            "{}: a key was issued without its audit entry",
            b.name
        );
        assert!(
            b.store
                .api_key_by_digest(&kept_secret.digest)
                .await
                .unwrap()
                .is_some(),
            "{}: a key was revoked without its audit entry",
            b.name
        );
    }
}

/// Changes and their audit entries, all or nothing.
#[path = "store/audited.rs"]
mod audited;
/// Ingest, claims, receipts and the DLQ.
#[path = "store/claims.rs"]
mod claims;

#[path = "store/delivery.rs"]
mod delivery;
/// Refused receipts and failed publishes.
#[path = "store/fencing.rs"]
mod fencing;
/// Every paged list and its cursor.
#[path = "store/held.rs"]
mod held;

#[path = "store/ordering.rs"]
mod ordering;

#[path = "store/rate.rs"]
mod rate;

/// Receiver acknowledgements and their deadlines.
#[path = "store/acks.rs"]
mod acks;

/// Circuit breakers: opening, probes, closing and disabling.
#[path = "store/breakers.rs"]
mod breakers;
/// Pull inboxes: leases, their ends, and the sweep.
#[path = "store/inbox.rs"]
mod inbox;
/// Operational webhooks: the operations endpoint and dead-letter alerts.
#[path = "store/ops.rs"]
mod ops;
/// Retention: pruning expired events and statistics, expunging an event.
#[path = "store/retention.rs"]
mod retention;

#[path = "store/paging.rs"]
mod paging;
/// The DLQ, replays, checkpoints, secrets and the audit log.
#[path = "store/recovery.rs"]
mod recovery;

/// Receipts and their state changes, handing claims back, statistics and
/// ordered replays.
#[path = "store/receipts.rs"]
mod receipts;

/// The DLQ's filters, its depth over time and the gauges.
#[path = "store/depth.rs"]
mod depth;

// The two schemas compared, and what each database does differently pinned.
#[path = "store/parity.rs"]
mod parity;

// Random operations on both backends, compared.
#[path = "store/differential.rs"]
mod differential;

/// Failed sign-ins and the lockout they lead to.
#[path = "store/lockout.rs"]
mod lockout;

// What nodes sharing one PostgreSQL database tell each other.
#[path = "store/nodes.rs"]
mod nodes;

// Receipts that lease the next deliveries into the slots they free.
#[path = "store/refill.rs"]
mod refill;

// Registered event types and their schema versions.
#[path = "store/catalog.rs"]
mod catalog;
