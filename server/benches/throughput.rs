//! Throughput of ingest and delivery on this machine: `make bench`.
//!
//! Starts the whole server in-process (release build, SQLite in a temp dir)
//! and drives it over loopback HTTP from the same process, so load generator
//! and server share the machine's cores; the numbers are a floor for a
//! dedicated server. Prints events/s and deliveries/s; asserts nothing about speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::routing::post;
use herald_engine::auth::issue_api_key;
use herald_engine::model::Scope;
use herald_engine::store::Durability;
use serde_json::{Value, json};

mod common;

const SINGLE_EVENTS: usize = 20_000;
const SINGLE_CLIENTS: usize = 32;
const BATCHES: usize = 100;
const BATCH_SIZE: usize = 1_000;
const DELIVERIES: usize = 20_000;

struct Bench {
    running: herald_server::Running,
    base: String,
    key: String,
    http: reqwest::Client,
    _data: tempfile::TempDir,
}

async fn start(durability: Durability) -> Bench {
    let common::Started {
        running,
        tenant,
        base,
        data,
    } = common::start_with(durability).await;
    let (_, key) = issue_api_key(
        running.state.store.as_ref(),
        &herald_engine::audit::AuditBy::system(),
        tenant,
        "bench",
        Scope::All,
    )
    .await
    .unwrap();
    Bench {
        base,
        running,
        key,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap(),
        _data: data,
    }
}

fn payload(n: usize) -> Value {
    json!({"order_id": n, "customer": "c_123", "total": "19.99", "items": [{"sku": "A1", "qty": 2}]})
}

async fn single_ingest(b: &Bench) -> f64 {
    common::post_singles(
        &b.http,
        &b.base,
        &b.key,
        (SINGLE_EVENTS, SINGLE_CLIENTS),
        |n| json!({"event_type": "order.created", "payload": payload(n)}),
    )
    .await
}

async fn batch_ingest(b: &Bench, batches: usize, event_type: &str) -> f64 {
    let started = Instant::now();
    let mut senders = Vec::new();
    let next = Arc::new(AtomicUsize::new(0));
    for _ in 0..4 {
        let (http, url, key, next) = (
            b.http.clone(),
            format!("{}/api/v1/events/batch", b.base),
            b.key.clone(),
            next.clone(),
        );
        let event_type = event_type.to_owned();
        senders.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= batches {
                    break;
                }
                let events: Vec<Value> = (0..BATCH_SIZE)
                    .map(|n| json!({"event_type": event_type, "payload": payload(i * BATCH_SIZE + n)}))
                    .collect();
                let res = http.post(&url).bearer_auth(&key).json(&json!({"events": events})).send().await.unwrap();
                assert_eq!(res.status(), 202);
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    (batches * BATCH_SIZE) as f64 / started.elapsed().as_secs_f64()
}

async fn deliveries(b: &Bench) -> f64 {
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let res = b
        .http
        .post(format!("{}/api/v1/endpoints", b.base))
        .bearer_auth(&b.key)
        .json(&json!({"url": hook, "event_types": ["delivery.*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let started = Instant::now();
    batch_ingest(b, DELIVERIES / BATCH_SIZE, "delivery.bench").await;
    while received.load(Ordering::Relaxed) < DELIVERIES {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "deliveries stalled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    DELIVERIES as f64 / started.elapsed().as_secs_f64()
}

/// A replay job at the highest rate Herald accepts, over the events the
/// delivery run published (each arms a delivery to the bench receiver):
/// the rate the job actually took events at, from its own progress.
async fn replay_at_max_rate(b: &Bench) -> (f64, u64) {
    let rate = herald_engine::recovery::MAX_REPLAY_RATE;
    let res = b
        .http
        .post(format!("{}/api/v1/replays", b.base))
        .bearer_auth(&b.key)
        .json(&json!({"filter": {"event_types": ["delivery.bench"]}, "rate_per_second": rate, "reason": "bench"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let job: Value = res.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    let total = job["total"].as_u64().unwrap();
    let started = Instant::now();
    loop {
        let job: Value = b
            .http
            .get(format!("{}/api/v1/replays/{id}", b.base))
            .bearer_auth(&b.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["dispatched"].as_u64().unwrap() >= total {
            return (total as f64 / started.elapsed().as_secs_f64(), total);
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "replay stalled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Ingest under each durability setting, each on a fresh database; the
        // default (power) last, and delivery on it.
        let process = start(Durability::Process).await;
        let single = single_ingest(&process).await;
        println!("ingest, single-event POSTs ({SINGLE_CLIENTS} clients, {SINGLE_EVENTS} events), durability=process: {single:.0} events/s");
        let batched = batch_ingest(&process, BATCHES, "order.created").await;
        println!("ingest, batches of {BATCH_SIZE} (4 clients, {} events), durability=process: {batched:.0} events/s", BATCHES * BATCH_SIZE);
        process.running.shutdown().await.unwrap();

        let b = start(Durability::Power).await;
        let single = single_ingest(&b).await;
        println!("ingest, single-event POSTs ({SINGLE_CLIENTS} clients, {SINGLE_EVENTS} events), durability=power: {single:.0} events/s");
        let batched = batch_ingest(&b, BATCHES, "order.created").await;
        println!("ingest, batches of {BATCH_SIZE} (4 clients, {} events), durability=power: {batched:.0} events/s", BATCHES * BATCH_SIZE);
        let delivered = deliveries(&b).await;
        println!("delivery to one local receiver ({DELIVERIES} events, published in batches): {delivered:.0} deliveries/s");
        let (replayed, total) = replay_at_max_rate(&b).await;
        println!(
            "replay at the maximum rate ({} events/s asked, {total} events, each arming a delivery): {replayed:.0} events/s taken",
            herald_engine::recovery::MAX_REPLAY_RATE
        );
        b.running.shutdown().await.unwrap();
    });
}
