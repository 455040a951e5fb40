//! What content filters cost at fan-out: `make bench-fanout`.
//!
//! A tenant with 100 endpoints subscribed to `order.*`, paused so the
//! dispatcher sends nothing and ingest's own work is what is measured
//! (a paused endpoint's deliveries are still made, to wait for it).
//! Single-event publishes (32 clients over loopback HTTP) under three
//! set-ups, in alternating rounds so drift on a noisy machine falls on each
//! alike:
//!
//! - `none`: no filters, 100 deliveries per event (today's fan-out);
//! - `all`: every endpoint has a filter every event matches (two
//!   conditions), 100 deliveries per event: the filters' cost alone;
//! - `tenth`: endpoint i takes the events of region i mod 10, so each
//!   event makes 10 deliveries: what a selective filter saves.
//!
//! Then the filters alone, in process: building an event's document and
//! matching it against 100 filters. Prints events/s per set-up and the
//! median of each; asserts nothing about speed.

use std::time::Instant;

use herald_engine::model::filter::{Filter, event_document};
use herald_engine::store::Durability;
use serde_json::{Value, json};

mod common;

const ENDPOINTS: usize = 100;
const EVENTS: usize = 4_000;
const CLIENTS: usize = 32;
const ROUNDS: usize = 3;
const IN_PROCESS: usize = 20_000;

fn payload(n: usize) -> Value {
    json!({"order_id": n, "region": n % 10, "total": 19.99, "currency": "EUR",
           "items": [{"sku": "A1", "qty": 2}, {"sku": "B7", "qty": 1}]})
}

fn filter(setup: &str, endpoint: usize) -> Value {
    match setup {
        "none" => Value::Null,
        "all" => {
            json!({"payload.total": {"$gte": 0}, "payload.currency": {"$in": ["EUR", "USD", "GBP"]}})
        }
        _ => json!({ "payload.region": endpoint % 10 }),
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let started = common::start_with(Durability::Process).await;
        let (base, key, http) = common::http_bench(&started).await;
        let mut endpoints = Vec::new();
        for i in 0..ENDPOINTS {
            let res = http
                .post(format!("{base}/api/v1/endpoints"))
                .bearer_auth(&key)
                .json(&json!({"url": format!("http://127.0.0.1:9/hook/{i}"), "event_types": ["order.*"]}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
            let res = http
                .post(format!("{base}/api/v1/endpoints/{id}/disable"))
                .bearer_auth(&key)
                .json(&json!({"reason": "fan-out bench: ingest only"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            endpoints.push(id);
        }
        let publish = || {
            common::post_singles(&http, &base, &key, (EVENTS, CLIENTS), |n| {
                json!({"event_type": "order.created", "payload": payload(n)})
            })
        };
        // A warm-up round, not counted.
        publish().await;
        let setups = ["none", "all", "tenth"];
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
        for round in 0..ROUNDS {
            for (s, setup) in setups.iter().enumerate() {
                for (i, id) in endpoints.iter().enumerate() {
                    let res = http
                        .patch(format!("{base}/api/v1/endpoints/{id}"))
                        .bearer_auth(&key)
                        .json(&json!({ "filter": filter(setup, i) }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                }
                let rate = publish().await;
                println!("round {}: filters={setup}: {rate:.0} events/s", round + 1);
                rates[s].push(rate);
            }
        }
        let none = common::median(rates[0].clone());
        for (s, setup) in setups.iter().enumerate() {
            let rate = common::median(rates[s].clone());
            println!(
                "ingest to {ENDPOINTS} endpoints, single-event POSTs ({CLIENTS} clients, {EVENTS} events, median of {ROUNDS}), filters={setup}: {rate:.0} events/s ({:+.1} % against none)",
                (rate / none - 1.0) * 100.0
            );
        }
        started.running.shutdown().await.unwrap();
    });

    // The filters alone: an event's document, then 100 filters over it.
    let filters: Vec<Filter> = (0..ENDPOINTS)
        .map(|i| Filter::parse(&filter("tenth", i)).unwrap())
        .collect();
    let texts: Vec<String> = (0..1_000).map(|n| payload(n).to_string()).collect();
    let started = Instant::now();
    let mut matched = 0usize;
    for n in 0..IN_PROCESS {
        let payload: Value = serde_json::from_str(&texts[n % texts.len()]).unwrap();
        let doc = event_document("order.created", Some("shop"), payload, None);
        matched += filters.iter().filter(|f| f.matches(&doc)).count();
    }
    let per_event = started.elapsed().as_secs_f64() / IN_PROCESS as f64 * 1e6;
    assert_eq!(matched, IN_PROCESS * ENDPOINTS / 10);
    println!(
        "the filters alone (an event's document, matched against {ENDPOINTS} filters), in process: {per_event:.2} µs per event"
    );
}
