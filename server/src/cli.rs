//! The `herald` command line.

use clap::{Parser, Subcommand};
use herald_engine::audit::AuditBy;
use herald_engine::model::{Role, Scope};

use crate::config::{CommonArgs, Config, ServeArgs};
use crate::remote::{CheckpointAction, DlqAction, EventsAction, Remote, ReplayArgs, ReplaysAction};

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Herald: webhook delivery engine and operator console"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start: the size of the `serve` variant's settings costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: API, console and delivery engine.
    Serve {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate {
        /// Change nothing: say which migrations starting this Herald would
        /// apply (exit code 0 when none, 1 when some). Safe while servers run.
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Copy a stopped SQLite Herald (events, deliveries, receipts, DLQ,
    /// replays, checkpoints, accounts, keys, sealed secrets, audit) into an
    /// empty PostgreSQL database, with a progress bar, then count every table
    /// on both sides. Start the PostgreSQL nodes with the same master key.
    #[command(name = "migrate-store")]
    MigrateStore {
        /// The SQLite database, e.g. sqlite://./data/herald.db. Its directory
        /// is locked while the copy runs: a server on it must be stopped.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database, e.g. postgres://herald@db/herald. Refused
        /// unless every table is empty.
        #[arg(long)]
        to: String,
    },
    /// Copy the SQLite database of a Herald, running or not, to a new file:
    /// a consistent snapshot, checked before it gets its name. For
    /// PostgreSQL use pg_dump (see the README's Backups section).
    Backup {
        /// The file to write; refused if it exists.
        #[arg(long)]
        to: std::path::PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Put a backup made by `herald backup` in place as the database of an
    /// empty data directory (no server may run on it), then bring its schema
    /// up to date.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: std::path::PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Manage console users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Re-encrypt every endpoint secret and header value under a new master key.
    /// Refused while a server runs on the same data directory (stop it first).
    #[command(name = "rotate-master-key")]
    RotateMasterKey {
        /// The new key (32 bytes, base64 or hex). Required when the current key
        /// comes from HERALD_MASTER_KEY; otherwise one is generated and written
        /// to the data directory's master.key.
        #[arg(long, env = "HERALD_NEW_MASTER_KEY", hide_env_values = true)]
        new_key: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Manage API keys.
    #[command(name = "api-key")]
    ApiKey {
        #[command(subcommand)]
        action: ApiKeyAction,
    },
    /// Print the REST API's OpenAPI 3.1 document (JSON), as the server serves
    /// it at /api/v1/openapi.json: for client generators, offline.
    Openapi,
    /// Ask a running Herald whether it serves: each dependency with its
    /// latency; exit code 0 when it does, 1 when it does not (server).
    Health {
        #[command(flatten)]
        remote: Remote,
    },
    /// Replay stored events matching a filter, with a progress bar (server).
    Replay {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        args: ReplayArgs,
    },
    /// Replay jobs: list, show, pause, resume, cancel (server).
    Replays {
        #[command(subcommand)]
        action: ReplaysAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// Replay one event now (server).
    #[command(name = "replay-event")]
    ReplayEvent {
        id: String,
        /// Only to this endpoint (repeat for several).
        #[arg(long = "endpoint")]
        endpoints: Vec<String>,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Erase one event's payload and its receipts' bodies for a privacy
    /// request, keeping that it existed; audited with the reason (server).
    Expunge {
        /// The event's id (evt_…).
        #[arg(long)]
        event: String,
        /// Why (required, recorded in the audit log).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Named positions in the event sequence, and recovering from them (server).
    Checkpoint {
        #[command(subcommand)]
        action: CheckpointAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// The dead-letter queue (server).
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// Endpoints: list, pause and resume, blocked streams (server).
    Endpoints {
        #[command(subcommand)]
        action: crate::remote::EndpointsAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// A pull inbox: lease, acknowledge and hand back its messages; its
    /// depth and consumers (server).
    Inbox {
        #[command(subcommand)]
        action: crate::remote::InboxAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// Stored events (server).
    Events {
        #[command(subcommand)]
        action: EventsAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// The event catalog: list, show, push a catalog file, pull it (server).
    #[command(name = "event-types")]
    EventTypes {
        #[command(subcommand)]
        action: crate::remote::EventTypesAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// Checks that every stored schema version compiles and, with --events N,
    /// that each type's last N events pass its current schema; exit code 1
    /// when anything fails (server; --events needs a manage key).
    #[command(name = "validate-schemas")]
    ValidateSchemas {
        /// Also validate each type's last N stored events (1 to 10000).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        events: Option<u32>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a console user. Without --password a random one is printed once.
    Create {
        #[arg(long)]
        email: String,
        /// admin, operator, support, developer or viewer.
        #[arg(long)]
        role: Role,
        #[arg(long, env = "HERALD_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantAction {
    /// Create a tenant (or show the one with this slug).
    Create {
        /// Short name used in URLs and commands: a-z, 0-9 and '-'.
        #[arg(long)]
        slug: String,
        /// Display name [default: the slug].
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyAction {
    /// Create an API key for a tenant; the key is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// Slug of the tenant the key belongs to.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// ingest, read, manage, all or consume.
        #[arg(long, default_value = "all")]
        scope: Scope,
        /// With --scope consume: the inbox endpoint the key consumes.
        #[arg(long)]
        endpoint: Option<String>,
        /// The source given to the events this key publishes that name none.
        #[arg(long)]
        default_source: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// Runs a parsed command line. Errors are printed by `main`.
pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Replay { remote, args } => crate::remote::replay(remote, args).await,
        Command::ReplayEvent {
            id,
            endpoints,
            reason,
            remote,
        } => crate::remote::replay_event(remote, id, endpoints, reason).await,
        Command::Replays { action, remote } => crate::remote::replays(remote, action).await,
        Command::Expunge {
            event,
            reason,
            remote,
        } => crate::remote::expunge(remote, &event, reason).await,
        Command::Checkpoint { action, remote } => crate::remote::checkpoint(remote, action).await,
        Command::Dlq { action, remote } => crate::remote::dlq(remote, action).await,
        Command::Events { action, remote } => crate::remote::events(remote, action).await,
        Command::EventTypes { action, remote } => crate::remote::event_types(remote, action).await,
        Command::ValidateSchemas { events, remote } => {
            crate::remote::validate_schemas(remote, events).await
        }
        Command::Endpoints { action, remote } => crate::remote::endpoints(remote, action).await,
        Command::Inbox { action, remote } => crate::remote::inbox(remote, action).await,
        Command::Health { remote } => crate::remote::health(&remote).await,
        Command::Serve { common, serve } => serve_command(&common, &serve).await,
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(crate::api::docs::document_json())?
            );
            Ok(())
        }
        Command::Migrate {
            check: true,
            common,
        } => migrate_check(&common).await,
        Command::Migrate { common, .. } => migrate(&common).await,
        Command::MigrateStore { from, to } => migrate_store(&from, &to).await,
        Command::Backup { to, common } => {
            crate::backup::backup(&offline_config(&common)?, &to).await
        }
        Command::Restore { from, common } => {
            crate::backup::restore(&offline_config(&common)?, &from).await
        }
        Command::User {
            action:
                UserAction::Create {
                    email,
                    role,
                    password,
                    common,
                },
        } => {
            let config = offline_config(&common)?;
            let (password, generated) = match password {
                Some(p) => (p, false),
                None => (herald_engine::auth::generate_password(), true),
            };
            // Checked before the database is opened, so a refused command creates nothing.
            herald_engine::auth::validate_password(&password)?;
            if !herald_engine::auth::plausible_email(&email) {
                anyhow::bail!("--email: '{email}' is not an email address");
            }
            let store = crate::state::open_store(&config).await?;
            let user = herald_engine::auth::register_user(
                store.as_ref(),
                &AuditBy::cli(),
                &email,
                password.clone(),
                role,
            )
            .await;
            store.close().await;
            let user = user?;
            println!("Created {} user {} ({})", user.role, user.email, user.id);
            if generated {
                println!("Password (shown only once): {password}");
            }
            Ok(())
        }
        Command::RotateMasterKey { new_key, common } => {
            rotate_master_key(&offline_config(&common)?, new_key).await
        }
        Command::Tenant {
            action: TenantAction::Create { slug, name, common },
        } => {
            let config = offline_config(&common)?;
            herald_engine::validate::tenant_slug(&slug).map_err(|e| anyhow::anyhow!("--{e}"))?;
            let store = crate::state::open_store(&config).await?;
            let tenant = herald_engine::auth::create_tenant(
                store.as_ref(),
                &AuditBy::cli(),
                &slug,
                name.as_deref().unwrap_or(&slug),
            )
            .await;
            store.close().await;
            let (tenant, _) = tenant?;
            println!("Tenant '{}' ({}): {}", tenant.slug, tenant.id, tenant.name);
            Ok(())
        }
        Command::ApiKey {
            action:
                ApiKeyAction::Create {
                    name,
                    tenant,
                    scope,
                    endpoint,
                    default_source,
                    common,
                },
        } => {
            let endpoint = endpoint
                .map(|e| e.parse::<herald_engine::model::EndpointId>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("--endpoint: {e}"))?;
            let config = offline_config(&common)?;
            herald_engine::auth::validate_key_name(&name).map_err(|e| anyhow::anyhow!("--{e}"))?;
            let store = crate::state::open_store(&config).await?;
            let result = async {
                let tenant = store
                    .tenant_by_slug(&tenant)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("--tenant: there is no tenant '{tenant}'"))?;
                let issued = herald_engine::auth::issue_bound_api_key(
                    store.as_ref(),
                    &AuditBy::cli(),
                    tenant.id,
                    &name,
                    scope,
                    herald_engine::auth::KeyBinding {
                        endpoint,
                        default_source,
                    },
                )
                .await?;
                anyhow::Ok(issued)
            }
            .await;
            store.close().await;
            let (listing, key) = result?;
            println!(
                "Created API key '{}' ({}) for tenant '{}' with scope '{}'.",
                listing.name, listing.id, listing.tenant, listing.scope
            );
            println!("Key (shown only once): {key}");
            Ok(())
        }
    }
}

/// `herald migrate-store`: the copy, with a progress bar on stderr.
async fn serve_command(common: &CommonArgs, serve: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(common, serve)?;
    crate::init_tracing(&config.log, config.log_format);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (HERALD_LISTEN): {e}", config.listen))?;
    crate::run(config, listener).await
}

async fn migrate(common: &CommonArgs) -> anyhow::Result<()> {
    let config = offline_config(common)?;
    let _lock = crate::lock::lock_data_dir(&config.data_dir)?;
    crate::state::open_store(&config).await?.close().await;
    println!(
        "Database {} is up to date.",
        herald_engine::store::redact_url(&config.database_url)
    );
    Ok(())
}

async fn migrate_check(common: &CommonArgs) -> anyhow::Result<()> {
    let config = offline_config(common)?;
    let url = herald_engine::store::redact_url(&config.database_url);
    let status = herald_engine::store::schema::status(&config.database_url).await?;
    if !status.unknown.is_empty() {
        anyhow::bail!(
            "{url} was upgraded by a newer Herald (migrations {:?}, which this Herald does not \
             know): run that version or a later one",
            status.unknown
        );
    }
    println!(
        "Database {url}: schema {}; this Herald's newest is {}.",
        status.applied, status.newest
    );
    if status.pending.is_empty() {
        println!("Up to date: starting this Herald changes no schema.");
        return Ok(());
    }
    println!(
        "{} pending migration(s), applied when this Herald starts (or by `herald migrate`):",
        status.pending.len()
    );
    for (version, description) in &status.pending {
        println!("  {version:04} {description}");
    }
    std::process::exit(1);
}

async fn migrate_store(from: &str, to: &str) -> anyhow::Result<()> {
    use herald_engine::store::{Backend, copy, redact_url};
    if Backend::from_url(from) != Ok(Backend::Sqlite) {
        anyhow::bail!("--from: expected sqlite://PATH, got '{}'", redact_url(from));
    }
    if Backend::from_url(to) != Ok(Backend::Postgres) {
        anyhow::bail!(
            "--to: expected postgres://USER@HOST/DB, got '{}'",
            redact_url(to)
        );
    }
    let file = std::path::PathBuf::from(
        from.trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default(),
    );
    // The server that wrote it holds its data directory's lock while it runs.
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    let _lock = crate::lock::lock_data_dir(dir)?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:30}] {pos}/{len} rows · {msg} · {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("#>-"),
    );
    let copied = copy::sqlite_to_postgres(from, to, &|p| {
        bar.set_length(p.total);
        bar.set_position(p.copied);
        bar.set_message(p.table.to_owned());
    })
    .await;
    bar.finish_and_clear();
    let copied = copied?;
    println!(
        "Copied {} rows from {} to {}; every table counted again on both sides:",
        copied.rows(),
        redact_url(from),
        redact_url(to)
    );
    for (table, rows) in &copied.tables {
        println!("  {table:<24} {rows}");
    }
    println!(
        "Start the PostgreSQL nodes with the master key this SQLite Herald used \
         (its data directory's master.key, or HERALD_MASTER_KEY)."
    );
    Ok(())
}

/// Re-seals every secret under a new key. With a key file, the new key is
/// written to `master.key.next` first and renamed over `master.key` only after
/// the database commits, so an interruption at any point leaves every secret
/// readable (start-up opens both files and settles on `master.key`).
async fn rotate_master_key(config: &Config, new_key: Option<String>) -> anyhow::Result<()> {
    use herald_engine::vault::{KEY_FILE, MasterKey, NEXT_KEY_FILE, write_key_file};
    // A running server keeps sealing with the old key: refuse while one holds the data.
    let _lock = crate::lock::lock_data_dir(&config.data_dir)?;
    let from_env = config.master_key.is_some();
    let new = match new_key {
        Some(text) => MasterKey::parse(&text).map_err(|e| anyhow::anyhow!("--new-key: {e}"))?,
        None if from_env => anyhow::bail!(
            "the current key comes from HERALD_MASTER_KEY: give the new one with --new-key \
             (or HERALD_NEW_MASTER_KEY), so it is in your hands before anything is re-sealed"
        ),
        None => MasterKey::generate(),
    };
    let old = crate::state::open_vault(config)?;
    if old.current_key_id() == new.id() {
        anyhow::bail!("--new-key: that is the current master key");
    }
    let next_path = config.data_dir.join(NEXT_KEY_FILE);
    if !from_env {
        write_key_file(&next_path, &new)?;
    }
    // Seals with the new key and still opens what any key it knows sealed.
    let vault = old.rotate_to(new.clone());
    let store = herald_engine::store::connect_with(
        &config.database_url,
        std::sync::Arc::new(vault),
        config.durability,
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    let resealed = herald_engine::vault::reseal(store.as_ref(), &AuditBy::cli(), new.id()).await;
    store.close().await;
    let resealed = resealed?;
    if from_env {
        println!("Re-encrypted {resealed} values under key {}.", new.id());
        println!("Now set HERALD_MASTER_KEY to the new key before starting Herald.");
    } else {
        let key_path = config.data_dir.join(KEY_FILE);
        std::fs::rename(&next_path, &key_path)?;
        if let Ok(dir) = std::fs::File::open(&config.data_dir) {
            let _ = dir.sync_all();
        }
        println!(
            "Re-encrypted {resealed} values under key {}; {} holds the new key.",
            new.id(),
            key_path.display()
        );
    }
    Ok(())
}

/// Settings for commands that only open the database.
fn offline_config(common: &CommonArgs) -> anyhow::Result<Config> {
    let config = Config::resolve(common, &ServeArgs::default())?;
    crate::init_tracing(&config.log, config.log_format);
    Ok(config)
}
