//! The `herald` server: configuration, CLI, HTTP API, console and workers.
//!
//! `start` brings the whole server up on a given listener and returns a handle,
//! so tests run the real thing on port 0 with their own data directory.

// The console's view types nest deeply (components are not type-erased in
// debug builds either, see Cargo.toml); the default limit of 128 is too low.
#![recursion_limit = "256"]

pub mod api;
pub mod backup;
pub mod cli;
pub mod config;
pub mod correlation;
pub mod error;
pub mod health;
pub mod lock;
pub mod metrics;
pub mod play;
pub mod proxy;
pub mod remote;
pub mod security;
pub mod session;
pub mod site;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use axum::serve::ListenerExt;
use herald_app::ssr::ConsoleState;
use herald_app::{App, shell};
use herald_engine::dispatch::DispatcherConfig;
use herald_engine::limit::SharedLimiter;
use herald_engine::transform::{TransformConfig, TransformPool};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tower_http::catch_panic::CatchPanicLayer;

pub use config::Config;
pub use state::{AppState, FirstRunAdmin};

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    /// Set when this start created the first admin account.
    pub first_run_admin: Option<FirstRunAdmin>,
    shutdown: oneshot::Sender<()>,
    serving: JoinHandle<std::io::Result<()>>,
    housekeeping: JoinHandle<()>,
    stop_dispatcher: watch::Sender<bool>,
    dispatching: JoinHandle<()>,
    replaying: JoinHandle<()>,
    heartbeats: JoinHandle<()>,
    pruning: JoinHandle<()>,
    /// Held until shutdown has closed the database.
    data_dir_lock: lock::DataDirLock,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, closes the database.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.serving.await??;
        // No new events can arrive now; let deliveries in flight finish or hand them back.
        let _ = self.stop_dispatcher.send(true);
        let _ = self.replaying.await;
        let _ = self.dispatching.await;
        let _ = self.heartbeats.await;
        let _ = self.pruning.await;
        // Leaving says so to the other nodes at once: this node's row goes and
        // they take over its replay jobs without waiting for the leases.
        if let Err(e) = self.state.store.leave().await {
            tracing::warn!(correlation_id = "shutdown", error = %e, "cannot remove this node's heartbeat; it ages out instead");
        }
        self.housekeeping.abort();
        self.state.store.close().await;
        drop(self.data_dir_lock);
        Ok(())
    }
}

/// Opens the database, creates the first admin if needed, and serves on `listener`.
#[tracing::instrument(skip_all, name = "startup", fields(correlation_id = "startup"))]
pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Running> {
    // Before anything is opened: a second server on the same data would take
    // over (and send again) everything the first has in flight.
    let data_dir_lock = lock::lock_data_dir(&config.data_dir)?;
    let store = state::open_store(&config).await?;
    let first_run_admin = state::ensure_first_admin(store.as_ref(), &config).await?;
    let redis = config
        .redis_url
        .as_deref()
        .map(herald_engine::deps::Redis::open)
        .transpose()
        .map_err(|e| anyhow::anyhow!("HERALD_REDIS_URL: {e}"))?
        .map(|redis| redis.for_installation(store.installation()));
    // What nodes share through Redis (rate limits, the live feed) matters
    // only where there can be several nodes; SQLite has one.
    let shared = redis.clone().filter(|_| !store.capabilities().single_node);
    if !config.site_dir.join("pkg").is_dir() {
        tracing::warn!(
            site_dir = %config.site_dir.display(),
            "console assets not found: pages will render but not hydrate; build with `make build` or set HERALD_SITE_DIR"
        );
    }
    if !config.outbound_guard.allow_list().is_empty() {
        let ranges: Vec<String> = config
            .outbound_guard
            .allow_list()
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::warn!(
            ranges = %ranges.join(","),
            "deliveries may reach these internal address ranges (HERALD_OUTBOUND_ALLOW_CIDRS)"
        );
    }
    let engine = herald_engine::service::Engine::new(
        store.clone(),
        DispatcherConfig {
            guard: config.outbound_guard.clone(),
            shutdown_grace: Duration::from_secs(u64::from(config.shutdown_grace_secs)),
            concurrency: config.delivery_concurrency as usize,
            per_endpoint: config.endpoint_concurrency as usize,
            lease: Duration::from_secs(u64::from(config.delivery_lease_secs)),
            transforms: std::sync::Arc::new(TransformPool::new(TransformConfig {
                program: config
                    .transform_program
                    .clone()
                    .unwrap_or_else(|| TransformConfig::default().program),
                ..TransformConfig::default()
            })),
            ..DispatcherConfig::default()
        },
        config.max_payload_bytes,
    );
    let (dispatcher, replays) = (engine.dispatcher.clone(), engine.replays.clone());
    let state = AppState::new(state::Shared {
        engine: engine.clone(),
        limits: state::Limits {
            max_payload_bytes: config.max_payload_bytes,
        },
        trusted_proxies: config.trusted_proxies.clone(),
        console: ConsoleState {
            engine,
            store: store.clone(),
            session_ttl: chrono::Duration::hours(i64::from(config.session_ttl_hours)),
            secure_cookies: config.secure_cookies,
            login_limiter: Arc::new(SharedLimiter::new(
                "login",
                config.login_rate_limit,
                Duration::from_secs(60),
                config.login_rate_limit,
                shared.clone(),
            )),
            api_doc: api::docs::document_json(),
        },
        store,
        redis,
        leptos_options: state::leptos_options(&config),
        // A burst of twice the per-second rate absorbs a client's spikes.
        api_limiter: Arc::new(SharedLimiter::new(
            "api",
            config.api_rate_limit,
            Duration::from_secs(1),
            config.api_rate_limit.saturating_mul(2),
            shared.clone(),
        )),
        bad_key_limiter: Arc::new(SharedLimiter::new(
            "bad_key",
            config.bad_key_rate_limit,
            Duration::from_secs(60),
            config.bad_key_rate_limit,
            shared.clone(),
        )),
    });

    let app = router(state.clone());
    let (stop_dispatcher, stop) = watch::channel(false);
    let heartbeats = tokio::spawn(herald_engine::membership::heartbeats(
        state.store.clone(),
        dispatcher.clone(),
        stop.clone(),
    ));
    if let Some(redis) = shared {
        herald_engine::live::relay(
            &state.engine.live,
            redis,
            state.store.node().to_owned(),
            stop.clone(),
        );
    }
    let dispatching = tokio::spawn(dispatcher.run(stop.clone()));
    let pruning = tokio::spawn(
        herald_engine::retention::Pruner::new(
            state.store.clone(),
            state.engine.metrics.clone(),
            herald_engine::retention::Pacing {
                interval: config.retention_interval,
                ..herald_engine::retention::Pacing::default()
            },
        )
        .run(stop.clone()),
    );
    let replaying = tokio::spawn(replays.run(stop));
    let addr = listener.local_addr()?;
    let (shutdown, stop) = oneshot::channel::<()>();
    // Console pages stream their HTML in several small writes: with Nagle's
    // algorithm each one after the first waits for the client's delayed ACK
    // (40 ms on Linux), so every connection gets TCP_NODELAY.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
    });
    let serving = tokio::spawn(
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop.await;
        })
        .into_future(),
    );
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    tracing::info!(%addr, durability = config.durability.as_str(), "herald is listening");
    Ok(Running {
        addr,
        state,
        first_run_admin,
        shutdown,
        serving,
        housekeeping,
        stop_dispatcher,
        dispatching,
        replaying,
        heartbeats,
        pruning,
        data_dir_lock,
    })
}

/// Serves until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(config: Config, listener: TcpListener) -> anyhow::Result<()> {
    let running = start(config, listener).await?;
    if let Some(admin) = &running.first_run_admin {
        print_first_run_admin(admin);
    }
    println!("Herald console: http://{}", running.addr);
    shutdown_signal().await;
    tracing::info!(correlation_id = "shutdown", "shutting down");
    running.shutdown().await
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let console = state.console.clone();
    let options = state.leptos_options.clone();
    // The console's pages, server functions and files: the session and the
    // same-origin rule are theirs. The API authenticates by key and is exempt
    // from both, so its requests do not pass through them at all (each
    // `from_fn` layer clones the service below it per request).
    let console_routes = Router::new()
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(console.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(from_fn(site::cache_control))
        .layer(from_fn_with_state(state.clone(), session::guard))
        .layer(from_fn(security::same_origin));
    Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(metrics::scrape))
        .route("/api/v1/openapi.json", get(api::docs::openapi_json))
        .route("/play/{id}", axum::routing::post(play::receive))
        .merge(api::v1::router(state.limits.max_payload_bytes))
        .merge(console_routes)
        .layer(from_fn_with_state(state.clone(), security::headers))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(from_fn(correlation::layer))
        .layer(from_fn_with_state(state.clone(), proxy::client_address))
        .with_state(state)
}

/// Periodic upkeep: expired sessions are deleted hourly.
#[tracing::instrument(
    skip_all,
    name = "housekeeping",
    fields(correlation_id = "housekeeping")
)]
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match state
            .store
            .delete_expired_sessions(chrono::Utc::now())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "expired sessions removed"),
            Err(e) => tracing::warn!(error = %e, "could not remove expired sessions"),
        }
    }
}

fn print_first_run_admin(admin: &FirstRunAdmin) {
    println!();
    println!("  First start: created the admin account");
    println!("    email:    {}", admin.email);
    if admin.generated {
        println!("    password: {}", admin.password);
        println!(
            "  This password is shown only once. Set HERALD_ADMIN_PASSWORD to choose your own."
        );
    } else {
        println!("    password: (the one in HERALD_ADMIN_PASSWORD)");
    }
    println!();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Installs the global tracing subscriber (text or JSON lines).
pub fn init_tracing(filter: &str, format: config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: escape codes in a log file or a
    // collector are noise, and styling every span's fields costs each request
    // and each delivery thousands of instructions.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_target(false);
    let _ = match format {
        config::LogFormat::Text => builder.try_init(),
        config::LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
