//! Operational webhooks end to end: a tenant names an operations endpoint
//! and a dead-letter threshold; a receiver that answers 410, a dead-letter
//! queue past the threshold and a finished replay each reach it as a
//! signed event, addressed to it alone.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Api, fast_policy, signature_verifies, status_and_body, until};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

/// The operational events `receiver` got so far, by type.
fn told(receiver: &Receiver, event_type: &str) -> Vec<Value> {
    receiver
        .received()
        .iter()
        .filter(|r| r.header("herald-event-type") == event_type)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

async fn wait_for(receiver: &Receiver, event_type: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(first) = told(receiver, event_type).into_iter().next() {
            return first;
        }
        assert!(Instant::now() < deadline, "no {event_type} within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_operations_endpoint_hears_of_a_gone_receiver_a_dlq_past_its_threshold_and_replays() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let operations = Receiver::ok().await;
    let (ops_id, ops_secret) = api
        .endpoint(&operations.url, &["ops.none"], json!({}))
        .await;

    // Naming an endpoint the tenant does not have is refused and changes nothing.
    let res = api
        .send(
            reqwest::Method::PATCH,
            "/api/v1/tenant",
            Some(&json!({"operations_endpoint_id": "ep_01J00000000000000000000000", "dlq_alert_threshold": 1})),
        )
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body.to_string().contains("ep_01J00000000000000000000000"),
        "{body}"
    );
    let tenant = api.get("/api/v1/tenant").await;
    assert_eq!(tenant["dlq_alert_threshold"], Value::Null, "{tenant}");

    let res = api
        .send(
            reqwest::Method::PATCH,
            "/api/v1/tenant",
            Some(&json!({"operations_endpoint_id": ops_id, "dlq_alert_threshold": 1})),
        )
        .await;
    let (status, tenant) = status_and_body(res).await;
    assert_eq!(status, 200, "{tenant}");
    assert_eq!(tenant["operations_endpoint_id"], ops_id.as_str());
    assert_eq!(tenant["dlq_alert_threshold"], 1);

    // A receiver that is gone: its endpoint is disabled, and that is told once.
    let gone = Receiver::start(Vec::new(), Reply::Status(410)).await;
    let (gone_id, _) = api.endpoint(&gone.url, &["order.*"], json!({})).await;
    for n in 0..4 {
        api.publish("order.created", json!({"n": n})).await;
    }
    let disabled = wait_for(&operations, "herald.endpoint.disabled").await;
    assert_eq!(disabled["endpoint_id"], gone_id.as_str(), "{disabled}");
    assert_eq!(disabled["cause"], "gone", "{disabled}");

    // Two dead letters are more than the threshold of one.
    let failing = Receiver::start(Vec::new(), Reply::Status(500)).await;
    api.endpoint(
        &failing.url,
        &["invoice.*"],
        json!({"retry_policy": fast_policy(1)}),
    )
    .await;
    for n in 0..2 {
        api.publish("invoice.created", json!({"n": n})).await;
    }
    let alert = wait_for(&operations, "herald.dlq.threshold_exceeded").await;
    assert_eq!(
        (alert["entries"].as_u64(), alert["threshold"].as_u64()),
        (Some(2), Some(1)),
        "{alert}"
    );

    // A replay that finishes says so, with the job.
    let res = api
        .post(
            "/api/v1/replays",
            &json!({"filter": {"event_types": ["invoice.created"]}, "rate_per_second": 100, "reason": "check"}),
        )
        .await;
    let (status, job) = status_and_body(res).await;
    assert_eq!(status, 201, "{job}");
    let replay = job["id"].as_str().unwrap().to_owned();
    until(
        &api,
        &format!("/api/v1/replays/{replay}"),
        Duration::from_secs(30),
        |j| j["state"] == "completed",
    )
    .await;
    let completed = wait_for(&operations, "herald.replay.completed").await;
    assert_eq!(completed["replay"]["id"], replay.as_str(), "{completed}");
    assert_eq!(completed["replay"]["state"], "completed", "{completed}");

    for r in operations.received() {
        assert!(
            signature_verifies(&ops_secret, &r),
            "signed with the operations endpoint's secret"
        );
        assert_ne!(r.header("herald-test"), "true");
    }
    assert_eq!(
        told(&operations, "herald.endpoint.disabled").len(),
        1,
        "every attempt in flight answered 410; one event tells it"
    );
    assert!(
        gone.received()
            .iter()
            .chain(failing.received().iter())
            .all(|r| !r.header("herald-event-type").starts_with("herald.")),
        "operational events go to the operations endpoint alone"
    );
}
