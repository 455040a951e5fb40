//! The `herald` command line.

use clap::{Parser, Subcommand};
use herald_engine::model::{Role, Scope};

use crate::config::{CommonArgs, Config, ServeArgs};
use crate::remote::{CheckpointAction, DlqAction, EventsAction, Remote, ReplayArgs};

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
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Manage console users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API keys.
    #[command(name = "api-key")]
    ApiKey {
        #[command(subcommand)]
        action: ApiKeyAction,
    },
    /// Replay stored events matching a filter, with a progress bar (server).
    Replay {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        args: ReplayArgs,
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
    /// Stored events (server).
    Events {
        #[command(subcommand)]
        action: EventsAction,
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
pub enum ApiKeyAction {
    /// Create an API key for a tenant; the key is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// Slug of the tenant the key belongs to.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// ingest, read, manage or all.
        #[arg(long, default_value = "all")]
        scope: Scope,
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
        Command::Checkpoint { action, remote } => crate::remote::checkpoint(remote, action).await,
        Command::Dlq { action, remote } => crate::remote::dlq(remote, action).await,
        Command::Events { action, remote } => crate::remote::events(remote, action).await,
        Command::Serve { common, serve } => {
            let config = Config::resolve(&common, &serve)?;
            crate::init_tracing(&config.log, config.log_format);
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot listen on {} (HERALD_LISTEN): {e}", config.listen)
                })?;
            crate::run(config, listener).await
        }
        Command::Migrate { common } => {
            let config = offline_config(&common)?;
            crate::state::open_store(&config).await?.close().await;
            println!(
                "Database {} is up to date.",
                herald_engine::store::redact_url(&config.database_url)
            );
            Ok(())
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
            let user =
                herald_engine::auth::register_user(store.as_ref(), &email, password.clone(), role)
                    .await;
            store.close().await;
            let user = user?;
            println!("Created {} user {} ({})", user.role, user.email, user.id);
            if generated {
                println!("Password (shown only once): {password}");
            }
            Ok(())
        }
        Command::ApiKey {
            action:
                ApiKeyAction::Create {
                    name,
                    tenant,
                    scope,
                    common,
                },
        } => {
            let config = offline_config(&common)?;
            herald_engine::auth::validate_key_name(&name).map_err(|e| anyhow::anyhow!("--{e}"))?;
            let store = crate::state::open_store(&config).await?;
            let result = async {
                let tenant = store
                    .tenant_by_slug(&tenant)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("--tenant: there is no tenant '{tenant}'"))?;
                let issued =
                    herald_engine::auth::issue_api_key(store.as_ref(), tenant.id, &name, scope)
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

/// Settings for commands that only open the database.
fn offline_config(common: &CommonArgs) -> anyhow::Result<Config> {
    let config = Config::resolve(common, &ServeArgs::default())?;
    crate::init_tracing(&config.log, config.log_format);
    Ok(config)
}
