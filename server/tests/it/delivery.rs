//! Ingest and delivery end to end: a real server, real HTTP receivers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Api, fast_policy, signature_verifies, states, status_and_body};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn an_event_reaches_each_matching_endpoint_once_signed() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let (orders, all, users) = (
        Receiver::ok().await,
        Receiver::ok().await,
        Receiver::ok().await,
    );
    let (orders_id, orders_secret) = api.endpoint(&orders.url, &["order.*"], json!({})).await;
    let (_, all_secret) = api.endpoint(&all.url, &["*"], json!({})).await;
    api.endpoint(&users.url, &["user.*"], json!({})).await;

    let payload = json!({"order": 42, "total": "19.99"});
    let event = api.publish("order.created", payload.clone()).await;
    let detail = api
        .event_until(&event, Duration::from_secs(10), |d| {
            states(d) == ["succeeded", "succeeded"]
        })
        .await;

    // Give any duplicate time to show up before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (got_orders, got_all) = (orders.received(), all.received());
    assert_eq!(got_orders.len(), 1);
    assert_eq!(got_all.len(), 1);
    assert!(
        users.received().is_empty(),
        "user.* must not receive order.created"
    );

    for (request, secret) in [(&got_orders[0], &orders_secret), (&got_all[0], &all_secret)] {
        assert!(
            signature_verifies(secret, request),
            "signature does not verify: {:?}",
            request.headers
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&request.body).unwrap(),
            payload
        );
        assert_eq!(request.header("content-type"), "application/json");
        assert!(request.header("user-agent").starts_with("Herald/"));
        assert_eq!(request.header("herald-event-type"), "order.created");
    }
    // A secret signs only its own endpoint's requests.
    assert!(!signature_verifies(&all_secret, &got_orders[0]));

    // The webhook-id is the delivery's id, and each delivery has one receipt.
    let to_orders = detail["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["endpoint_id"] == orders_id.as_str())
        .unwrap();
    assert_eq!(
        got_orders[0].header("webhook-id"),
        to_orders["id"].as_str().unwrap()
    );
    assert_eq!(to_orders["attempt_log"].as_array().unwrap().len(), 1);
    assert_eq!(to_orders["attempt_log"][0]["response_status"], 200);
}

#[tokio::test]
async fn failures_are_retried_on_the_policy_with_a_receipt_each() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::start(
        vec![
            Reply::Status(500),
            Reply::RetryAfter(503, 2),
            Reply::Status(404),
        ],
        Reply::Status(200),
    )
    .await;
    api.endpoint(
        &receiver.url,
        &["*"],
        json!({"retry_policy": fast_policy(5)}),
    )
    .await;
    let event = api.publish("invoice.paid", json!({"invoice": 7})).await;

    let detail = api
        .event_until(&event, Duration::from_secs(20), |d| {
            states(d) == ["succeeded"]
        })
        .await;
    let delivery = &detail["deliveries"][0];
    let log = delivery["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 4, "{delivery:#}");
    let statuses: Vec<&Value> = log.iter().map(|a| &a["response_status"]).collect();
    assert_eq!(
        statuses,
        [&json!(500), &json!(503), &json!(404), &json!(200)]
    );
    for failed in &log[..3] {
        assert_eq!(failed["error_class"], "http_status");
    }
    assert!(log[3]["error_class"].is_null());
    assert_eq!(
        log.iter()
            .map(|a| a["attempt"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );

    // Every attempt carried the same webhook-id, and the gaps follow the policy:
    // one second, except after the 503 whose Retry-After asked for two.
    let requests = receiver.received();
    assert_eq!(requests.len(), 4);
    assert!(
        requests
            .iter()
            .all(|r| r.header("webhook-id") == delivery["id"].as_str().unwrap())
    );
    let gaps: Vec<Duration> = requests.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps[0] >= Duration::from_millis(950), "{gaps:?}");
    assert!(
        gaps[1] >= Duration::from_millis(1_950),
        "Retry-After was not honoured: {gaps:?}"
    );
    assert!(gaps[2] >= Duration::from_millis(950), "{gaps:?}");
    assert_eq!(requests[3].header("herald-attempt"), "4");
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_ends_dead() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::start(Vec::new(), Reply::Status(500)).await;
    api.endpoint(
        &receiver.url,
        &["*"],
        json!({"retry_policy": fast_policy(2)}),
    )
    .await;
    let event = api.publish("order.created", json!({"n": 1})).await;
    let detail = api
        .event_until(&event, Duration::from_secs(10), |d| states(d) == ["dead"])
        .await;
    assert_eq!(detail["deliveries"][0]["attempts"], 2);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "no attempts after the policy gave up"
    );
}

#[tokio::test]
async fn a_timeout_is_classed_as_such() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::start(
        vec![Reply::Hang(Duration::from_secs(3))],
        Reply::Status(200),
    )
    .await;
    api.endpoint(
        &receiver.url,
        &["*"],
        json!({"retry_policy": fast_policy(3), "timeout_ms": 300}),
    )
    .await;
    let event = api.publish("order.created", json!({"n": 1})).await;
    let detail = api
        .event_until(&event, Duration::from_secs(10), |d| {
            states(d) == ["succeeded"]
        })
        .await;
    let log = detail["deliveries"][0]["attempt_log"].as_array().unwrap();
    assert_eq!(log[0]["error_class"], "timeout");
    assert!(log[0]["response_status"].is_null());
}

#[tokio::test]
async fn a_connection_refused_is_classed_connect() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    api.endpoint(
        &format!("http://{closed}/hook"),
        &["*"],
        json!({"retry_policy": fast_policy(1)}),
    )
    .await;
    let event = api.publish("order.created", json!({"n": 1})).await;
    let detail = api
        .event_until(&event, Duration::from_secs(10), |d| states(d) == ["dead"])
        .await;
    assert_eq!(
        detail["deliveries"][0]["attempt_log"][0]["error_class"],
        "connect"
    );
}

#[tokio::test]
async fn an_at_most_once_delivery_that_fails_is_attempted_once_and_parked() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::start(Vec::new(), Reply::Status(500)).await;
    api.endpoint(
        &receiver.url,
        &["*"],
        json!({"semantics": "at_most_once", "retry_policy": fast_policy(5)}),
    )
    .await;
    let event = api.publish("order.created", json!({"n": 1})).await;
    let detail = api
        .event_until(&event, Duration::from_secs(10), |d| states(d) == ["dead"])
        .await;
    let log = detail["deliveries"][0]["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 1, "one receipt: {log:#?}");
    assert_eq!(log[0]["error_class"], "http_status");
    let dlq = api.get("/api/v1/dlq").await;
    assert_eq!(dlq["items"].as_array().unwrap().len(), 1, "{dlq:#}");
    // Past the policy's one-second retry delay: still the one request.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(receiver.received().len(), 1, "never retried");
}

/// The receipt of the one attempt an event makes to `url` (an endpoint
/// allowed one attempt), once its delivery is dead.
async fn only_attempt_to(api: &Api<'_>, url: &str) -> Value {
    api.endpoint(url, &["*"], json!({"retry_policy": fast_policy(1)}))
        .await;
    let event = api.publish("order.created", json!({"n": 1})).await;
    let detail = api
        .event_until(&event, Duration::from_secs(20), |d| states(d) == ["dead"])
        .await;
    detail["deliveries"][0]["attempt_log"][0].clone()
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_classed_dns() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    // `.invalid` never resolves (RFC 6761): Herald's resolver reports it.
    let attempt = only_attempt_to(&api, "http://herald-receiver.invalid/hook").await;
    assert_eq!(attempt["error_class"], "dns", "{attempt:#}");
    assert!(
        attempt["error_message"]
            .as_str()
            .unwrap()
            .contains("herald-receiver.invalid"),
        "{attempt:#}"
    );
}

#[tokio::test]
async fn a_tls_handshake_with_a_plain_tcp_listener_is_classed_tls() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    // Answers whatever arrives (a TLS ClientHello here) as plain HTTP would.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    let attempt = only_attempt_to(&api, &format!("https://{addr}/hook")).await;
    assert_eq!(attempt["error_class"], "tls", "{attempt:#}");
}

#[tokio::test]
async fn a_dropped_connection_and_an_oversized_answer_are_classed_and_retried() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::start(
        vec![
            Reply::Drop,
            Reply::Body(herald_engine::dispatch::http::MAX_RESPONSE_BYTES + 1),
        ],
        Reply::Status(200),
    )
    .await;
    api.endpoint(
        &receiver.url,
        &["*"],
        json!({"retry_policy": fast_policy(5)}),
    )
    .await;
    let event = api.publish("order.created", json!({"n": 1})).await;
    let detail = api
        .event_until(&event, Duration::from_secs(15), |d| {
            states(d) == ["succeeded"]
        })
        .await;
    let log = detail["deliveries"][0]["attempt_log"].as_array().unwrap();
    let classes: Vec<&Value> = log.iter().map(|a| &a["error_class"]).collect();
    assert_eq!(
        classes,
        [
            &json!("connection"),
            &json!("response_too_large"),
            &Value::Null
        ],
        "{log:#?}"
    );
    assert!(log[0]["response_status"].is_null());
    assert_eq!(log[1]["response_status"], 200);
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_original_event() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    api.endpoint(&receiver.url, &["*"], json!({})).await;

    let body = json!({"event_type": "order.created", "payload": {"n": 1}, "idempotency_key": "order-1-created"});
    let first = api.post("/api/v1/events", &body).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = api.post("/api/v1/events", &body).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["duplicate"], true);

    // The header form is the same key.
    let res = server
        .http
        .post(server.url("/api/v1/events"))
        .bearer_auth(&api.key)
        .header("idempotency-key", "order-1-created")
        .json(&json!({"event_type": "order.created", "payload": {"n": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    receiver.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1, "one event, one delivery");
    assert_eq!(
        api.get("/api/v1/events").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_idempotency_key_reused_with_a_different_event_is_a_conflict() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let first = api
        .post(
            "/api/v1/events",
            &json!({"event_type": "order.created", "payload": {"n": 1}, "idempotency_key": "k-1"}),
        )
        .await;
    assert_eq!(first.status(), 202);
    let original: Value = first.json().await.unwrap();
    let original = original["id"].as_str().unwrap().to_owned();

    for (what, body) in [
        (
            "another payload",
            json!({"event_type": "order.created", "payload": {"n": 2}, "idempotency_key": "k-1"}),
        ),
        (
            "another type",
            json!({"event_type": "order.paid", "payload": {"n": 1}, "idempotency_key": "k-1"}),
        ),
    ] {
        let (status, body) = status_and_body(api.post("/api/v1/events", &body).await).await;
        assert_eq!(status, 409, "{what}: {body}");
        assert_eq!(body["error"]["code"], "idempotency_conflict", "{what}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&original) && message.contains("k-1"),
            "{what}: the message names the key and the original: {message}"
        );
    }
    // In a batch, against a stored event or an earlier one in the same batch:
    // the whole batch is refused.
    for events in [
        json!([{"event_type": "order.created", "payload": {"n": 9}, "idempotency_key": "k-1"}]),
        json!([
            {"event_type": "order.created", "payload": {"n": 3}, "idempotency_key": "k-2"},
            {"event_type": "order.created", "payload": {"n": 4}, "idempotency_key": "k-2"},
        ]),
    ] {
        let (status, body) = status_and_body(
            api.post("/api/v1/events/batch", &json!({ "events": events }))
                .await,
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "idempotency_conflict");
    }
    // Nothing was stored but the original.
    let listed = api.get("/api/v1/events").await;
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [original.as_str()]);
}

#[tokio::test]
async fn a_correlation_id_sent_only_as_a_header_follows_the_event() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    api.endpoint(&receiver.url, &["*"], json!({})).await;
    let res = server
        .http
        .post(server.url("/api/v1/events"))
        .bearer_auth(&api.key)
        .header("x-correlation-id", "checkout-only-header")
        .json(&json!({"event_type": "order.created", "payload": {"n": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let event: Value = res.json().await.unwrap();
    let id = event["id"].as_str().unwrap();
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].header("x-correlation-id"), "checkout-only-header");
    let detail = api.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(detail["correlation_id"], "checkout-only-header");
    let found = api
        .get("/api/v1/events?correlation_id=checkout-only-header")
        .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found:#}");

    // In a batch too; the body's own id wins over the header.
    let res = server
        .http
        .post(server.url("/api/v1/events/batch"))
        .bearer_auth(&api.key)
        .header("x-correlation-id", "batch-header")
        .json(&json!({"events": [
            {"event_type": "order.created", "payload": {"n": 2}},
            {"event_type": "order.created", "payload": {"n": 3}, "correlation_id": "own-id"},
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let ids: Value = res.json().await.unwrap();
    let first = api
        .get(&format!(
            "/api/v1/events/{}",
            ids["ids"][0].as_str().unwrap()
        ))
        .await;
    let second = api
        .get(&format!(
            "/api/v1/events/{}",
            ids["ids"][1].as_str().unwrap()
        ))
        .await;
    assert_eq!(first["correlation_id"], "batch-header");
    assert_eq!(second["correlation_id"], "own-id");
}

#[tokio::test]
async fn a_batch_is_all_or_nothing() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let bad = json!({"events": [
        {"event_type": "order.created", "payload": {"n": 1}},
        {"event_type": "order created", "payload": {"n": 2}},
    ]});
    let res = api.post("/api/v1/events/batch", &bad).await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("events[1].event_type"),
        "{body}"
    );
    assert!(
        api.get("/api/v1/events").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let good = json!({"events": (0..3).map(|n| json!({"event_type": "order.created", "payload": {"n": n}})).collect::<Vec<_>>()});
    let res = api.post("/api/v1/events/batch", &good).await;
    assert_eq!(res.status(), 202);
    let ids: Value = res.json().await.unwrap();
    assert_eq!(ids["ids"].as_array().unwrap().len(), 3);
    let listed = api.get("/api/v1/events").await;
    let seqs: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        [3, 2, 1],
        "newest first, sequence numbers without gaps"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_stores_nothing() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let send_raw = |body: String| {
        server
            .http
            .post(server.url("/api/v1/events"))
            .bearer_auth(&api.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let expect = |res: reqwest::Response, status: u16, needle: &'static str| async move {
        assert_eq!(res.status(), status);
        let body: Value = res.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains(needle),
            "{message:?} should mention {needle:?}"
        );
    };

    expect(
        send_raw("{\"event_type\": ".into()).await.unwrap(),
        400,
        "not valid JSON",
    )
    .await;
    expect(
        api.post(
            "/api/v1/events",
            &json!({"event_type": "order.created", "payload": [1, 2]}),
        )
        .await,
        422,
        "payload",
    )
    .await;
    expect(
        api.post(
            "/api/v1/events",
            &json!({"event_type": "order created", "payload": {}}),
        )
        .await,
        422,
        "event_type",
    )
    .await;
    let huge = format!(
        r#"{{"event_type":"order.created","payload":{{"blob":"{}"}}}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    assert_eq!(send_raw(huge).await.unwrap().status(), 413);
    expect(
        api.post(
            "/api/v1/events",
            &json!({"event_type": "a.b", "payload": {}, "color": 1}),
        )
        .await,
        422,
        "color",
    )
    .await;

    let res = server
        .http
        .get(server.url("/api/v1/endpoints/ep_01ARZ3NDEKTSV4RRFFQ69G5FAV"))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    expect(res, 404, "ep_01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    expect(
        api.post(
            "/api/v1/endpoints",
            &json!({"url": "ftp://x", "event_types": ["*"]}),
        )
        .await,
        422,
        "url",
    )
    .await;
    expect(
        api.post("/api/v1/endpoints", &json!({"url": "http://127.0.0.1:9/h", "event_types": ["*"], "headers": {"webhook-id": "x"}})).await,
        422,
        "webhook-id",
    )
    .await;

    assert!(
        api.get("/api/v1/events").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        api.get("/api/v1/endpoints").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn event_types_lists_what_the_tenant_published() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    assert_eq!(api.get("/api/v1/event-types").await["items"], json!([]));
    for event_type in ["order.created", "user.deleted", "order.created"] {
        api.publish(event_type, json!({})).await;
    }
    let listed = api.get("/api/v1/event-types").await;
    let items = listed["items"].as_array().unwrap();
    let summary: Vec<(&str, u64)> = items
        .iter()
        .map(|i| {
            (
                i["event_type"].as_str().unwrap(),
                i["events"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [("order.created", 2), ("user.deleted", 1)]);
    assert!(items.iter().all(|i| i["last_seen_at"].is_string()));
}
