//! An endpoint's rate limit holds across nodes: the bucket the claims spend
//! is in the database they share.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Cluster;
use crate::receiver::Receiver;

/// 2,000 deliveries to an endpoint limited to 100/s, published through both
/// of two nodes, take 20 s within 10 %: the bucket starts full (one
/// second's worth) and refills at 100 a second, so 19 s is the fastest a
/// limit kept exactly allows. Throttled deliveries are never attempts: each
/// arrives once.
#[tokio::test]
async fn two_nodes_keep_an_endpoints_rate_limit_together() {
    const EVENTS: usize = 2_000;
    let cluster = Cluster::start(2, None).await;
    let receiver = Receiver::ok().await;
    cluster
        .endpoint_with(
            &receiver.url,
            &["*"],
            json!({"rate_limit": {"limit": 100, "per": "second"}, "max_in_flight": 32}),
        )
        .await;
    let started = Instant::now();
    for (b, start) in (0..EVENTS).step_by(500).enumerate() {
        let events: Vec<Value> = (start..start + 500)
            .map(|n| json!({"event_type": "metered.created", "payload": {"n": n}}))
            .collect();
        let (status, body) = cluster
            .post(b % 2, "/api/v1/events/batch", &json!({ "events": events }))
            .await;
        assert_eq!(status, 202, "{body}");
    }
    receiver.wait_for(EVENTS, Duration::from_secs(60)).await;
    let took = started.elapsed();
    // In any one second: never more than the limit, the bucket's one
    // second's worth and the debt a receipt's refill racing a claim may run
    // up (at most one refill: the endpoint's 32 slots), which later claims
    // wait out.
    let got = receiver.received();
    let first = got[0].at;
    let mut per_second = std::collections::BTreeMap::<u64, usize>::new();
    for r in &got {
        *per_second
            .entry(r.at.duration_since(first).as_secs())
            .or_default() += 1;
    }
    eprintln!(
        "rate limit 100/s over two nodes: {EVENTS} deliveries in {:.1} s; per second: {:?}",
        took.as_secs_f64(),
        per_second.values().collect::<Vec<_>>()
    );
    assert_eq!(got.len(), EVENTS, "each delivery arrived once");
    assert!(
        (18.0..=22.0).contains(&took.as_secs_f64()),
        "2,000 deliveries at 100/s took {:.1} s, not 20 s ± 10 %",
        took.as_secs_f64()
    );
    for (second, n) in &per_second {
        assert!(
            *n <= 100 + 100 + 32,
            "second {second}: {n} deliveries, more than the limit, a full bucket and one refill's debt"
        );
    }
}
