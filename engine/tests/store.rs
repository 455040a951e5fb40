//! The store conformance suite. Every backend runs the same checks, so their
//! behaviour cannot drift; a backend joins by adding itself to `backends()`.

use std::sync::Arc;

use chrono::{Duration, Utc};
use herald_engine::EngineError;
use herald_engine::auth::{generate_api_key, generate_session_token, token_digest};
use herald_engine::model::{Role, Scope};
use herald_engine::store::{DEFAULT_TENANT, NewApiKey, NewUser, Store};

struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    /// For tests that inject failures with the backend's own SQL.
    url: String,
    _dir: tempfile::TempDir,
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
    vec![Backend {
        name: "sqlite",
        store,
        url,
        _dir: dir,
    }]
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
        let first = b
            .store
            .ensure_tenant(DEFAULT_TENANT, "Default")
            .await
            .unwrap();
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
            .create_user(user("Ops@Example.com", Role::Operator))
            .await
            .unwrap();
        assert_eq!(created.email, "ops@example.com", "{}", b.name);
        let err = b
            .store
            .create_user(user("OPS@example.com", Role::Viewer))
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
                    .create_user(user(&format!("u{i}@x.io"), Role::Viewer))
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
            .create_user(user("s@x.io", Role::Support))
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
        let default = b
            .store
            .ensure_tenant(DEFAULT_TENANT, "Default")
            .await
            .unwrap();
        let other = b.store.ensure_tenant("acme", "Acme").await.unwrap();
        let secret = generate_api_key();
        let created = b
            .store
            .create_api_key(NewApiKey {
                tenant_id: other.id,
                name: "ingest".into(),
                display_prefix: secret.display_prefix.clone(),
                key_digest: secret.digest.clone(),
                scope: Scope::Ingest,
            })
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

/// Ingest, claims, receipts and the DLQ.
#[path = "store/delivery.rs"]
mod delivery;
