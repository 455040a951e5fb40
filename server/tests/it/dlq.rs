//! The dead-letter queue through the REST API, with real receivers: bulk
//! reprocessing, and inspecting, reprocessing and discarding one entry.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::client::{Api, fast_policy, publish_many, status_and_body, until};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn bulk_reprocess_redelivers_100_dead_deliveries_with_their_webhook_ids() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    // Broken for the first 100 requests, fixed after. Its breaker is off:
    // open, it would hold the reprocessed deliveries for its cool-down
    // (`breakers.rs` tests that).
    let receiver = Receiver::start(vec![Reply::Status(500); 100], Reply::Status(200)).await;
    api.endpoint(
        &receiver.url,
        &["order.*"],
        json!({"retry_policy": fast_policy(1), "circuit_breaker": {"enabled": false}}),
    )
    .await;
    publish_many(&api, "order.created", 100).await;
    let failed = receiver.wait_for(100, Duration::from_secs(30)).await;
    let dlq = until(
        &api,
        "/api/v1/dlq?limit=200",
        Duration::from_secs(20),
        |b| b["items"].as_array().unwrap().len() == 100,
    )
    .await;
    let entry = &dlq["items"][0];
    assert_eq!(entry["error_class"], "http_status");
    assert_eq!(entry["event_type"], "order.created");
    assert_eq!(entry["attempts"], 1);
    // Filters narrow the list; a filter matching nothing gives nothing.
    let by_class = api.get("/api/v1/dlq?error_class=timeout").await;
    assert!(by_class["items"].as_array().unwrap().is_empty());

    let res = api
        .post(
            "/api/v1/dlq/reprocess",
            &json!({"filter": {}, "reason": "receiver fixed after incident 7"}),
        )
        .await;
    let (status, out) = status_and_body(res).await;
    assert_eq!(status, 202, "{out}");
    assert_eq!(out["reprocessed"].as_array().unwrap().len(), 100);
    assert!(out["skipped"].as_array().unwrap().is_empty());

    let all = receiver.wait_for(200, Duration::from_secs(30)).await;
    let first: HashSet<&str> = failed.iter().map(|r| r.header("webhook-id")).collect();
    let again: HashSet<&str> = all[100..].iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(first.len(), 100);
    assert_eq!(
        first, again,
        "reprocessing keeps each delivery's webhook-id"
    );

    until(&api, "/api/v1/dlq", Duration::from_secs(10), |b| {
        b["items"].as_array().unwrap().is_empty()
    })
    .await;
    // The DLQ empties when the reprocess starts; the receipts of the new
    // attempts are written once they finish: wait for every delivery to succeed.
    until(
        &api,
        "/api/v1/events?state=succeeded&limit=200",
        Duration::from_secs(10),
        |b| b["items"].as_array().unwrap().len() == 100,
    )
    .await;
    // Each delivery records who reprocessed it and why; its new attempt is manual.
    let events = api.get("/api/v1/events?limit=200").await;
    for event in events["items"].as_array().unwrap() {
        let detail = api
            .get(&format!("/api/v1/events/{}", event["id"].as_str().unwrap()))
            .await;
        let delivery = &detail["deliveries"][0];
        let actions = delivery["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 1, "{delivery:#}");
        assert_eq!(actions[0]["action"], "reprocess");
        assert!(
            actions[0]["actor"]
                .as_str()
                .unwrap()
                .starts_with("api key key_")
        );
        assert_eq!(actions[0]["reason"], "receiver fixed after incident 7");
        let log = delivery["attempt_log"].as_array().unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[1]["trigger"], "manual");
        assert_eq!(log[1]["response_status"], 200);
    }
}

#[tokio::test]
async fn dlq_entries_are_inspected_reprocessed_and_discarded_one_by_one() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::start(vec![Reply::Status(503); 2], Reply::Status(200)).await;
    api.endpoint(
        &receiver.url,
        &["*"],
        json!({"retry_policy": fast_policy(1)}),
    )
    .await;
    publish_many(&api, "invoice.paid", 2).await;
    let dlq = until(&api, "/api/v1/dlq", Duration::from_secs(20), |b| {
        b["items"].as_array().unwrap().len() == 2
    })
    .await;
    let (keep, drop) = (
        dlq["items"][0]["id"].as_str().unwrap().to_owned(),
        dlq["items"][1]["id"].as_str().unwrap().to_owned(),
    );

    let detail = api.get(&format!("/api/v1/dlq/{keep}")).await;
    assert_eq!(detail["event"]["event_type"], "invoice.paid");
    assert_eq!(detail["delivery"]["attempt_log"][0]["response_status"], 503);
    assert!(detail["reason"].as_str().unwrap().contains("exhausted"));

    // Discarding needs a reason, and then the entry is gone.
    let (status, body) = status_and_body(
        api.send(Method::DELETE, &format!("/api/v1/dlq/{drop}"), None)
            .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reason")
    );
    let res = api
        .send(
            Method::DELETE,
            &format!("/api/v1/dlq/{drop}"),
            Some(&json!({"reason": "customer cancelled"})),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = api
        .send(Method::GET, &format!("/api/v1/dlq/{drop}"), None)
        .await;
    assert_eq!(res.status(), 404);
    // One audit row, naming the entry, the key and the reason.
    let audit = api.get("/api/v1/audit?action=dlq.discard").await;
    let rows = audit["items"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{audit}");
    assert_eq!(rows[0]["target"], drop.as_str());
    assert!(rows[0]["actor"].as_str().unwrap().starts_with("api key "));
    assert!(
        rows[0]["summary"]
            .as_str()
            .unwrap()
            .contains("customer cancelled"),
        "{audit}"
    );

    let res = api
        .post(&format!("/api/v1/dlq/{keep}/reprocess"), &json!({}))
        .await;
    assert_eq!(res.status(), 202);
    receiver.wait_for(3, Duration::from_secs(10)).await;
    let res = api
        .post(&format!("/api/v1/dlq/{keep}/reprocess"), &json!({}))
        .await;
    assert_eq!(res.status(), 404, "an entry is reprocessed once");

    // Bad bulk requests change nothing.
    for (body, needle) in [
        (json!({}), "either"),
        (json!({"ids": []}), "ids"),
        (json!({"ids": ["nope"]}), "ids[0]"),
        (json!({"ids": [keep], "filter": {}}), "either"),
        (
            json!({"filter": {"error_class": "bogus"}}),
            "filter.error_class",
        ),
    ] {
        let (status, out) = status_and_body(api.post("/api/v1/dlq/reprocess", &body).await).await;
        assert!((400..500).contains(&status), "{body} -> {status}");
        assert!(
            out["error"]["message"].as_str().unwrap().contains(needle),
            "{body} -> {out}"
        );
    }
}
