//! What every benchmark starts from: a release Herald on a free loopback port
//! with a fresh data directory, deliveries allowed to loopback receivers and no
//! API rate limit (one key drives the whole load).

use std::time::Duration;

use herald_engine::dispatch::guard::DestinationGuard;
use herald_engine::model::TenantId;
use herald_engine::store::DEFAULT_TENANT;

pub struct Started {
    pub running: herald_server::Running,
    pub tenant: TenantId,
    pub base: String,
    /// Removed when dropped: kept as long as the server runs.
    #[allow(dead_code)]
    pub data: tempfile::TempDir,
}

impl Started {
    /// The store, the tenant and the base URL, what a bench seeds and asks.
    #[allow(dead_code)] // the throughput bench goes through HTTP only
    pub fn parts(
        &self,
    ) -> (
        std::sync::Arc<dyn herald_engine::store::Store>,
        TenantId,
        String,
    ) {
        (
            self.running.state.store.clone(),
            self.tenant,
            self.base.clone(),
        )
    }
}

#[allow(dead_code)] // the throughput bench picks its durability with start_with
pub async fn start() -> Started {
    start_with(herald_engine::store::Durability::default()).await
}

/// [`start`] with commits as durable as `durability` says.
pub async fn start_with(durability: herald_engine::store::Durability) -> Started {
    let data = tempfile::tempdir().unwrap();
    let mut config = herald_server::Config::for_data_dir(data.path());
    config.durability = durability;
    config.outbound_guard =
        DestinationGuard::new(DestinationGuard::parse_allow_list("127.0.0.0/8").unwrap());
    config.api_rate_limit = 0;
    config.admin_password = Some("bench-password".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = herald_server::start(config, listener).await.unwrap();
    let tenant = running
        .state
        .store
        .tenant_by_slug(DEFAULT_TENANT)
        .await
        .unwrap()
        .unwrap()
        .id;
    Started {
        base: format!("http://{}", running.addr),
        running,
        tenant,
        data,
    }
}

/// The `p` quantile (0 to 1) of sorted timings, nearest rank.
#[allow(dead_code)] // not every benchmark reports quantiles
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// A console session (a `herald_session` cookie value) for a viewer account,
/// made through the store, so a benchmark can load console pages.
#[allow(dead_code)] // not every benchmark loads console pages
pub async fn viewer_session(store: &dyn herald_engine::store::Store) -> String {
    let user = herald_engine::auth::register_user(
        store,
        &herald_engine::audit::AuditBy::system(),
        "bench@herald.test",
        "bench-password-long".into(),
        herald_engine::model::Role::Viewer,
    )
    .await
    .unwrap();
    let (token, digest) = herald_engine::auth::generate_session_token();
    store
        .create_session(
            user.id,
            &digest,
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    token
}

/// Loads a console page `samples` times with the session `token` and prints
/// its p50, p95 and max; every answer must contain `expect` (the page rendered
/// what it is timed for).
#[allow(dead_code)] // not every benchmark loads console pages
pub async fn time_page(
    http: &reqwest::Client,
    (base, token): (&str, &str),
    (name, path): (&str, &str),
    expect: &str,
    samples: usize,
) {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = std::time::Instant::now();
        let res = http
            .get(format!("{base}{path}"))
            .header("cookie", format!("herald_session={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let body = res.text().await.unwrap();
        times.push(started.elapsed());
        assert!(body.contains(expect), "{path} rendered no {expect}");
    }
    times.sort();
    println!(
        "  {name:<24} p50 {:>6.1} ms   p95 {:>6.1} ms   max {:>6.1} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.95).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );
}

/// Publishes `total` events as single POSTs to `{base}/api/v1/events` from
/// `clients` clients at once, the n-th event's body `body(n)`, each answered
/// 202; answers events per second.
#[allow(dead_code)] // the statistics and event-list benches seed through the store
pub async fn post_singles(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    (total, clients): (usize, usize),
    body: fn(usize) -> serde_json::Value,
) -> f64 {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, key, next) = (
            http.clone(),
            format!("{base}/api/v1/events"),
            key.to_owned(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let res = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&body(n))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 202);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// The middle of some figures (the upper one of an even count).
#[allow(dead_code)] // the benches that alternate rounds use it
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// What a bench that drives the API needs: the base URL, an `all` key of
/// the tenant and a client that keeps enough connections for 64 clients.
#[allow(dead_code)] // the benches that seed through the store do without
pub async fn http_bench(started: &Started) -> (String, String, reqwest::Client) {
    let (_, key) = herald_engine::auth::issue_api_key(
        started.running.state.store.as_ref(),
        &herald_engine::audit::AuditBy::system(),
        started.tenant,
        "bench",
        herald_engine::model::Scope::All,
    )
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    (started.base.clone(), key, http)
}
