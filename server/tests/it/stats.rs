//! Delivery statistics read back over the API: what the charts draw.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Api, states};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

/// The ⌈q·n⌉-th fastest of `latencies`.
fn exact(latencies: &[u64], q: f64) -> u64 {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[tokio::test]
async fn latency_percentiles_are_within_a_thirty_second_of_the_receipts() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    // The receiver answers each event after the delay its payload asks for.
    let receiver = Receiver::judging(
        |body, _| {
            let body: Value = serde_json::from_slice(body).ok()?;
            let delay = body["delay_ms"].as_u64()?;
            Some(Reply::Hang(Duration::from_millis(delay)))
        },
        Reply::Status(200),
    )
    .await;
    api.endpoint(&receiver.url, &["timing.*"], json!({"max_in_flight": 40}))
        .await;
    let mut events = Vec::new();
    for i in 0..40_u64 {
        events.push(
            api.publish("timing.probe", json!({"delay_ms": 40 + 11 * i}))
                .await,
        );
    }
    let mut latencies = Vec::new();
    for event in &events {
        let detail = api
            .event_until(event, Duration::from_secs(30), |d| {
                states(d) == ["succeeded"]
            })
            .await;
        latencies.push(
            detail["deliveries"][0]["attempt_log"][0]["latency_ms"]
                .as_u64()
                .unwrap(),
        );
    }

    let stats = api.get("/api/v1/stats?granularity=minute").await;
    let total = &stats["total"];
    assert_eq!(total["attempts"], 40, "{stats}");
    let histogram: u64 = total["latency_histogram"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(histogram, 40, "every attempt is in the histogram: {stats}");
    for (field, q) in [
        ("latency_p50_ms", 0.50),
        ("latency_p95_ms", 0.95),
        ("latency_p99_ms", 0.99),
    ] {
        let reported = total[field].as_u64().unwrap();
        let exact = exact(&latencies, q);
        assert!(
            reported.abs_diff(exact) * 32 <= exact,
            "{field}: {reported} ms reported, {exact} ms in the receipts {latencies:?}"
        );
    }
}
