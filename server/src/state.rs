//! The server's shared state, built once at start and handed to every handler.

use std::sync::Arc;

use axum::extract::FromRef;
use herald_app::ssr::ConsoleState;
use herald_engine::deps::Redis;
use herald_engine::service::Engine;
use herald_engine::store::{DEFAULT_TENANT, Store};
use leptos::config::LeptosOptions;

use crate::config::Config;

/// What every handler shares, behind one `Arc`: axum clones the state for
/// each extractor and middleware of every request, and a clone of the parts
/// themselves (two engines, the console's state, the Leptos options) costs
/// dozens of reference counts where this costs one.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The Leptos routes read their options from the state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub redis: Option<Redis>,
    pub leptos_options: LeptosOptions,
    pub console: ConsoleState,
    /// The operations the API and the console share.
    pub engine: Engine,
    pub limits: Limits,
    /// Reverse proxies whose X-Forwarded-For names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Requests per API key.
    pub api_limiter: Arc<herald_engine::limit::SharedLimiter<herald_engine::model::ApiKeyId>>,
    /// Unknown or malformed API keys per client address.
    pub bad_key_limiter: Arc<herald_engine::limit::SharedLimiter<std::net::IpAddr>>,
}

/// Request limits from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_payload_bytes: usize,
}

/// The admin account made on first start; the password is shown once.
#[derive(Debug, Clone)]
pub struct FirstRunAdmin {
    pub email: String,
    pub password: String,
    pub generated: bool,
}

/// Opens (and migrates) the database and makes sure the default tenant exists.
/// The file in the data directory that names this node on the leases it takes.
pub const NODE_FILE: &str = "node-id";

/// This node's name: made once per data directory and kept there, so a node
/// that restarts takes back at once what it left in flight.
fn node_name(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join(NODE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(name) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
        _ => {
            std::fs::create_dir_all(data_dir).map_err(|e| {
                anyhow::anyhow!("cannot create data directory {}: {e}", data_dir.display())
            })?;
            let name = format!("node_{}", ulid::Ulid::new());
            std::fs::write(&path, &name)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            Ok(name)
        }
    }
}

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create data directory {}: {e}",
                config.data_dir.display()
            )
        })?;
    }
    let vault = open_vault(config)?;
    let key_id = vault.current_key_id().to_owned();
    let node = node_name(&config.data_dir)?;
    let store = herald_engine::store::connect_node(
        &config.database_url,
        Arc::new(vault),
        config.durability,
        &node,
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot open database {}: {e}",
            herald_engine::store::redact_url(&config.database_url)
        )
    })?;
    let resealed = herald_engine::vault::reseal(
        store.as_ref(),
        &herald_engine::audit::AuditBy::system(),
        &key_id,
    )
    .await?;
    if resealed > 0 {
        tracing::info!(
            values = resealed,
            "endpoint secrets and header values sealed under the current master key"
        );
    }
    store.ensure_tenant(DEFAULT_TENANT, "Default").await?;
    Ok(store)
}

/// The master key from `HERALD_MASTER_KEY` or the data directory's key file
/// (generated on first start), as a vault.
pub fn open_vault(config: &Config) -> anyhow::Result<herald_engine::vault::Vault> {
    use herald_engine::vault::{KeySource, NEXT_KEY_FILE, load};
    let (vault, source) = load(&config.data_dir, config.master_key.as_deref())
        .map_err(|e| anyhow::anyhow!("master key (HERALD_MASTER_KEY or master.key): {e}"))?;
    match source {
        KeySource::Generated(path) => tracing::warn!(
            path = %path.display(),
            "generated a master key for secrets at rest: back it up, or set HERALD_MASTER_KEY"
        ),
        KeySource::File(_) | KeySource::Environment => {}
    }
    if config.data_dir.join(NEXT_KEY_FILE).exists() {
        tracing::warn!(
            "found {NEXT_KEY_FILE}: a master key rotation was interrupted; secrets stay under the current key, run `herald rotate-master-key` again"
        );
    }
    Ok(vault)
}

/// Creates the first admin when there are no users at all.
pub async fn ensure_first_admin(
    store: &dyn Store,
    config: &Config,
) -> anyhow::Result<Option<FirstRunAdmin>> {
    if store.user_count().await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.clone(), false),
        None => (herald_engine::auth::generate_password(), true),
    };
    let user = herald_engine::auth::register_user(
        store,
        &herald_engine::audit::AuditBy::system(),
        &config.admin_email,
        password.clone(),
        herald_engine::model::Role::Admin,
    )
    .await?;
    Ok(Some(FirstRunAdmin {
        email: user.email,
        password,
        generated,
    }))
}

pub fn leptos_options(config: &Config) -> LeptosOptions {
    crate::site::leptos_options(&config.site_dir, config.listen)
}
