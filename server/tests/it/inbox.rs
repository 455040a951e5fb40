//! Pull inboxes end to end: consumers with a key bound to the inbox lease,
//! acknowledge and hand back messages; what is neither comes back after its
//! visibility timeout; what exhausts its retry policy reaches the DLQ.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Api, fast_policy, publish_many, status_and_body};
use crate::harness::TestServer;

/// Creates an inbox endpoint for `patterns`; returns its id.
async fn inbox(api: &Api<'_>, patterns: &[&str], extra: Value) -> String {
    let mut body = json!({"kind": "inbox", "event_types": patterns});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, created) = status_and_body(api.post("/api/v1/endpoints", &body).await).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["kind"], "inbox", "{created}");
    assert_eq!(created["url"], "", "an inbox has no URL: {created}");
    created["id"].as_str().unwrap().to_owned()
}

/// An API key of scope `consume` bound to `endpoint`.
async fn consume_key(api: &Api<'_>, endpoint: &str) -> String {
    let (status, key) = status_and_body(
        api.post(
            "/api/v1/api-keys",
            &json!({"name": "worker", "scope": "consume", "endpoint_id": endpoint}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{key}");
    assert_eq!(key["endpoint_id"], endpoint, "{key}");
    key["key"].as_str().unwrap().to_owned()
}

struct Consumer<'a> {
    server: &'a TestServer,
    key: String,
    inbox: String,
    name: &'static str,
}

impl Consumer<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .server
            .http
            .request(
                method,
                self.server
                    .url(&format!("/api/v1/inbox/{}{path}", self.inbox)),
            )
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        status_and_body(request.send().await.unwrap()).await
    }

    async fn pull(&self, limit: u32, visibility: u32) -> Vec<Value> {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!(
                    "?limit={limit}&visibility_secs={visibility}&consumer={}",
                    self.name
                ),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["messages"].as_array().unwrap().clone()
    }

    async fn settle(&self, how: &str, ids: &[String], extra: Value) -> Value {
        let mut body = json!({"ids": ids});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, answer) = self
            .call(reqwest::Method::POST, &format!("/{how}"), Some(body))
            .await;
        assert_eq!(status, 200, "{answer}");
        answer
    }
}

/// Each message seen: by whom, at which attempt, and its `n`.
type Seen = Arc<Mutex<HashMap<String, Vec<(&'static str, u64, u64)>>>>;

#[tokio::test]
async fn two_competing_consumers_get_each_message_once_the_unacked_come_back_and_exhausted_ones_reach_the_dlq()
 {
    const MESSAGES: usize = 10_000;
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    // Two leases each, then the dead-letter queue.
    let id = inbox(&api, &["job.*"], json!({"retry_policy": fast_policy(2)})).await;
    let key = consume_key(&api, &id).await;
    publish_many(&api, "job.created", MESSAGES).await;
    // Every thousandth message is never acknowledged.
    let unacked = |n: u64| n % 1_000 == 7;

    let seen: Seen = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let consume = |name: &'static str| {
        let (seen, done) = (seen.clone(), done.clone());
        let consumer = Consumer {
            server: &server,
            key: key.clone(),
            inbox: id.clone(),
            name,
        };
        async move {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let messages = consumer.pull(100, 3).await;
                if messages.is_empty() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                let mut ack = Vec::new();
                for m in &messages {
                    let n = m["payload"]["n"].as_u64().unwrap();
                    let message = m["id"].as_str().unwrap().to_owned();
                    seen.lock()
                        .unwrap()
                        .entry(message.clone())
                        .or_default()
                        .push((name, m["attempt"].as_u64().unwrap(), n));
                    if !unacked(n) {
                        ack.push(message);
                    }
                }
                if !ack.is_empty() {
                    let answer = consumer.settle("ack", &ack, json!({})).await;
                    assert_eq!(
                        answer["settled"].as_array().unwrap().len(),
                        ack.len(),
                        "{answer}"
                    );
                }
            }
        }
    };
    let watch = async {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let dlq = api.get("/api/v1/dlq?limit=100").await;
            if dlq["items"].as_array().unwrap().len() == 10 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the unacknowledged did not reach the DLQ: {dlq}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    tokio::join!(consume("worker-a"), consume("worker-b"), watch);

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.len(), MESSAGES, "every message was leased");
    let mut by_consumer: HashMap<&str, usize> = HashMap::new();
    for (message, leases) in seen.iter() {
        let n = leases[0].2;
        if unacked(n) {
            let attempts: Vec<u64> = leases.iter().map(|l| l.1).collect();
            assert_eq!(attempts, [1, 2], "{message} came back once, then was dead");
        } else {
            assert_eq!(leases.len(), 1, "{message} (n = {n}) was leased {leases:?}");
            assert_eq!(leases[0].1, 1);
        }
        *by_consumer.entry(leases[0].0).or_default() += 1;
    }
    assert!(
        by_consumer.values().all(|n| *n > 0) && by_consumer.len() == 2,
        "both consumers worked: {by_consumer:?}"
    );

    let state = api.get(&format!("/api/v1/inbox/{id}/state")).await;
    assert_eq!(
        (state["ready"].as_u64(), state["leased"].as_u64()),
        (Some(0), Some(0)),
        "{state}"
    );
    let names: Vec<&str> = state["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"worker-a") && names.contains(&"worker-b"),
        "{state}"
    );
    let dlq = api.get("/api/v1/dlq?limit=100").await;
    for entry in dlq["items"].as_array().unwrap() {
        assert!(
            entry["reason"].as_str().unwrap().contains("2 leases"),
            "{entry}"
        );
    }
}

#[tokio::test]
async fn a_nack_hands_a_message_back_for_later_and_receipts_record_each_lease() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let id = inbox(&api, &["job.*"], json!({"retry_policy": fast_policy(3)})).await;
    let key = consume_key(&api, &id).await;
    let event = api.publish("job.created", json!({"n": 1})).await;
    let worker = Consumer {
        server: &server,
        key: key.clone(),
        inbox: id.clone(),
        name: "worker",
    };
    let first = worker.pull(10, 30).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["event_type"], "job.created");
    assert_eq!(first[0]["payload"], json!({"n": 1}));
    let message = first[0]["id"].as_str().unwrap().to_owned();
    assert!(
        worker.pull(10, 30).await.is_empty(),
        "leased: hidden from the next pull"
    );

    let answer = worker
        .settle(
            "nack",
            std::slice::from_ref(&message),
            json!({"retry_after_secs": 1}),
        )
        .await;
    assert_eq!(answer["settled"], json!([message]), "{answer}");
    assert!(
        worker.pull(10, 30).await.is_empty(),
        "handed back for a second"
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let again = worker.pull(10, 30).await;
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0]["id"].as_str(), again[0]["attempt"].as_u64()),
        (Some(message.as_str()), Some(2))
    );

    // A settlement of a message not leased changes nothing.
    let unknown = "msg_01J00000000000000000000000".to_owned();
    let answer = worker
        .settle("ack", &[message.clone(), unknown.clone()], json!({}))
        .await;
    assert_eq!(answer["settled"], json!([message]), "{answer}");
    assert_eq!(answer["not_leased"], json!([unknown]), "{answer}");
    let answer = worker
        .settle("ack", std::slice::from_ref(&message), json!({}))
        .await;
    assert_eq!(
        answer["not_leased"],
        json!([message]),
        "settled once: {answer}"
    );

    // The event's page shows each lease as an attempt.
    let detail = api.get(&format!("/api/v1/events/{event}")).await;
    let delivery = &detail["deliveries"][0];
    assert_eq!(delivery["state"], "succeeded", "{detail}");
    let classes: Vec<Value> = delivery["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["error_class"].clone())
        .collect();
    assert_eq!(classes, [json!("nacked"), Value::Null], "{detail}");

    // The key consumes its inbox and nothing else.
    let other = inbox(&api, &["other.*"], json!({})).await;
    let foreign = Consumer {
        server: &server,
        key: key.clone(),
        inbox: other,
        name: "worker",
    };
    let (status, body) = foreign.call(reqwest::Method::GET, "", None).await;
    assert_eq!(status, 403, "{body}");
    let res = server
        .http
        .get(server.url("/api/v1/events"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn an_inbox_refuses_what_only_a_webhook_has_and_a_webhook_cannot_be_pulled() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    for (body, field) in [
        (
            json!({"kind": "inbox", "url": "https://example.com/h", "event_types": ["*"]}),
            "url",
        ),
        (
            json!({"kind": "inbox", "event_types": ["*"], "ordering": "key"}),
            "ordering",
        ),
        (
            json!({"kind": "inbox", "event_types": ["*"], "semantics": "at_most_once"}),
            "semantics",
        ),
        (json!({"event_types": ["*"]}), "url"),
    ] {
        let (status, answer) = status_and_body(api.post("/api/v1/endpoints", &body).await).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(answer.to_string().contains(field), "{body}: {answer}");
    }
    let (webhook, _) = api
        .endpoint("https://example.com/h", &["*"], json!({}))
        .await;
    let res = api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/inbox/{webhook}"),
            None,
        )
        .await;
    assert_eq!(res.status(), 409);
    let (status, answer) = status_and_body(
        api.post(
            "/api/v1/api-keys",
            &json!({"name": "w", "scope": "consume", "endpoint_id": webhook}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409, "a consume key is bound to an inbox: {answer}");
    let (status, answer) = status_and_body(
        api.post(
            "/api/v1/api-keys",
            &json!({"name": "w", "scope": "consume"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("endpoint_id"), "{answer}");
}

#[tokio::test]
async fn the_command_line_pulls_acknowledges_and_shows_an_inbox() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let id = inbox(&api, &["job.*"], json!({})).await;
    let key = consume_key(&api, &id).await;
    api.publish("job.created", json!({"n": 1})).await;

    let (ok, out, err) = crate::cli::remote(
        &server,
        &key,
        &[
            "inbox",
            "pull",
            &id,
            "--limit",
            "5",
            "--consumer",
            "cli",
            "--json",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let pulled: Value = serde_json::from_str(&out).unwrap();
    let message = pulled["messages"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(pulled["messages"][0]["payload"], json!({"n": 1}));

    let (ok, out, err) = crate::cli::remote(&server, &key, &["inbox", "ack", &id, &message]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "1 acknowledged");
    let (ok, out, err) = crate::cli::remote(&server, &key, &["inbox", "ack", &id, &message]).await;
    assert!(ok, "{err}");
    assert!(out.contains(&format!("{message}: not leased now")), "{out}");

    let (ok, out, err) = crate::cli::remote(&server, &api.key, &["inbox", "state", &id]).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("Inbox {id}: 0 ready, 0 delayed, 0 leased")),
        "{out}"
    );
    assert!(out.contains("cli"), "the consumer is listed: {out}");
    let (ok, out, _) = crate::cli::remote(&server, &key, &["inbox", "pull", &id]).await;
    assert!(ok);
    assert_eq!(out.trim(), format!("Nothing is visible in inbox {id} now."));
}
