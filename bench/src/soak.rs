//! The soak test: Herald under a steady load for a long time, with a
//! receiver that fails some requests and hangs on others, a replay job and a
//! retention pass along the way, sampled every few seconds into a CSV; at
//! the end every accepted event must be accounted for (delivered, or in the
//! dead-letter queue with a reason).
//!
//! The load is half of the maximum measured at the start under the same
//! conditions: a burst of events delivered to the same failing, hanging
//! receiver, timed from the first publish until 94 % have arrived (the rest
//! wait for their retries).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::herald::{Herald, Launch, psql};
use crate::receiver::{histogram, now_us, number_after};
use crate::retention::sqlite;
use crate::workload::{event, open_loop, post as publish};

pub struct SoakRun {
    pub minutes: u32,
    pub sample_secs: u32,
    /// Events per second; by default half of the maximum measured first.
    pub rate: Option<u32>,
    pub csv: PathBuf,
    /// Old events written straight into the database at the start, for the
    /// retention pass to remove during the run.
    pub expired: u64,
}

/// A receiver that answers 500 to 5 % of requests and hangs (longer than
/// the endpoint's timeout) on 1 %; the rest get 200 and count.
struct Flaky {
    url: String,
    seed: AtomicU64,
    delivered: Mutex<HashSet<u64>>,
    latency_us: Mutex<Histogram<u64>>,
    requests: AtomicU64,
    failed: AtomicU64,
    hung: AtomicU64,
    /// Off during the measurement of the maximum.
    misbehave: std::sync::atomic::AtomicBool,
}

impl Flaky {
    fn roll(&self) -> u64 {
        // xorshift64: cheap, and good enough to pick 1 request in 100.
        let mut x = self.seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::Relaxed);
        x % 10_000
    }
}

async fn flaky_hook(State(f): State<Arc<Flaky>>, body: Bytes) -> StatusCode {
    f.requests.fetch_add(1, Ordering::Relaxed);
    if f.misbehave.load(Ordering::Relaxed) {
        let roll = f.roll();
        if roll < 100 {
            f.hung.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(6)).await;
            return StatusCode::OK;
        }
        if roll < 600 {
            f.failed.fetch_add(1, Ordering::Relaxed);
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
    if let Some(n) = number_after(&body, "order_id") {
        let first = f.delivered.lock().expect("delivered").insert(n);
        if first && let Some(sent) = number_after(&body, "sent_us") {
            let took = now_us().saturating_sub(sent).max(1);
            let _ = f.latency_us.lock().expect("histogram").record(took);
        }
    }
    StatusCode::OK
}

async fn start_flaky() -> anyhow::Result<Arc<Flaky>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let f = Arc::new(Flaky {
        url: format!("http://{}/hook", listener.local_addr()?),
        seed: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
        delivered: Mutex::new(HashSet::new()),
        latency_us: Mutex::new(histogram()),
        requests: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        hung: AtomicU64::new(0),
        misbehave: std::sync::atomic::AtomicBool::new(false),
    });
    let app = axum::Router::new()
        .route("/hook", post(flaky_hook))
        .with_state(f.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(f)
}

/// One `/metrics` value (the first line starting with `name`).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

struct Sample {
    secs: f64,
    rss_mib: f64,
    fds: u64,
    db_mib: f64,
    ingest: (f64, f64),
    delivery: (f64, f64),
    queue: f64,
    dlq: f64,
    published: u64,
    delivered: u64,
    pruned: f64,
}

fn quantiles_ms(h: &Histogram<u64>) -> (f64, f64) {
    if h.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (
        h.value_at_quantile(0.50) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
    )
}

/// RSS (MiB) and open file descriptors of the server processes, summed.
fn process_use(pids: &[u32]) -> (f64, u64) {
    let (mut rss_kib, mut fds) = (0u64, 0u64);
    for pid in pids {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            rss_kib += status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
        fds += std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    }
    (rss_kib as f64 / 1024.0, fds)
}

/// The database's size on disk in MiB: SQLite's file and its WAL, or the
/// PostgreSQL schema's tables and indexes.
async fn db_size(h: &Herald) -> anyhow::Result<f64> {
    match h.schema() {
        None => {
            let mut bytes = 0;
            for name in ["herald.db", "herald.db-wal"] {
                bytes += std::fs::metadata(h.data_dir().join(name)).map_or(0, |m| m.len());
            }
            Ok(bytes as f64 / 1_048_576.0)
        }
        Some((database, schema)) => {
            let bytes = psql(
                database,
                &format!(
                    "select coalesce(sum(pg_total_relation_size(c.oid)), 0) from pg_class c \
                     join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{schema}' and c.relkind = 'r'"
                ),
            )
            .await?;
            Ok(bytes.parse::<f64>().unwrap_or(0.0) / 1_048_576.0)
        }
    }
}

/// Writes `n` old events (a delivery and a receipt each) straight into the
/// database: ids below every real one, negative sequence numbers.
async fn seed_expired(h: &Herald, endpoint: &str, n: u64) -> anyhow::Result<()> {
    if n == 0 {
        return Ok(());
    }
    let payload = r#"{"order_id":0,"customer":"c_123","total":"19.99"}"#;
    match h.schema() {
        None => {
            let db = h.data_dir().join("herald.db");
            let tenant = sqlite(&db, "select id from tenants where slug = 'default';").await?;
            let rows = format!(
                "with recursive n(i) as (select 1 union all select i + 1 from n where i < {n})"
            );
            let sql = format!(
                "pragma busy_timeout = 60000; begin immediate;
                 {rows} insert into events (id, tenant_id, seq, event_type, payload, payload_sha256, received_at)
                   select 'evt_0' || printf('%025d', i), '{tenant}', -i, 'soak.old', '{payload}', '', i from n;
                 {rows} insert into deliveries (id, tenant_id, event_id, endpoint_id, state, attempts, created_at, updated_at)
                   select 'msg_0' || printf('%025d', i), '{tenant}', 'evt_0' || printf('%025d', i), '{endpoint}', 'succeeded', 1, i, i from n;
                 {rows} insert into attempts (id, delivery_id, attempt_no, trigger, started_at, latency_ms, request_headers, response_status)
                   select 'att_0' || printf('%025d', i), 'msg_0' || printf('%025d', i), 1, 'scheduled', i, 5, '{{}}', 200 from n;
                 commit;"
            );
            sqlite(&db, &sql).await?;
        }
        Some((database, schema)) => {
            let ids = |p: &str| format!("'{p}_0' || lpad(i::text, 25, '0')");
            let sql = format!(
                "set search_path to {schema};
                 insert into events (id, tenant_id, seq, event_type, payload, payload_sha256, received_at)
                   select {e}, t.id, -i, 'soak.old', '{payload}', '', i
                   from generate_series(1, {n}) i, (select id from tenants where slug = 'default') t;
                 insert into delivery_records (id, tenant_id, event_id, endpoint_id, state, attempts, created_at, updated_at)
                   select {d}, t.id, {e}, '{endpoint}', 'succeeded', 1, i, i
                   from generate_series(1, {n}) i, (select id from tenants where slug = 'default') t;
                 insert into attempts (id, delivery_id, attempt_no, trigger, started_at, latency_ms, request_headers, response_status)
                   select {a}, {d}, 1, 'scheduled', i, 5, '{{}}', 200 from generate_series(1, {n}) i;",
                e = ids("evt"),
                d = ids("msg"),
                a = ids("att"),
            );
            psql(database, &sql).await?;
        }
    }
    Ok(())
}

pub(crate) async fn send(
    h: &Herald,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = h
        .http
        .request(method.clone(), h.url(path))
        .bearer_auth(&h.key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await?;
    let status = res.status();
    let text = res.text().await?;
    if !status.is_success() {
        bail!("{method} {path}: {status} {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Events per second delivered to the flaky receiver: `n` events published
/// in batches, timed from the first publish until 94 % of them arrived (5 %
/// fail and 1 % hang at their first attempt and wait for a retry).
async fn measure_max(h: &Herald, flaky: &Flaky, n: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut sent = 0;
    while sent < n {
        let events: Vec<Value> = (sent..(sent + 500).min(n))
            .map(|i| {
                let i = i as usize;
                event(
                    &format!("soak.e{}", i % ENDPOINTS),
                    usize::MAX / 2 + i,
                    false,
                )
            })
            .collect();
        sent += events.len() as u64;
        publish(h, "/events/batch", &json!({ "events": events })).await?;
    }
    let enough = n * 94 / 100;
    while (flaky.delivered.lock().expect("delivered").len() as u64) < enough {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the probe's deliveries did not arrive within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(enough as f64 / started.elapsed().as_secs_f64())
}

/// Endpoints the load is spread over, one event type each.
const ENDPOINTS: usize = 4;

/// Four endpoints share the load, each allowed 32 requests at once (the
/// hangs hold a slot for the 2 s timeout), three quick attempts each; the
/// expired events written; the rate chosen.
async fn prepare(h: &Herald, flaky: &Flaky, run: &SoakRun) -> anyhow::Result<u32> {
    // Each endpoint takes its own event type, so an event is one delivery.
    let mut endpoints = Vec::new();
    for i in 0..ENDPOINTS {
        endpoints.push(
            h.endpoint_with(
                &flaky_url(flaky),
                &[&format!("soak.e{i}")],
                json!({
                    "max_in_flight": 32,
                    "timeout_ms": 2000,
                    "retry_policy": {"backoff": {"kind": "exponential", "base_secs": 1, "factor": 2.0, "cap_secs": 4},
                                     "max_attempts": 3, "max_age_secs": 3600, "jitter": 0.1}
                }),
            )
            .await?,
        );
    }
    send(
        h,
        reqwest::Method::PATCH,
        "/tenant",
        Some(json!({"event_retention_days": null})),
    )
    .await?;
    seed_expired(h, &endpoints[0], run.expired).await?;
    let rate = match run.rate {
        Some(r) => r,
        None => {
            flaky.misbehave.store(true, Ordering::Relaxed);
            let max = measure_max(h, flaky, 20_000).await?;
            println!(
                "maximum measured: {max:.0} events/s to the failing receiver, each one delivery (to one of {ENDPOINTS} endpoints)"
            );
            ((max / 2.0) as u32).max(1)
        }
    };
    flaky.requests.store(0, Ordering::Relaxed);
    flaky.delivered.lock().expect("delivered").clear();
    flaky.misbehave.store(true, Ordering::Relaxed);
    Ok(rate)
}

fn flaky_url(flaky: &Flaky) -> String {
    flaky.url.clone()
}

/// Unfinished deliveries (due, scheduled, in flight) as `/metrics` says.
fn live(metrics: &str) -> f64 {
    ["due", "scheduled", "in_flight"]
        .iter()
        .map(|s| metric(metrics, &format!("herald_deliveries{{state=\"{s}\"}} ")))
        .sum()
}

async fn take_sample(
    h: &Herald,
    flaky: &Flaky,
    ingest: &Mutex<Histogram<u64>>,
    accepted: &Mutex<HashMap<String, u64>>,
    began: Instant,
) -> anyhow::Result<Sample> {
    let metrics = h.metrics().await?;
    let (rss_mib, fds) = process_use(&h.pids());
    let window = std::mem::replace(&mut *ingest.lock().expect("histogram"), histogram());
    let delivered = std::mem::replace(
        &mut *flaky.latency_us.lock().expect("histogram"),
        histogram(),
    );
    // Each node prunes its share: the run's total is theirs summed.
    let pruned = h
        .metrics_of_each()
        .await?
        .iter()
        .map(|m| metric(m, "herald_retention_removed_total{what=\"events\"} "))
        .sum();
    let s = Sample {
        secs: began.elapsed().as_secs_f64(),
        rss_mib,
        fds,
        db_mib: db_size(h).await?,
        ingest: quantiles_ms(&window),
        delivery: quantiles_ms(&delivered),
        queue: live(&metrics),
        dlq: metric(&metrics, "herald_dlq_depth "),
        published: accepted.lock().expect("accepted").len() as u64,
        delivered: flaky.delivered.lock().expect("delivered").len() as u64,
        pruned,
    };
    println!(
        "{:>6.0} s  rss {:>7.1} MiB  fds {:>4}  db {:>8.1} MiB  ingest p50 {:>6.2} p99 {:>7.2} ms  delivery p50 {:>7.2} p99 {:>8.2} ms  queue {:>6}  dlq {:>5}  published {:>8}  delivered {:>8}  pruned {:>7}",
        s.secs,
        s.rss_mib,
        s.fds,
        s.db_mib,
        s.ingest.0,
        s.ingest.1,
        s.delivery.0,
        s.delivery.1,
        s.queue,
        s.dlq,
        s.published,
        s.delivered,
        s.pruned
    );
    Ok(s)
}

/// Waits until nothing is live (retried to the end, or dead-lettered).
async fn settle(h: &Herald) -> anyhow::Result<()> {
    let settling = Instant::now();
    loop {
        let left = live(&h.metrics().await?);
        if left == 0.0 {
            return Ok(());
        }
        if settling.elapsed() > Duration::from_secs(900) {
            println!("{left} deliveries still live after 15 minutes");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub async fn soak(launch: &Launch, run: SoakRun) -> anyhow::Result<()> {
    let mut launch = launch.clone();
    launch
        .env
        .push(("HERALD_RETENTION_INTERVAL_SECS".into(), "60".into()));
    let h = Arc::new(launch.start().await?);
    let flaky = start_flaky().await?;
    let rate = prepare(&h, &flaky, &run).await?;
    println!(
        "herald-load soak ({}): {} for {} min at {rate} events/s; receiver fails 5 % and hangs on 1 %; {} expired events to prune; sampling every {} s into {}",
        launch.label(),
        h.base,
        run.minutes,
        run.expired,
        run.sample_secs,
        run.csv.display()
    );
    // Retention on: the expired events go in the next pass.
    send(
        &h,
        reqwest::Method::PATCH,
        "/tenant",
        Some(json!({"event_retention_days": 30})),
    )
    .await?;

    let accepted: Arc<Mutex<HashMap<String, u64>>> = Arc::new(Mutex::new(HashMap::new()));
    let ingest = Arc::new(Mutex::new(histogram()));
    let secs = run.minutes * 60;
    let load = {
        let (h, accepted, ingest) = (h.clone(), accepted.clone(), ingest.clone());
        tokio::spawn(open_loop(rate, secs, move |n| {
            let (h, accepted, ingest) = (h.clone(), accepted.clone(), ingest.clone());
            async move {
                let started = Instant::now();
                let ty = format!("soak.e{}", n % ENDPOINTS);
                let out = publish(&h, "/events", &event(&ty, n, true)).await?;
                let _ = ingest
                    .lock()
                    .expect("histogram")
                    .record(started.elapsed().as_micros().max(1) as u64);
                if let Some(id) = out["id"].as_str() {
                    accepted
                        .lock()
                        .expect("accepted")
                        .insert(id.to_owned(), n as u64);
                }
                Ok(())
            }
        }))
    };

    let began = Instant::now();
    let run_start = chrono::Utc::now();
    let mut samples = Vec::new();
    let mut replay_started = false;
    while !load.is_finished() {
        tokio::time::sleep(Duration::from_secs(u64::from(run.sample_secs))).await;
        samples.push(take_sample(&h, &flaky, &ingest, &accepted, began).await?);
        // A replay of the run's first ten seconds, a third of the way in.
        if !replay_started && began.elapsed().as_secs() >= u64::from(secs / 3) {
            replay_started = true;
            let job = send(
                &h,
                reqwest::Method::POST,
                "/replays",
                Some(json!({
                    "filter": {"from": run_start, "to": run_start + chrono::Duration::seconds(10)},
                    "rate_per_second": 200.0,
                    "reason": "soak: replaying the first ten seconds"
                })),
            )
            .await?;
            println!("replay {} started: {} events", job["id"], job["total"]);
        }
    }
    let (sent, failed) = load.await??;
    write_csv(&run.csv, &samples)?;
    settle(&h).await?;
    account(&h, &flaky, &accepted, sent, failed, &samples).await?;
    Arc::into_inner(h)
        .context("server still shared")?
        .stop()
        .await?;
    Ok(())
}

fn write_csv(path: &Path, samples: &[Sample]) -> anyhow::Result<()> {
    let mut out = String::from(
        "secs,rss_mib,open_fds,db_mib,ingest_p50_ms,ingest_p99_ms,delivery_p50_ms,delivery_p99_ms,queue_depth,dlq_depth,published,delivered,pruned\n",
    );
    for s in samples {
        out.push_str(&format!(
            "{:.0},{:.1},{},{:.1},{:.3},{:.3},{:.3},{:.3},{},{},{},{},{}\n",
            s.secs,
            s.rss_mib,
            s.fds,
            s.db_mib,
            s.ingest.0,
            s.ingest.1,
            s.delivery.0,
            s.delivery.1,
            s.queue,
            s.dlq,
            s.published,
            s.delivered,
            s.pruned
        ));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, out)?;
    Ok(())
}

/// Every accepted event delivered, or dead-lettered with a reason; and how
/// far RSS and p99 moved from the first quarter of the run to the last.
async fn account(
    h: &Herald,
    flaky: &Flaky,
    accepted: &Mutex<HashMap<String, u64>>,
    sent: usize,
    failed: usize,
    samples: &[Sample],
) -> anyhow::Result<()> {
    let mut dead: HashMap<String, String> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/dlq?limit=200&cursor={c}"),
            None => "/dlq?limit=200".to_owned(),
        };
        let page = send(h, reqwest::Method::GET, &path, None).await?;
        for e in page["items"].as_array().into_iter().flatten() {
            dead.insert(
                e["event_id"].as_str().unwrap_or_default().to_owned(),
                e["reason"].as_str().unwrap_or_default().to_owned(),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let delivered = flaky.delivered.lock().expect("delivered");
    let accepted = accepted.lock().expect("accepted");
    let (mut ok, mut dlq, mut missing) = (0u64, 0u64, Vec::new());
    for (id, n) in accepted.iter() {
        if delivered.contains(n) {
            ok += 1;
        } else if dead.get(id).is_some_and(|r| !r.is_empty()) {
            dlq += 1;
        } else {
            missing.push(id.clone());
        }
    }
    let quarter = (samples.len() / 4).max(1);
    let mean = |xs: &[Sample], f: fn(&Sample) -> f64| {
        let v: Vec<f64> = xs.iter().map(f).filter(|x| x.is_finite()).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let (head, tail) = (
        &samples[..quarter.min(samples.len())],
        &samples[samples.len().saturating_sub(quarter)..],
    );
    println!(
        "published {sent} ({failed} refused or failed), accepted {}: delivered {ok}, in the DLQ with a reason {dlq}, unaccounted {}",
        accepted.len(),
        missing.len()
    );
    println!(
        "receiver: {} requests, {} answered 500, {} hung",
        flaky.requests.load(Ordering::Relaxed),
        flaky.failed.load(Ordering::Relaxed),
        flaky.hung.load(Ordering::Relaxed)
    );
    println!(
        "first quarter → last quarter (means): RSS {:.1} → {:.1} MiB, open fds {:.0} → {:.0}, ingest p99 {:.2} → {:.2} ms, delivery p99 {:.2} → {:.2} ms",
        mean(head, |s| s.rss_mib),
        mean(tail, |s| s.rss_mib),
        mean(head, |s| s.fds as f64),
        mean(tail, |s| s.fds as f64),
        mean(head, |s| s.ingest.1),
        mean(tail, |s| s.ingest.1),
        mean(head, |s| s.delivery.1),
        mean(tail, |s| s.delivery.1),
    );
    if !missing.is_empty() {
        bail!(
            "{} accepted events are unaccounted for, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }
    Ok(())
}
