//! Settings: built-in defaults, then an optional `herald.toml`, then `HERALD_*`
//! environment variables and command-line flags (clap reads both; a flag wins).
//! Everything is validated before anything starts; a bad value names the setting
//! and what it accepts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

/// A setting that could not be accepted.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{key}` (flag --{flag}, env {env}): {problem}; expected {expected}")]
pub struct ConfigError {
    pub key: &'static str,
    pub flag: String,
    pub env: String,
    pub problem: String,
    pub expected: &'static str,
}

fn bad(key: &'static str, problem: impl Into<String>, expected: &'static str) -> ConfigError {
    ConfigError {
        key,
        flag: key.replace('_', "-"),
        env: format!("HERALD_{}", key.to_uppercase()),
        problem: problem.into(),
        expected,
    }
}

/// Settings every subcommand that opens the database understands.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// Path of a herald.toml (default: ./herald.toml when it exists).
    #[arg(long, env = "HERALD_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database and other local state [default: ./data].
    #[arg(long, env = "HERALD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Database URL [default: sqlite://<data-dir>/herald.db].
    #[arg(long, env = "HERALD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Log filter, in tracing's EnvFilter syntax [default: info].
    #[arg(long, env = "HERALD_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "HERALD_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Master key sealing endpoint secrets at rest: 32 bytes as base64 or hex
    /// [default: <data-dir>/master.key, generated on first start].
    #[arg(
        long,
        env = "HERALD_MASTER_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub master_key: Option<String>,
    /// What an acknowledged write survives: `process` (a crash of Herald) or
    /// `power` (a power loss too; every commit is synced to disk) [default: power].
    #[arg(long, env = "HERALD_DURABILITY", value_name = "LEVEL")]
    pub durability: Option<String>,
}

/// Settings only `herald serve` uses.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:3000].
    #[arg(long, env = "HERALD_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Email of the admin account created on first start [default: admin@localhost].
    #[arg(long, env = "HERALD_ADMIN_EMAIL", value_name = "EMAIL")]
    pub admin_email: Option<String>,
    /// Password of that first admin [default: random, printed once].
    #[arg(
        long,
        env = "HERALD_ADMIN_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
    /// Redis URL; when set, /readyz checks it [default: none].
    #[arg(long, env = "HERALD_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
    /// Directory holding the console's compiled assets [default: found next to the binary or in ./target/site].
    #[arg(long, env = "HERALD_SITE_DIR", value_name = "DIR")]
    pub site_dir: Option<String>,
    /// Console session lifetime in hours [default: 12].
    #[arg(long, env = "HERALD_SESSION_TTL_HOURS", value_name = "HOURS")]
    pub session_ttl_hours: Option<String>,
    /// Mark session cookies Secure (set when the console is served over HTTPS) [default: false].
    #[arg(long, env = "HERALD_SECURE_COOKIES", value_name = "BOOL")]
    pub secure_cookies: Option<String>,
    /// Largest accepted event payload in bytes [default: 1048576].
    #[arg(long, env = "HERALD_MAX_PAYLOAD_BYTES", value_name = "BYTES")]
    pub max_payload_bytes: Option<String>,
    /// Address ranges deliveries may reach although they are internal
    /// (loopback, private, …), comma-separated CIDRs [default: none].
    #[arg(long, env = "HERALD_OUTBOUND_ALLOW_CIDRS", value_name = "CIDRS")]
    pub outbound_allow_cidrs: Option<String>,
    /// Reverse proxies whose X-Forwarded-For names the client, comma-separated
    /// CIDRs; from any other peer the header is ignored [default: none].
    #[arg(long, env = "HERALD_TRUSTED_PROXIES", value_name = "CIDRS")]
    pub trusted_proxies: Option<String>,
    /// API requests per second each API key may make; 0 turns the limit off [default: 1000].
    #[arg(long, env = "HERALD_API_RATE_LIMIT", value_name = "PER_SECOND")]
    pub api_rate_limit: Option<String>,
    /// Sign-in attempts per minute from one client address; 0 turns the limit off [default: 10].
    #[arg(long, env = "HERALD_LOGIN_RATE_LIMIT", value_name = "PER_MINUTE")]
    pub login_rate_limit: Option<String>,
    /// Requests with an unknown or malformed API key (or unproven
    /// acknowledgements) per minute from one client address before it gets 429
    /// without a lookup; 0 turns the limit off [default: 30].
    #[arg(long, env = "HERALD_BAD_KEY_RATE_LIMIT", value_name = "PER_MINUTE")]
    pub bad_key_rate_limit: Option<String>,
    /// Seconds shutdown waits for requests in flight before handing them back [default: 10].
    #[arg(long, env = "HERALD_SHUTDOWN_GRACE_SECS", value_name = "SECONDS")]
    pub shutdown_grace_secs: Option<String>,
    /// Requests in flight at once across all endpoints. A waiting request costs a
    /// socket, so this is high; each endpoint has its own smaller limit [default: 1024].
    #[arg(long, env = "HERALD_DELIVERY_CONCURRENCY", value_name = "REQUESTS")]
    pub delivery_concurrency: Option<String>,
    /// Requests in flight at once to any one endpoint; its other due deliveries
    /// wait without holding anything [default: 8].
    #[arg(long, env = "HERALD_ENDPOINT_CONCURRENCY", value_name = "REQUESTS")]
    pub endpoint_concurrency: Option<String>,
    /// Seconds a claimed delivery stays this node's before another node may
    /// take it over (a request's timeout is cut to fit it) [default: 120].
    #[arg(long, env = "HERALD_DELIVERY_LEASE_SECS", value_name = "SECONDS")]
    pub delivery_lease_secs: Option<String>,
    /// Seconds between retention passes, which remove events, receipts and
    /// statistics older than each tenant keeps them [default: 600].
    #[arg(long, env = "HERALD_RETENTION_INTERVAL_SECS", value_name = "SECONDS")]
    pub retention_interval_secs: Option<String>,
}

/// The keys a herald.toml may contain (all optional; unknown keys are refused).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<String>,
    database_url: Option<String>,
    log: Option<String>,
    log_format: Option<String>,
    listen: Option<String>,
    admin_email: Option<String>,
    admin_password: Option<String>,
    redis_url: Option<String>,
    site_dir: Option<String>,
    session_ttl_hours: Option<toml::Value>,
    secure_cookies: Option<toml::Value>,
    max_payload_bytes: Option<toml::Value>,
    outbound_allow_cidrs: Option<String>,
    trusted_proxies: Option<String>,
    api_rate_limit: Option<toml::Value>,
    login_rate_limit: Option<toml::Value>,
    durability: Option<String>,
    shutdown_grace_secs: Option<toml::Value>,
    retention_interval_secs: Option<toml::Value>,
    bad_key_rate_limit: Option<toml::Value>,
    delivery_concurrency: Option<toml::Value>,
    endpoint_concurrency: Option<toml::Value>,
    delivery_lease_secs: Option<toml::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub log: String,
    pub log_format: LogFormat,
    /// The master key when given by flag or environment (else the key file).
    pub master_key: Option<String>,
    pub listen: SocketAddr,
    pub admin_email: String,
    pub admin_password: Option<String>,
    pub redis_url: Option<String>,
    pub site_dir: PathBuf,
    pub session_ttl_hours: u32,
    pub secure_cookies: bool,
    pub max_payload_bytes: usize,
    /// Which internal address ranges deliveries may reach anyway.
    pub outbound_guard: herald_engine::dispatch::guard::DestinationGuard,
    /// Peers whose X-Forwarded-For is believed (see `crate::proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Requests per second per API key (0: unlimited).
    pub api_rate_limit: u32,
    /// Sign-in attempts per minute per client address (0: unlimited).
    pub login_rate_limit: u32,
    /// What a commit survives (SQLite's `synchronous`).
    pub durability: herald_engine::store::Durability,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace_secs: u32,
    /// Unknown or malformed API keys per minute per client address (0: unlimited).
    pub bad_key_rate_limit: u32,
    /// Requests in flight at once across all endpoints.
    pub delivery_concurrency: u32,
    /// Requests in flight at once to any one endpoint.
    pub endpoint_concurrency: u32,
    /// How long a claimed delivery is this node's.
    pub delivery_lease_secs: u32,
    /// Time between retention passes.
    pub retention_interval: std::time::Duration,
    /// The binary transforms run in (`<it> transform-worker`): this one
    /// unless set (an embedding program, such as the tests, names Herald's).
    pub transform_program: Option<PathBuf>,
}

impl Config {
    /// Defaults for everything, with data in `data_dir`: what tests start from.
    pub fn for_data_dir(data_dir: &Path) -> Self {
        Self::resolve(
            &CommonArgs {
                data_dir: Some(data_dir.display().to_string()),
                ..Default::default()
            },
            &ServeArgs::default(),
        )
        .expect("built-in defaults are valid")
    }

    pub fn resolve(common: &CommonArgs, serve: &ServeArgs) -> Result<Self, ConfigError> {
        let file = load_file(common.config.as_deref())?;
        let Delivery {
            shutdown_grace_secs,
            delivery_concurrency,
            endpoint_concurrency,
            delivery_lease_secs,
            retention_interval_secs,
        } = Delivery::resolve(serve, &file)?;

        let pick = |cli: &Option<String>, file: Option<String>| cli.clone().or(file);

        let data_dir =
            PathBuf::from(pick(&common.data_dir, file.data_dir).unwrap_or_else(|| "data".into()));
        if data_dir.as_os_str().is_empty() {
            return Err(bad(
                "data_dir",
                "it is empty",
                "a directory path such as ./data",
            ));
        }
        let database_url = pick(&common.database_url, file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("herald.db").display()));
        herald_engine::store::Backend::from_url(&database_url)
            .map_err(|m| bad("database_url", m, "sqlite://PATH"))?;

        let (log, log_format) = log_settings(
            pick(&common.log, file.log),
            pick(&common.log_format, file.log_format),
        )?;

        let listen_text =
            pick(&serve.listen, file.listen).unwrap_or_else(|| "127.0.0.1:3000".into());
        let listen = listen_text.parse().map_err(|_| {
            bad(
                "listen",
                format!("'{listen_text}' is not a socket address"),
                "HOST:PORT such as 127.0.0.1:3000 or 0.0.0.0:8080",
            )
        })?;

        let (admin_email, admin_password) = admin_settings(
            pick(&serve.admin_email, file.admin_email),
            pick(&serve.admin_password, file.admin_password),
        )?;

        let redis_url = pick(&serve.redis_url, file.redis_url).filter(|u| !u.is_empty());
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(bad(
                "redis_url",
                format!(
                    "'{}' is not a Redis URL",
                    herald_engine::store::redact_url(url)
                ),
                "redis://HOST:PORT",
            ));
        }

        let site_dir = match pick(&serve.site_dir, file.site_dir) {
            Some(dir) => PathBuf::from(dir),
            None => default_site_dir(),
        };

        let (session_ttl_hours, secure_cookies) = session_settings(
            cli_or_value(&serve.session_ttl_hours, file.session_ttl_hours),
            cli_or_value(&serve.secure_cookies, file.secure_cookies),
        )?;
        let max_payload_bytes = max_payload(cli_or_value(
            &serve.max_payload_bytes,
            file.max_payload_bytes,
        ))?;

        let outbound_text =
            pick(&serve.outbound_allow_cidrs, file.outbound_allow_cidrs).unwrap_or_default();
        let outbound_guard = herald_engine::dispatch::guard::DestinationGuard::new(
            herald_engine::dispatch::guard::DestinationGuard::parse_allow_list(&outbound_text)
                .map_err(|m| {
                    bad(
                        "outbound_allow_cidrs",
                        m,
                        "comma-separated CIDRs such as 127.0.0.0/8,::1/128, or empty",
                    )
                })?,
        );
        let trusted_proxies = herald_engine::dispatch::guard::DestinationGuard::parse_allow_list(
            &pick(&serve.trusted_proxies, file.trusted_proxies).unwrap_or_default(),
        )
        .map_err(|m| {
            bad(
                "trusted_proxies",
                m,
                "comma-separated CIDRs of your reverse proxies such as 10.0.0.5/32, or empty",
            )
        })?;
        let api_rate_limit = whole_number(
            "api_rate_limit",
            cli_or_value(&serve.api_rate_limit, file.api_rate_limit),
            1000,
            1_000_000,
            "requests per second from 0 (off) to 1000000",
        )?;
        let login_rate_limit = whole_number(
            "login_rate_limit",
            cli_or_value(&serve.login_rate_limit, file.login_rate_limit),
            10,
            10_000,
            "attempts per minute from 0 (off) to 10000",
        )?;
        let durability = match pick(&common.durability, file.durability) {
            None => herald_engine::store::Durability::Power,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|m: String| bad("durability", m, "process or power"))?,
        };
        let bad_key_rate_limit = whole_number(
            "bad_key_rate_limit",
            cli_or_value(&serve.bad_key_rate_limit, file.bad_key_rate_limit),
            30,
            100_000,
            "requests per minute from 0 (off) to 100000",
        )?;
        Ok(Config {
            data_dir,
            database_url,
            log,
            log_format,
            master_key: common.master_key.clone().filter(|k| !k.trim().is_empty()),
            listen,
            admin_email,
            admin_password,
            redis_url,
            site_dir,
            session_ttl_hours,
            secure_cookies,
            max_payload_bytes,
            outbound_guard,
            trusted_proxies,
            api_rate_limit,
            login_rate_limit,
            durability,
            shutdown_grace_secs,
            bad_key_rate_limit,
            delivery_concurrency,
            endpoint_concurrency,
            delivery_lease_secs,
            retention_interval: std::time::Duration::from_secs(u64::from(retention_interval_secs)),
            transform_program: None,
        })
    }
}

/// The delivery engine's settings, and its background work's.
struct Delivery {
    shutdown_grace_secs: u32,
    delivery_concurrency: u32,
    endpoint_concurrency: u32,
    delivery_lease_secs: u32,
    retention_interval_secs: u32,
}

impl Delivery {
    fn resolve(serve: &ServeArgs, file: &FileSettings) -> Result<Self, ConfigError> {
        let shutdown_grace_secs = whole_number(
            "shutdown_grace_secs",
            cli_or_value(&serve.shutdown_grace_secs, file.shutdown_grace_secs.clone()),
            10,
            3_600,
            "seconds from 0 to 3600",
        )?;
        let delivery_concurrency = whole_number(
            "delivery_concurrency",
            cli_or_value(
                &serve.delivery_concurrency,
                file.delivery_concurrency.clone(),
            ),
            1024,
            100_000,
            "requests from 1 to 100000",
        )?;
        let endpoint_concurrency = whole_number(
            "endpoint_concurrency",
            cli_or_value(
                &serve.endpoint_concurrency,
                file.endpoint_concurrency.clone(),
            ),
            8,
            1_000,
            "requests from 1 to 1000",
        )?;
        let delivery_lease_secs = whole_number(
            "delivery_lease_secs",
            cli_or_value(&serve.delivery_lease_secs, file.delivery_lease_secs.clone()),
            120,
            3_600,
            "seconds from 10 to 3600",
        )?;
        if delivery_lease_secs < 10 {
            return Err(bad(
                "delivery_lease_secs",
                format!("got '{delivery_lease_secs}'"),
                "seconds from 10 to 3600",
            ));
        }
        if delivery_concurrency == 0 || endpoint_concurrency == 0 {
            let (key, got) = if delivery_concurrency == 0 {
                ("delivery_concurrency", delivery_concurrency)
            } else {
                ("endpoint_concurrency", endpoint_concurrency)
            };
            return Err(bad(key, format!("got '{got}'"), "at least 1 request"));
        }
        let retention_interval_secs = whole_number(
            "retention_interval_secs",
            cli_or_value(
                &serve.retention_interval_secs,
                file.retention_interval_secs.clone(),
            ),
            600,
            86_400,
            "seconds from 1 to 86400",
        )?;
        if retention_interval_secs == 0 {
            return Err(bad(
                "retention_interval_secs",
                "got '0'".to_string(),
                "seconds from 1 to 86400",
            ));
        }
        Ok(Self {
            shutdown_grace_secs,
            delivery_concurrency,
            endpoint_concurrency,
            delivery_lease_secs,
            retention_interval_secs,
        })
    }
}

fn whole_number(
    key: &'static str,
    value: Option<String>,
    default: u32,
    max: u32,
    expected: &'static str,
) -> Result<u32, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| bad(key, format!("got '{v}'"), expected)),
    }
}

fn cli_or_value(cli: &Option<String>, file: Option<toml::Value>) -> Option<String> {
    cli.clone().or_else(|| {
        file.map(|v| match v {
            toml::Value::String(s) => s,
            other => other.to_string(),
        })
    })
}

/// The log filter (checked) and format.
fn log_settings(
    log: Option<String>,
    format: Option<String>,
) -> Result<(String, LogFormat), ConfigError> {
    let log = log.unwrap_or_else(|| "info".into());
    tracing_subscriber::EnvFilter::try_new(&log).map_err(|e| {
        bad(
            "log",
            format!("'{log}' does not parse: {e}"),
            "a tracing filter such as info or herald=debug,sqlx=warn",
        )
    })?;
    let log_format = match format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => return Err(bad("log_format", format!("got '{other}'"), "text or json")),
    };
    Ok((log, log_format))
}

/// The first admin's email and, when given, password (both checked).
fn admin_settings(
    email: Option<String>,
    password: Option<String>,
) -> Result<(String, Option<String>), ConfigError> {
    let admin_email = email.unwrap_or_else(|| "admin@localhost".into());
    if !herald_engine::auth::plausible_email(&admin_email) {
        return Err(bad(
            "admin_email",
            format!("'{admin_email}' is not an email address"),
            "an address such as ops@example.com",
        ));
    }
    let admin_password = password;
    if let Some(p) = &admin_password
        && let Err(e) = herald_engine::auth::validate_password(p)
    {
        return Err(bad(
            "admin_password",
            e.to_string(),
            "at least 8 characters, or unset for a random one",
        ));
    }
    Ok((admin_email, admin_password))
}

/// How long a console session lasts (hours) and whether its cookie is `Secure`.
fn session_settings(
    ttl_hours: Option<String>,
    secure: Option<String>,
) -> Result<(u32, bool), ConfigError> {
    let session_ttl_hours = match ttl_hours {
        None => 12,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|h| (1..=24 * 90).contains(h))
            .ok_or_else(|| {
                bad(
                    "session_ttl_hours",
                    format!("got '{v}'"),
                    "a whole number of hours from 1 to 2160",
                )
            })?,
    };
    let secure_cookies = match secure.as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            return Err(bad(
                "secure_cookies",
                format!("got '{other}'"),
                "true or false",
            ));
        }
    };

    Ok((session_ttl_hours, secure_cookies))
}

/// The largest event payload accepted, in bytes.
fn max_payload(value: Option<String>) -> Result<usize, ConfigError> {
    let max_payload_bytes = match value {
        None => 1024 * 1024,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1024..=16 * 1024 * 1024).contains(n))
            .ok_or_else(|| {
                bad(
                    "max_payload_bytes",
                    format!("got '{v}'"),
                    "a number of bytes from 1024 to 16777216",
                )
            })?,
    };
    Ok(max_payload_bytes)
}

fn load_file(explicit: Option<&Path>) -> Result<FileSettings, ConfigError> {
    let config_err = |problem: String| ConfigError {
        key: "config",
        flag: "config".into(),
        env: "HERALD_CONFIG".into(),
        problem,
        expected: "a readable herald.toml with the keys listed in the README",
    };
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new("herald.toml").exists() => PathBuf::from("herald.toml"),
        None => return Ok(FileSettings::default()),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| config_err(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| config_err(format!("{} is not valid: {e}", path.display())))
}

/// Where the console's compiled assets are when nobody says: `make build` and
/// `make build-release` write them beside the binary (`<target>/debug/site`,
/// `<target>/release/site`); `cargo leptos watch` names its own site root in
/// `LEPTOS_SITE_ROOT`; a binary run from the repository finds `./target/site`.
fn default_site_dir() -> PathBuf {
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|p| p.join("site")));
    let cargo_leptos = std::env::var_os("LEPTOS_SITE_ROOT").map(PathBuf::from);
    [
        cargo_leptos,
        beside_binary,
        Some(PathBuf::from("target/site")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.join("pkg").is_dir())
    .unwrap_or_else(|| PathBuf::from("target/site"))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
