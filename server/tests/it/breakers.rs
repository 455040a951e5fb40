//! Circuit breakers end to end: a receiver failing every request opens its
//! endpoint's breaker; while open nothing is sent; one probe goes out per
//! cool-down; once the receiver recovers a probe closes it and the held
//! deliveries flow; the statistics count what it held back; the tenant's
//! operations endpoint is sent each transition, signed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Api, signature_verifies, until};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn a_failing_receiver_opens_the_breaker_one_probe_per_cool_down_and_recovery_closes_it() {
    // When each request arrived, on the clock the breaker's times are on.
    let (clock, instant) = (chrono::Utc::now(), Instant::now());
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let healthy = Arc::new(AtomicBool::new(false));
    let judge = healthy.clone();
    let receiver = Receiver::judging(
        move |_, _| (!judge.load(Ordering::SeqCst)).then_some(Reply::Status(503)),
        Reply::Status(200),
    )
    .await;
    // The operations endpoint hears of every transition, and of nothing else.
    let operations = Receiver::ok().await;
    let (ops_id, ops_secret) = api
        .endpoint(&operations.url, &["ops.none"], json!({}))
        .await;
    let res = api
        .send(
            reqwest::Method::PATCH,
            "/api/v1/tenant",
            Some(&json!({"operations_endpoint_id": ops_id})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (id, _) = api
        .endpoint(
            &receiver.url,
            &["*"],
            json!({
                "retry_policy": {"backoff": {"kind": "schedule", "delays_secs": [1]}, "max_attempts": 50, "jitter": 0.0},
                "circuit_breaker": {"min_attempts": 5, "window_secs": 60, "cooldown_secs": 2}
            }),
        )
        .await;
    for n in 0..10 {
        api.publish("order.created", json!({"n": n})).await;
    }
    let path = format!("/api/v1/endpoints/{id}");
    let state = |e: &Value| {
        e["breaker"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let opened_at = |e: &Value| {
        chrono::DateTime::parse_from_rfc3339(e["breaker"]["opened_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let arrived = |r: &crate::receiver::Received| {
        clock + chrono::Duration::from_std(r.at.duration_since(instant)).unwrap()
    };
    let first = until(&api, &path, Duration::from_secs(15), |e| state(e) == "open").await;
    let opened = opened_at(&first);
    let before = receiver
        .received()
        .iter()
        .filter(|r| arrived(r) <= opened)
        .count();
    assert!(before >= 5, "it opened after {before} attempts");

    // Open: nothing goes out until the probe, which fails; it opens again.
    // (Requests already on their way when it opened may land just after;
    // the retries it holds were due a second later.)
    let grace = chrono::Duration::milliseconds(500);
    let reopened = until(&api, &path, Duration::from_secs(15), |e| {
        e["breaker"]["trips"] == 2
    })
    .await;
    let again = opened_at(&reopened);
    let while_open = receiver
        .received()
        .iter()
        // The probe's failure may be recorded (`again`) a moment before the
        // receiver's clock notes its arrival; the next probe is a cool-down
        // (2 s) away.
        .filter(|r| arrived(r) > opened + grace && arrived(r) <= again + grace)
        .count();
    assert_eq!(
        while_open, 1,
        "one probe in the cool-down, nothing else: {reopened}"
    );

    // The receiver recovers: the next probe closes it and the backlog flows.
    healthy.store(true, Ordering::SeqCst);
    until(&api, &path, Duration::from_secs(20), |e| {
        state(e) == "closed"
    })
    .await;
    until(
        &api,
        "/api/v1/events?limit=20&event_type=order.created",
        Duration::from_secs(20),
        |page| {
            page["items"]
                .as_array()
                .is_some_and(|items| items.len() == 10 && items.iter().all(|e| e["succeeded"] == 1))
        },
    )
    .await;

    let stats = api.get("/api/v1/stats?granularity=minute").await;
    assert!(
        stats["total"]["breaker_held"].as_u64().unwrap_or(0) >= 1,
        "what the breaker held back is counted: {stats}"
    );
    let audit = api
        .get(&format!("/api/v1/audit?target={id}&action=endpoint."))
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .filter(|a| a.starts_with("endpoint.circuit"))
        .collect();
    assert_eq!(
        actions,
        [
            "endpoint.circuit_closed",
            "endpoint.circuit_opened",
            "endpoint.circuit_opened"
        ]
    );

    // And `/metrics` counted them.
    let metrics = server.metrics().await;
    for expected in [
        "herald_breaker_transitions_total{change=\"opened\"} 2",
        "herald_breaker_transitions_total{change=\"closed\"} 1",
        "herald_breaker_transitions_total{change=\"disabled\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == expected),
            "{expected}: {metrics}"
        );
    }

    // The operations endpoint was told each transition, signed, in order.
    let deadline = Instant::now() + Duration::from_secs(15);
    while operations.received().len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let told = operations.received();
    let types: Vec<&str> = told.iter().map(|r| r.header("herald-event-type")).collect();
    assert_eq!(
        types,
        [
            "herald.endpoint.circuit_opened",
            "herald.endpoint.circuit_opened",
            "herald.endpoint.circuit_closed"
        ]
    );
    for r in &told {
        assert!(
            signature_verifies(&ops_secret, r),
            "signed with the operations endpoint's secret"
        );
        assert_ne!(
            r.header("herald-test"),
            "true",
            "not marked as a test event"
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["endpoint_id"], id.as_str(), "{body}");
        assert!(
            body["reason"].as_str().is_some_and(|s| !s.is_empty()),
            "{body}"
        );
    }
    let opened: Value = serde_json::from_slice(&told[0].body).unwrap();
    assert!(opened["next_probe_at"].is_string(), "{opened}");
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| !r.header("herald-event-type").starts_with("herald.")),
        "the failing endpoint subscribes to everything and gets no operational event"
    );

    // The command line tells the same story.
    let (ok, out, err) =
        crate::cli::remote(&server, &api.key, &["endpoints", "breaker", &id]).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("Circuit breaker of {id}: closed")),
        "{out}"
    );
    assert!(
        out.contains("opens when 50 % of at least 5 attempts fail within 60 s"),
        "{out}"
    );
    assert!(out.contains("endpoint.circuit_closed"), "{out}");
    assert!(out.contains("a probe succeeded"), "{out}");
}
