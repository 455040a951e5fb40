//! What checking events against their schema costs at ingest:
//! `make bench-validation`.
//!
//! Single-event publishes (32 clients over loopback HTTP, as the throughput
//! bench) of an order event with a typical schema (required properties,
//! types, patterns, bounds, an array of objects), under `schema_mode` off,
//! warn and enforce, in alternating rounds so drift on a noisy machine
//! falls on every mode alike; then the check alone, in process (parse the
//! payload, validate it). Prints events/s per mode, the median of each and
//! what validation costs; asserts nothing about speed.

use std::time::Instant;

use herald_engine::catalog::CompiledSchema;
use herald_engine::store::Durability;
use serde_json::{Value, json};

mod common;

const EVENTS: usize = 20_000;
const CLIENTS: usize = 32;
const ROUNDS: usize = 3;
const IN_PROCESS: usize = 200_000;

fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["order_id", "customer", "total", "items"],
        "properties": {
            "order_id": {"type": "integer", "minimum": 0},
            "customer": {"type": "string", "pattern": "^c_[0-9a-z]+$"},
            "total": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"},
            "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
            "items": {
                "type": "array", "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["sku", "qty"],
                    "properties": {
                        "sku": {"type": "string", "minLength": 1, "maxLength": 32},
                        "qty": {"type": "integer", "minimum": 1}
                    }
                }
            }
        }
    })
}

fn payload(n: usize) -> Value {
    json!({"order_id": n, "customer": "c_123", "total": "19.99", "currency": "EUR",
           "items": [{"sku": "A1", "qty": 2}, {"sku": "B7", "qty": 1}]})
}

async fn publish_all(http: &reqwest::Client, base: &str, key: &str) -> f64 {
    common::post_singles(
        http,
        base,
        key,
        (EVENTS, CLIENTS),
        |n| json!({"event_type": "order.created", "payload": payload(n)}),
    )
    .await
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let started = common::start_with(Durability::Process).await;
        let (base, key, http) = common::http_bench(&started).await;
        let res = http
            .post(format!("{base}/api/v1/event-types"))
            .bearer_auth(&key)
            .json(&json!({"name": "order.created", "schema": schema(), "examples": [payload(1)]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        // A warm-up round, not counted.
        publish_all(&http, &base, &key).await;
        let modes = ["off", "warn", "enforce"];
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
        for round in 0..ROUNDS {
            for (m, mode) in modes.iter().enumerate() {
                let res = http
                    .patch(format!("{base}/api/v1/tenant"))
                    .bearer_auth(&key)
                    .json(&json!({ "schema_mode": mode }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                let rate = publish_all(&http, &base, &key).await;
                println!("round {}: schema_mode={mode}: {rate:.0} events/s", round + 1);
                rates[m].push(rate);
            }
        }
        let off = common::median(rates[0].clone());
        for (m, mode) in modes.iter().enumerate() {
            let rate = common::median(rates[m].clone());
            println!(
                "ingest, single-event POSTs ({CLIENTS} clients, {EVENTS} events, median of {ROUNDS}), schema_mode={mode}: {rate:.0} events/s ({:+.1} % against off)",
                (rate / off - 1.0) * 100.0
            );
        }
        started.running.shutdown().await.unwrap();
    });

    // The check alone: what ingest adds per event, on one core.
    let compiled = CompiledSchema::compile(&schema()).unwrap();
    let texts: Vec<String> = (0..1_000).map(|n| payload(n).to_string()).collect();
    let started = Instant::now();
    let mut passed = 0usize;
    for n in 0..IN_PROCESS {
        let value: Value = serde_json::from_str(&texts[n % texts.len()]).unwrap();
        passed += usize::from(compiled.accepts(&value));
    }
    let per_event = started.elapsed().as_secs_f64() / IN_PROCESS as f64 * 1e6;
    assert_eq!(passed, IN_PROCESS);
    println!(
        "the check alone (parse the payload and validate it), in process: {per_event:.2} µs per event"
    );
}
