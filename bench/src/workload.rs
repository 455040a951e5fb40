//! What each command sends, and what it prints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::herald::{Herald, Launch};
use crate::receiver::{Receiver, histogram, now_us};

pub struct Sizes {
    pub single_events: usize,
    pub single_clients: usize,
    pub batches: usize,
    pub batch_size: usize,
    pub batch_clients: usize,
    pub deliveries: usize,
    /// Endpoints subscribed to every event: deliveries per event.
    pub endpoints: usize,
}

/// A typical small order event; `sent_us` when the receiver should time it.
pub(crate) fn event(event_type: &str, n: usize, stamp: bool) -> Value {
    let mut payload = json!({
        "order_id": n, "customer": "c_123", "total": "19.99",
        "items": [{"sku": "A1", "qty": 2}]
    });
    if stamp {
        payload["sent_us"] = json!(now_us());
    }
    json!({"event_type": event_type, "payload": payload})
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub(crate) fn percentiles(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "no samples".into();
    }
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.95)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    )
}

/// Publishes `body` to `path`; the response's JSON when it is a 202.
pub(crate) async fn post(h: &Herald, path: &str, body: &Value) -> anyhow::Result<Value> {
    let res = h
        .http
        .post(h.url(path))
        .bearer_auth(&h.key)
        .json(body)
        .send()
        .await?;
    let status = res.status();
    let text = res.text().await?;
    if status != 202 {
        bail!("{path}: {status} {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

/// `clients` closed-loop clients share `count` jobs; each job's request time
/// is recorded. Returns the wall time and the request latencies.
async fn closed_loop<F, Fut>(
    clients: usize,
    count: usize,
    job: F,
) -> anyhow::Result<(Duration, Histogram<u64>)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (job, next) = (job.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut took = histogram();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(took);
                }
                let t = Instant::now();
                job(n).await?;
                took.record(t.elapsed().as_micros().max(1) as u64)?;
            }
        }));
    }
    let mut all = histogram();
    for task in tasks {
        all.add(task.await??)?;
    }
    Ok((started.elapsed(), all))
}

async fn single(
    h: &Arc<Herald>,
    events: usize,
    clients: usize,
    event_type: &'static str,
) -> anyhow::Result<(Duration, Histogram<u64>)> {
    let h = h.clone();
    closed_loop(clients, events, move |n| {
        let h = h.clone();
        async move {
            post(&h, "/events", &event(event_type, n, false)).await?;
            Ok(())
        }
    })
    .await
}

async fn batched(
    h: &Arc<Herald>,
    batches: usize,
    size: usize,
    clients: usize,
    event_type: &'static str,
) -> anyhow::Result<(Duration, Histogram<u64>)> {
    let h = h.clone();
    closed_loop(clients, batches, move |i| {
        let h = h.clone();
        async move {
            let events: Vec<Value> = (0..size)
                .map(|n| event(event_type, i * size + n, false))
                .collect();
            post(&h, "/events/batch", &json!({"events": events})).await?;
            Ok(())
        }
    })
    .await
}

/// Waits for the receiver to have `expected` deliveries; how long it took.
async fn drained(rx: &Receiver, expected: u64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    if !rx.wait_for(expected, Duration::from_secs(900)).await {
        bail!(
            "deliveries stalled: {} of {expected} arrived",
            rx.received()
        );
    }
    Ok(started.elapsed())
}

pub async fn throughput(launch: &Launch, s: Sizes) -> anyhow::Result<()> {
    let h = Arc::new(launch.start().await?);
    let rx = Receiver::start().await?;
    for _ in 0..s.endpoints {
        h.endpoint(&rx.url, &["load.*"]).await?;
    }
    let fanout = s.endpoints as u64;
    println!(
        "herald-load throughput ({}): {} (separate processes), {} subscribed to every event published, max_in_flight {} each",
        launch.label(),
        h.base,
        if s.endpoints == 1 {
            "one endpoint".to_owned()
        } else {
            format!("{} endpoints", s.endpoints)
        },
        h.endpoint_limit()
    );

    let (took, lat) = single(&h, s.single_events, s.single_clients, "load.single").await?;
    let mut expected = s.single_events as u64 * fanout;
    println!(
        "ingest, single-event POSTs ({} clients, {} events): {:.0} events/s; request {}",
        s.single_clients,
        s.single_events,
        s.single_events as f64 / took.as_secs_f64(),
        percentiles(&lat)
    );
    let rest = drained(&rx, expected).await?;
    println!(
        "  their deliveries: the last arrived {:.2} s after the last 202",
        rest.as_secs_f64()
    );

    let (took, lat) = batched(&h, s.batches, s.batch_size, s.batch_clients, "load.batch").await?;
    let events = s.batches * s.batch_size;
    expected += events as u64 * fanout;
    println!(
        "ingest, batches of {} ({} clients, {events} events): {:.0} events/s; request {}",
        s.batch_size,
        s.batch_clients,
        events as f64 / took.as_secs_f64(),
        percentiles(&lat)
    );
    let rest = drained(&rx, expected).await?;
    println!(
        "  their deliveries: the last arrived {:.2} s after the last 202",
        rest.as_secs_f64()
    );

    let started = Instant::now();
    let batches = s.deliveries.div_ceil(s.batch_size);
    batched(&h, batches, s.batch_size, s.batch_clients, "load.delivery").await?;
    expected += (batches * s.batch_size) as u64 * fanout;
    drained(&rx, expected).await?;
    let delivered = batches * s.batch_size * s.endpoints;
    println!(
        "delivery to one local receiver ({} events published in batches of {}, {delivered} deliveries, first publish to last arrival): {:.0} deliveries/s",
        batches * s.batch_size,
        s.batch_size,
        delivered as f64 / started.elapsed().as_secs_f64()
    );
    Arc::into_inner(h)
        .context("server still shared")?
        .stop()
        .await?;
    Ok(())
}

/// Publishes single events at `rate` per second for `secs`, each request in
/// its own task (an open loop: a slow answer does not slow the sender).
pub(crate) async fn open_loop<F, Fut>(
    rate: u32,
    secs: u32,
    job: F,
) -> anyhow::Result<(usize, usize)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let total = rate as usize * secs as usize;
    let job = Arc::new(job);
    let failed = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let at = started + Duration::from_secs_f64(n as f64 / f64::from(rate));
        tokio::time::sleep_until(at).await;
        let (job, failed) = (job.clone(), failed.clone());
        tasks.spawn(async move {
            if let Err(e) = job(n).await
                && failed.fetch_add(1, Ordering::Relaxed) < 5
            {
                eprintln!("request {n} failed: {e:#}");
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    Ok((total, failed.load(Ordering::Relaxed)))
}

pub async fn latency(launch: &Launch, rates: &[u32], secs: u32) -> anyhow::Result<()> {
    let h = Arc::new(launch.start().await?);
    let rx = Receiver::start().await?;
    h.endpoint(&rx.url, &["load.*"]).await?;
    println!(
        "herald-load latency ({}): {} (separate processes), endpoint max_in_flight {}; payloads carry their send time, the receiver its arrival",
        launch.label(),
        h.base,
        h.endpoint_limit()
    );
    let mut expected = 0u64;
    for &rate in rates {
        let took = Arc::new(Mutex::new(histogram()));
        let (hh, t) = (h.clone(), took.clone());
        let (sent, failed) = open_loop(rate, secs, move |n| {
            let (h, took) = (hh.clone(), t.clone());
            async move {
                let started = Instant::now();
                post(&h, "/events", &event("load.latency", n, true)).await?;
                took.lock()
                    .expect("histogram")
                    .record(started.elapsed().as_micros().max(1) as u64)?;
                Ok(())
            }
        })
        .await?;
        expected += (sent - failed) as u64;
        let arrived_all = rx.wait_for(expected, Duration::from_secs(60)).await;
        let lat = rx.take_latency();
        println!(
            "{rate} events/s for {secs} s ({sent} published, {failed} failed{}): ingest→receiver {}; publish request {}",
            if arrived_all {
                ""
            } else {
                ", NOT all delivered within 60 s"
            },
            percentiles(&lat),
            percentiles(&took.lock().expect("histogram"))
        );
    }
    Arc::into_inner(h)
        .context("server still shared")?
        .stop()
        .await?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Publish,
    List,
    Read,
}

const KINDS: [(Kind, &str); 3] = [
    (Kind::Publish, "publish"),
    (Kind::List, "list events"),
    (Kind::Read, "read one event"),
];

/// Half publishes, a quarter lists of the newest events, a quarter reads of
/// one recently published event (what an inbox or a console does).
fn kind_of(n: usize) -> Kind {
    match n % 4 {
        0 | 1 => Kind::Publish,
        2 => Kind::List,
        _ => Kind::Read,
    }
}

struct Tally {
    latency: [Histogram<u64>; 3],
    failed: [usize; 3],
    recent: Vec<String>,
}

async fn mixed(h: &Herald, tally: &Mutex<Tally>, n: usize) -> anyhow::Result<()> {
    let kind = kind_of(n);
    let started = Instant::now();
    let ok = match kind {
        Kind::Publish => match post(h, "/events", &event("load.mixed", n, false)).await {
            Ok(body) => {
                let id = body["id"].as_str().unwrap_or_default().to_owned();
                let mut t = tally.lock().expect("tally");
                if t.recent.len() >= 1_000 {
                    t.recent.remove(0);
                }
                t.recent.push(id);
                true
            }
            Err(_) => false,
        },
        Kind::List | Kind::Read => {
            let path = match kind {
                Kind::List => "/events?limit=20".to_owned(),
                _ => {
                    let t = tally.lock().expect("tally");
                    match t.recent.get(n % t.recent.len().max(1)) {
                        Some(id) => format!("/events/{id}"),
                        None => "/events?limit=1".to_owned(),
                    }
                }
            };
            let res = h.http.get(h.url(&path)).bearer_auth(&h.key).send().await;
            match res {
                Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                Err(_) => false,
            }
        }
    };
    let took = started.elapsed().as_micros().max(1) as u64;
    let mut t = tally.lock().expect("tally");
    let i = kind as usize;
    if ok {
        t.latency[i].record(took)?;
    } else {
        t.failed[i] += 1;
    }
    Ok(())
}

pub async fn load(launch: &Launch, phases: &[(&str, u32, u32)]) -> anyhow::Result<()> {
    let h = Arc::new(launch.start().await?);
    let rx = Receiver::start().await?;
    h.endpoint(&rx.url, &["load.*"]).await?;
    println!(
        "herald-load load: {} (a separate process); half publishes (each delivered to one endpoint), a quarter event lists, a quarter single-event reads",
        h.base
    );
    for &(name, rate, secs) in phases {
        let tally = Arc::new(Mutex::new(Tally {
            latency: [histogram(), histogram(), histogram()],
            failed: [0; 3],
            recent: Vec::new(),
        }));
        let (hh, t) = (h.clone(), tally.clone());
        open_loop(rate, secs, move |n| {
            let (h, t) = (hh.clone(), t.clone());
            async move { mixed(&h, &t, n).await }
        })
        .await?;
        let t = tally.lock().expect("tally");
        let mut all = histogram();
        let mut failed = 0;
        for (kind, label) in KINDS {
            let i = kind as usize;
            all.add(&t.latency[i])?;
            failed += t.failed[i];
            println!(
                "  {name} {label}: {} ok, {} failed; {}",
                t.latency[i].len(),
                t.failed[i],
                percentiles(&t.latency[i])
            );
        }
        let total = all.len() as usize + failed;
        println!(
            "{name}: {rate} requests/s for {secs} s: {total} requests, {:.3} % succeeded; {}",
            100.0 * all.len() as f64 / total.max(1) as f64,
            percentiles(&all)
        );
    }
    Arc::into_inner(h)
        .context("server still shared")?
        .stop()
        .await?;
    Ok(())
}

/// The instructions the server ran in all, from callgrind's summary.
fn collected(stderr: &str) -> anyhow::Result<u64> {
    stderr
        .lines()
        .find_map(|l| l.split("Collected : ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("no callgrind summary in the server's stderr:\n{stderr}"))
}

#[derive(Clone, Copy, PartialEq)]
enum Work {
    Single,
    Batched,
    Delivered,
}

/// One server run under the wrapper doing `n` of `work`; its instructions.
async fn counted(launch: &Launch, work: Work, n: usize) -> anyhow::Result<u64> {
    let h = Arc::new(launch.start().await?);
    let rx = Receiver::start().await?;
    if work == Work::Delivered {
        h.endpoint(&rx.url, &["load.*"]).await?;
    }
    match work {
        Work::Single => {
            single(&h, n, 8, "load.single").await?;
        }
        Work::Batched | Work::Delivered => {
            batched(&h, n / 100, 100, 2, "load.batch").await?;
        }
    }
    if work == Work::Delivered {
        drained(&rx, n as u64).await?;
    }
    let stderr = Arc::into_inner(h)
        .context("server still shared")?
        .stop()
        .await?;
    collected(&stderr)
}

pub async fn instructions(launch: &Launch, small: usize, large: usize) -> anyhow::Result<()> {
    if large <= small || !small.is_multiple_of(100) || !large.is_multiple_of(100) {
        bail!("--large must be above --small, both multiples of 100");
    }
    println!(
        "herald-load instructions: {} under `{}`; each workload at {small} and {large}",
        launch.bin.display(),
        launch.wrap.join(" ")
    );
    let mut slopes = Vec::new();
    for (work, label) in [
        (Work::Single, "single-event POSTs (8 clients), no endpoint"),
        (Work::Batched, "batches of 100 (2 clients), no endpoint"),
        (
            Work::Delivered,
            "batches of 100, each event delivered to one endpoint",
        ),
    ] {
        let a = counted(launch, work, small).await?;
        let b = counted(launch, work, large).await?;
        let per = (b.saturating_sub(a)) as f64 / (large - small) as f64;
        println!("{label}: {a} and {b} instructions in all: {per:.0} per event");
        slopes.push(per);
    }
    println!(
        "per ingested event, single-event requests: {:.0} instructions",
        slopes[0]
    );
    println!(
        "per ingested event, in batches: {:.0} instructions",
        slopes[1]
    );
    println!(
        "per delivery (a delivered event less a batched one): {:.0} instructions",
        slopes[2] - slopes[1]
    );
    Ok(())
}
