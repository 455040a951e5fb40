//! Administration from the console: users and their roles and tenants, the
//! working tenant of a global user, API keys, and the audit log.

use herald_engine::model::{ApiKeyOut, AuditOut, AuditQuery, Page, TenantOut, UserOut};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

/// Entries the audit page shows at once.
pub const AUDIT_PAGE: u32 = 50;

/// A key just made: its listing and the key itself, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyCreated {
    pub listing: ApiKeyOut,
    pub key: String,
}

/// The tenants a user may work in, and which one they work in now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenancy {
    pub tenants: Vec<TenantOut>,
    pub current: String,
    /// Bound users cannot switch.
    pub can_switch: bool,
}

#[cfg(feature = "ssr")]
fn tenant_by_slug_or_global(
    tenants: &[TenantOut],
    slug: &str,
) -> Result<Option<herald_engine::model::TenantId>, ConsoleError> {
    let slug = slug.trim();
    if slug.is_empty() {
        return Ok(None);
    }
    tenants
        .iter()
        .find(|t| t.slug == slug)
        .map(|t| Some(t.id))
        .ok_or_else(|| {
            crate::ssr::fail(ConsoleError::Invalid {
                field: "tenant".into(),
                message: format!("there is no tenant '{slug}'"),
            })
        })
}

/// A form field naming a role or scope, parsed; a bad one names the choices.
#[cfg(feature = "ssr")]
fn parse_field<T>(field: &str, text: &str) -> Result<T, ConsoleError>
where
    T: std::str::FromStr<Err = herald_engine::model::ParseEnumError>,
{
    text.parse()
        .map_err(|e: herald_engine::model::ParseEnumError| {
            crate::ssr::fail(ConsoleError::Invalid {
                field: field.into(),
                message: e.to_string(),
            })
        })
}

/// Every tenant, and the one the signed-in user works in.
#[server(prefix = "/fn", endpoint = "tenant_choice")]
pub async fn tenant_choice() -> Result<Tenancy, ConsoleError> {
    use crate::ssr::{console_state, console_tenant, require};
    use herald_engine::model::Permission;
    let user = require(Permission::Read)?;
    let state = console_state()?;
    let current = console_tenant(&state).await?;
    let all = state.store.list_tenants().await?;
    let tenants: Vec<TenantOut> = match user.tenant_id {
        Some(own) => all.into_iter().filter(|t| t.id == own).collect(),
        None => all,
    };
    let current = tenants
        .iter()
        .find(|t| t.id == current)
        .map(|t| t.slug.clone())
        .unwrap_or_default();
    Ok(Tenancy {
        tenants,
        current,
        can_switch: user.tenant_id.is_none(),
    })
}

/// A global user chooses the tenant the console shows them.
#[server(prefix = "/fn", endpoint = "switch_tenant")]
pub async fn switch_tenant(slug: String) -> Result<(), ConsoleError> {
    use crate::ssr::{TENANT_COOKIE, console_state, fail, require};
    use herald_engine::model::Permission;
    let user = require(Permission::Read)?;
    if user.tenant_id.is_some() {
        return Err(fail(ConsoleError::Forbidden {
            role: user.role.to_string(),
            permission: "switch tenants (this user is bound to one)".into(),
        }));
    }
    let state = console_state()?;
    let tenants = state.store.list_tenants().await?;
    let Some(tenant) = tenants.iter().find(|t| t.slug == slug.trim()) else {
        return Err(fail(ConsoleError::Invalid {
            field: "slug".into(),
            message: format!("there is no tenant '{}'", slug.trim()),
        }));
    };
    if let (Some(options), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(&format!(
            "{TENANT_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax{}",
            tenant.slug,
            if state.secure_cookies { "; Secure" } else { "" }
        )),
    ) {
        options.append_header(http::header::SET_COOKIE, value);
    }
    leptos_axum::redirect("/");
    Ok(())
}

/// Every console user, oldest first. Admins only.
#[server(prefix = "/fn", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserOut>, ConsoleError> {
    use herald_engine::model::Permission;
    let _admin = crate::ssr::require(Permission::ManageUsers)?;
    let store = crate::ssr::console_state()?.store;
    let mut users = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_users(after, 200).await?;
        users.extend(page.items);
        match page.next_cursor {
            Some(cursor) => after = Some(cursor.parse().map_err(crate::ssr::internal)?),
            None => return Ok(users),
        }
    }
}

/// Creates a console user. `tenant` is a tenant slug, or empty for a global user.
#[server(prefix = "/fn", endpoint = "create_user")]
pub async fn create_user(
    email: String,
    role: String,
    tenant: String,
    password: String,
) -> Result<UserOut, ConsoleError> {
    use crate::ssr::{by_user, console_state, require};
    use herald_engine::model::{Permission, Role};
    let admin = require(Permission::ManageUsers)?;
    let state = console_state()?;
    let role: Role = parse_field("role", &role)?;
    let tenants = state.store.list_tenants().await?;
    let tenant_id = tenant_by_slug_or_global(&tenants, &tenant)?;
    let user = herald_engine::auth::register_user_in(
        state.store.as_ref(),
        &by_user(&admin),
        email.trim(),
        password,
        role,
        tenant_id,
    )
    .await?;
    Ok(user)
}

/// Changes a user's role and tenant binding. Admins cannot change their own
/// role (so the console always keeps an admin who can undo a mistake).
#[server(prefix = "/fn", endpoint = "update_user")]
pub async fn update_user(
    id: String,
    role: String,
    tenant: String,
) -> Result<UserOut, ConsoleError> {
    use crate::ssr::{by_user, console_state, fail, parse_id, require};
    use herald_engine::model::{Permission, Role, UserId};
    let admin = require(Permission::ManageUsers)?;
    let state = console_state()?;
    let id: UserId = parse_id("user", &id)?;
    let role: Role = parse_field("role", &role)?;
    if id == admin.id && role != admin.role {
        return Err(fail(ConsoleError::Invalid {
            field: "role".into(),
            message: "you cannot change your own role; ask another admin".into(),
        }));
    }
    let tenants = state.store.list_tenants().await?;
    let tenant_id = tenant_by_slug_or_global(&tenants, &tenant)?;
    let user = herald_engine::auth::update_user(
        state.store.as_ref(),
        &by_user(&admin),
        id,
        role,
        tenant_id,
    )
    .await?
    .ok_or_else(|| {
        fail(ConsoleError::NotFound {
            message: format!("user '{id}' was not found"),
        })
    })?;
    Ok(user)
}

/// Deletes a user and ends their sessions. Admins cannot delete themselves.
#[server(prefix = "/fn", endpoint = "delete_user")]
pub async fn delete_user(id: String) -> Result<(), ConsoleError> {
    use crate::ssr::{by_user, console_state, fail, parse_id, require};
    use herald_engine::model::{Permission, UserId};
    let admin = require(Permission::ManageUsers)?;
    let state = console_state()?;
    let id: UserId = parse_id("user", &id)?;
    if id == admin.id {
        return Err(fail(ConsoleError::Invalid {
            field: "id".into(),
            message: "you cannot delete your own account".into(),
        }));
    }
    if !herald_engine::auth::delete_user(state.store.as_ref(), &by_user(&admin), id).await? {
        return Err(fail(ConsoleError::NotFound {
            message: format!("user '{id}' was not found"),
        }));
    }
    Ok(())
}

/// The working tenant's live API keys.
#[server(prefix = "/fn", endpoint = "list_api_keys")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyOut>, ConsoleError> {
    use crate::ssr::{console_state, console_tenant, require};
    use herald_engine::model::Permission;
    require(Permission::ManageApiKeys)?;
    let state = console_state()?;
    let tenant = console_tenant(&state).await?;
    live_keys(&state, tenant).await
}

/// Every live key of `tenant`, page by page.
#[cfg(feature = "ssr")]
async fn live_keys(
    state: &crate::ssr::ConsoleState,
    tenant: herald_engine::model::TenantId,
) -> Result<Vec<ApiKeyOut>, ConsoleError> {
    let mut keys = Vec::new();
    let mut after = None;
    loop {
        let page = state.store.list_api_keys(tenant, after, 200).await?;
        keys.extend(page.items);
        match page.next_cursor {
            Some(cursor) => after = Some(cursor.parse().map_err(crate::ssr::internal)?),
            None => return Ok(keys),
        }
    }
}

/// Creates an API key in the working tenant; the key is shown this once.
#[server(prefix = "/fn", endpoint = "create_api_key")]
pub async fn create_api_key(name: String, scope: String) -> Result<KeyCreated, ConsoleError> {
    use crate::ssr::{Call, by_user, open};
    use herald_engine::model::{Permission, Scope};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageApiKeys).await?;
    let scope: Scope = parse_field("scope", &scope)?;
    let (listing, key) = herald_engine::auth::issue_api_key(
        state.store.as_ref(),
        &by_user(&user),
        tenant,
        &name,
        scope,
    )
    .await?;
    Ok(KeyCreated { listing, key })
}

#[server(prefix = "/fn", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(id: String) -> Result<(), ConsoleError> {
    use crate::ssr::{Call, by_user, fail, open, parse_id};
    use herald_engine::model::{ApiKeyId, Permission};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageApiKeys).await?;
    let key: ApiKeyId = parse_id("API key", &id)?;
    if !herald_engine::auth::revoke_api_key(state.store.as_ref(), &by_user(&user), tenant, key)
        .await?
    {
        return Err(fail(ConsoleError::NotFound {
            message: format!("API key '{id}' was not found"),
        }));
    }
    Ok(())
}

/// The audit log, newest first: a bound user's tenant only; a global user's
/// across every tenant, console-wide entries included.
#[server(prefix = "/fn", endpoint = "list_audit")]
pub async fn list_audit(query: AuditQuery) -> Result<Page<AuditOut>, ConsoleError> {
    use crate::ssr::{console_state, console_tenant, require};
    use herald_engine::model::Permission;
    let user = require(Permission::ReadAudit)?;
    let state = console_state()?;
    let mut page = state
        .store
        .list_audit(user.tenant_id, &query, AUDIT_PAGE)
        .await?;
    // API keys by name (the working tenant's live keys; others by id).
    if page.items.iter().any(|e| e.actor.starts_with(KEY_ACTOR)) {
        let tenant = console_tenant(&state).await?;
        let names: std::collections::HashMap<String, String> = live_keys(&state, tenant)
            .await?
            .into_iter()
            .map(|k| (k.id.to_string(), k.name))
            .collect();
        for e in &mut page.items {
            if let Some(name) = e.actor.strip_prefix(KEY_ACTOR).and_then(|id| names.get(id)) {
                e.actor = format!("API key “{name}” ({})", &e.actor[KEY_ACTOR.len()..]);
            }
        }
    }
    Ok(page)
}

/// How the audit log names an API key acting (`AuditBy::key`).
#[cfg(feature = "ssr")]
const KEY_ACTOR: &str = "api key ";
