//! Fairness: a slow receiver delays only its own deliveries. Each test prints
//! the delay it measured.

use std::time::{Duration, Instant};

use herald_engine::model::Scope;
use serde_json::{Value, json};

use crate::client::{Api, status_and_body};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

/// Publishes `count` events of `event_type` in batches of at most 1,000.
async fn publish_many(api: &Api<'_>, event_type: &str, count: usize) {
    let mut left = count;
    while left > 0 {
        let n = left.min(1_000);
        let events: Vec<Value> = (0..n)
            .map(|i| json!({"event_type": event_type, "payload": {"i": i}}))
            .collect();
        let (status, body) = status_and_body(
            api.post("/api/v1/events/batch", &json!({"events": events}))
                .await,
        )
        .await;
        assert_eq!(status, 202, "{body}");
        left -= n;
    }
}

/// Publishes one event and waits for `receiver` to get it: the delay from the
/// publish to the request's arrival.
async fn one_delivery_delay(api: &Api<'_>, receiver: &Receiver, event_type: &str) -> Duration {
    let before = receiver.received().len();
    let sent = Instant::now();
    api.publish(event_type, json!({"probe": true})).await;
    let got = receiver.wait_for(before + 1, Duration::from_secs(30)).await;
    got[before].at.duration_since(sent)
}

#[tokio::test]
async fn one_tenants_backlog_to_a_hanging_receiver_does_not_delay_another_tenant() {
    let server = TestServer::start().await;
    let a = Api {
        server: &server,
        key: server.tenant_key("tenant-a", Scope::All).await,
    };
    let b = Api {
        server: &server,
        key: server.tenant_key("tenant-b", Scope::All).await,
    };
    // A's receiver never answers within A's 2 s timeout.
    let hanging = Receiver::start(Vec::new(), Reply::Hang(Duration::from_secs(120))).await;
    let healthy = Receiver::ok().await;
    a.endpoint(&hanging.url, &["a.slow"], json!({"timeout_ms": 2_000}))
        .await;
    b.endpoint(&healthy.url, &["b.ok"], json!({})).await;

    let alone = one_delivery_delay(&b, &healthy, "b.ok").await;
    publish_many(&a, "a.slow", 2_000).await;
    // A's endpoint is at its limit with the rest of its backlog due.
    hanging.wait_for(8, Duration::from_secs(10)).await;
    let with_backlog = one_delivery_delay(&b, &healthy, "b.ok").await;
    println!(
        "tenant B's delivery: {} ms alone, {} ms beside tenant A's 2,000 due deliveries to a hanging receiver",
        alone.as_millis(),
        with_backlog.as_millis()
    );
    assert!(
        with_backlog < Duration::from_secs(1),
        "tenant B waited {with_backlog:?} behind tenant A's backlog"
    );
}

#[tokio::test]
async fn eight_hanging_endpoints_do_not_hold_every_slot() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let hanging = Receiver::start(Vec::new(), Reply::Hang(Duration::from_secs(120))).await;
    let healthy = Receiver::ok().await;
    for _ in 0..8 {
        api.endpoint(&hanging.url, &["slow.*"], json!({"timeout_ms": 60_000}))
            .await;
    }
    api.endpoint(&healthy.url, &["fine.*"], json!({})).await;
    // 8 endpoints × 10 events: 80 requests that hang for a minute, 64 of them
    // at once (8 per endpoint).
    publish_many(&api, "slow.x", 10).await;
    hanging.wait_for(64, Duration::from_secs(10)).await;
    let mut delays = Vec::new();
    for _ in 0..5 {
        delays.push(one_delivery_delay(&api, &healthy, "fine.x").await);
    }
    let worst = delays.iter().max().copied().unwrap();
    println!(
        "healthy endpoint beside 8 hanging ones (64 requests in flight): deliveries took {:?} ms",
        delays.iter().map(Duration::as_millis).collect::<Vec<_>>()
    );
    assert!(
        worst < Duration::from_secs(1),
        "the healthy endpoint waited {worst:?} while 8 others hung"
    );
}
