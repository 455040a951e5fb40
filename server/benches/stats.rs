//! Delivery statistics with 1,000,000 recorded attempts: `make bench`.
//!
//! Seeds a week of attempts (ten endpoints, five event types, one in five
//! failing, latencies from 2 ms to 40 s) into the statistics the way recording
//! receipts does (summed per endpoint, event type and minute), then times
//! `GET /api/v1/stats` over loopback for the dashboard's ranges: the last hour
//! by minute, the last day and week by hour, grouped by endpoint and by event
//! type. Then times the dashboard as a browser loads it (`GET /?range=…`:
//! session check, both statistics reads, the DLQ depth, server render) and an
//! endpoint's page with its charts. Prints p50/p95/max per query; asserts
//! nothing about speed.

// A scenario reads top to bottom: the function-length limit is for Herald's own code.
#![allow(clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;
use herald_engine::auth::issue_api_key;
use herald_engine::model::{Counts, EndpointId, EndpointIn, ErrorClass, Granularity, Scope};
use herald_engine::store::StatSample;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod common;

const ATTEMPTS: usize = 1_000_000;
const SAMPLES: usize = 100;

#[tokio::main]
async fn main() {
    let started = common::start().await;
    let (store, tenant, base) = started.parts();

    let seeding = Instant::now();
    let mut rng = StdRng::seed_from_u64(7);
    let mut endpoints: Vec<EndpointId> = Vec::new();
    for i in 0..10 {
        let (endpoint, _) = started
            .running
            .state
            .engine
            .create_endpoint(
                tenant,
                EndpointIn {
                    kind: Default::default(),
                    url: format!("http://127.0.0.1:9/bench-{i}"),
                    event_types: vec!["none.*".into()],
                    filter: None,
                    transform: None,
                    name: String::new(),
                    description: String::new(),
                    headers: Default::default(),
                    semantics: Default::default(),
                    retry_policy: None,
                    retry_policy_id: None,
                    timeout_ms: None,
                    max_in_flight: None,
                    ordering: Default::default(),
                    on_dead: Default::default(),
                    rate_limit: None,
                    ack_timeout_secs: None,
                    circuit_breaker: None,
                    secret: None,
                },
                &herald_engine::audit::AuditBy::system(),
            )
            .await
            .unwrap();
        endpoints.push(endpoint.id);
    }
    let types = [
        "order.created",
        "order.paid",
        "order.shipped",
        "user.created",
        "invoice.due",
    ];
    let now_ms = Utc::now().timestamp_millis();
    let week_ms = 7 * 86_400_000;
    let mut sums: BTreeMap<(usize, usize, i64), Counts> = BTreeMap::new();
    for _ in 0..ATTEMPTS {
        let at = now_ms - rng.gen_range(0..week_ms);
        let error = rng
            .gen_bool(0.2)
            .then(|| ErrorClass::ALL[rng.gen_range(0..ErrorClass::ALL.len())]);
        let latency = if rng.gen_bool(0.9) {
            rng.gen_range(2..400)
        } else {
            rng.gen_range(400..40_000)
        };
        let key = (
            rng.gen_range(0..endpoints.len()),
            rng.gen_range(0..types.len()),
            Granularity::Minute.bucket_start(at),
        );
        sums.entry(key).or_default().add(&Counts::of_attempt(
            error,
            latency,
            error.is_some() && rng.gen_bool(0.1),
        ));
    }
    let rows = sums.len();
    let samples: Vec<StatSample> = sums
        .into_iter()
        .map(|((e, t, minute), counts)| StatSample {
            tenant_id: tenant,
            endpoint_id: endpoints[e],
            event_type: types[t].to_string(),
            at: chrono::DateTime::from_timestamp_millis(minute).unwrap(),
            counts,
        })
        .collect();
    for chunk in samples.chunks(5_000) {
        store.record_stats(chunk.to_vec()).await.unwrap();
    }
    println!(
        "seeded {ATTEMPTS} attempts ({rows} endpoint × type × minute sums) in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let (_, key) = issue_api_key(
        store.as_ref(),
        &herald_engine::audit::AuditBy::system(),
        tenant,
        "bench",
        Scope::Read,
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let to = Utc::now();
    let at = |hours: i64| {
        (to - chrono::Duration::hours(hours))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .replace('+', "%2B")
    };
    let views = [
        ("last hour, by minute", format!("from={}", at(1))),
        ("last 24 h, by hour", format!("from={}", at(24))),
        (
            "last 7 days, by hour",
            format!("from={}&granularity=hour", at(168)),
        ),
        (
            "7 days by endpoint",
            format!("from={}&granularity=hour&group_by=endpoint", at(168)),
        ),
        (
            "7 days by event type",
            format!("from={}&granularity=hour&group_by=event_type", at(168)),
        ),
        (
            "7 days, by day",
            format!("from={}&granularity=day", at(168)),
        ),
    ];
    println!("\nGET /api/v1/stats with {ATTEMPTS} attempts ({SAMPLES} requests each):");
    for (name, query) in views {
        let mut times = Vec::with_capacity(SAMPLES);
        let mut attempts = 0;
        for _ in 0..SAMPLES {
            let started = Instant::now();
            let res = http
                .get(format!("{base}/api/v1/stats?{query}"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{query}");
            let body: serde_json::Value = res.json().await.unwrap();
            times.push(started.elapsed());
            attempts = body["total"]["attempts"].as_u64().unwrap();
        }
        times.sort();
        println!(
            "  {name:<22} p50 {:>6.1} ms   p95 {:>6.1} ms   max {:>6.1} ms   ({attempts} attempts in range)",
            common::percentile(&times, 0.5).as_secs_f64() * 1e3,
            common::percentile(&times, 0.95).as_secs_f64() * 1e3,
            times.last().unwrap().as_secs_f64() * 1e3,
        );
    }

    let token = common::viewer_session(store.as_ref()).await;
    let pages = [
        ("dashboard, last hour", "/?range=1h".to_string()),
        ("dashboard, last 24 h", "/?range=24h".to_string()),
        ("dashboard, last 7 days", "/?range=7d".to_string()),
        (
            "endpoint page, 7 days",
            format!("/endpoints/{}?range=7d", endpoints[0]),
        ),
    ];
    println!(
        "\nConsole pages with their charts' data, server render with {ATTEMPTS} attempts ({SAMPLES} requests each):"
    );
    for (name, path) in pages {
        common::time_page(
            &http,
            (&base, &token),
            (name, &path),
            "data-kpi=\"attempts\"",
            SAMPLES,
        )
        .await;
    }
    started.running.shutdown().await.unwrap();
}
