//! Transforms: a jq program reshapes the payload before it is signed, a
//! replay may carry its own, and a program that fails, loops, recurses
//! without end or answers too much costs its attempt (`transform`, not
//! retried), never the server.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Api, signature_verifies, status_and_body, until};
use crate::harness::TestServer;
use crate::receiver::Receiver;

/// The message of an API error, which starts by naming its field.
fn message(out: &Value) -> &str {
    out["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_transform_reshapes_the_body_and_the_signature_covers_what_is_sent() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let program = "{id: .order_id, cents: (.total * 100 | round), skus: [.items[].sku]}";
    let (id, secret) = api
        .endpoint(&receiver.url, &["order.*"], json!({ "transform": program }))
        .await;
    assert_eq!(
        api.get(&format!("/api/v1/endpoints/{id}")).await["transform"],
        program
    );
    let event = api
        .publish(
            "order.created",
            json!({"order_id": "ord_1", "total": 42.5, "items": [{"sku": "A"}, {"sku": "B"}]}),
        )
        .await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        body,
        json!({"id": "ord_1", "cents": 4250, "skus": ["A", "B"]})
    );
    assert!(
        signature_verifies(&secret, &got[0]),
        "the signature is over the transformed body"
    );
    // The event keeps its payload as published.
    let detail = api.get(&format!("/api/v1/events/{event}")).await;
    assert_eq!(detail["payload"]["total"], 42.5);

    // Removed with null: the payload goes as published again.
    let (status, out) = status_and_body(
        api.send(
            reqwest::Method::PATCH,
            &format!("/api/v1/endpoints/{id}"),
            Some(&json!({"transform": null})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    api.publish("order.created", json!({"order_id": "ord_2", "total": 1}))
        .await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let body: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(body, json!({"order_id": "ord_2", "total": 1}));
}

/// Publishes one event of `event_type` to a fresh endpoint with `program`
/// and waits for its delivery to die: the detail of its one attempt.
async fn dead_with(api: &Api<'_>, receiver: &Receiver, event_type: &str, program: &str) -> Value {
    let (id, _) = api
        .endpoint(
            &receiver.url,
            &[event_type],
            json!({"transform": program, "retry_policy": crate::client::fast_policy(5)}),
        )
        .await;
    let event = api.publish(event_type, json!({"n": 1})).await;
    let detail = api
        .event_until(&event, Duration::from_secs(20), |d| {
            d["deliveries"][0]["state"] == "dead"
        })
        .await;
    let delivery = &detail["deliveries"][0];
    assert_eq!(delivery["endpoint_id"], id.as_str());
    assert_eq!(delivery["attempts"], 1, "not retried: {detail:#}");
    delivery["attempt_log"][0].clone()
}

#[tokio::test]
async fn a_transform_that_fails_loops_recurses_or_answers_too_much_is_a_transform_attempt() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let cases = [
        (".n + \"x\"", "the transform failed"),
        ("def f: f; f", "ran longer than its limit of 1000 ms"),
        ("def f: 1 + f; f", "stopped its worker"),
        // 3 GB in one string: past the worker's 1 GiB data limit (without
        // it, the length would be sent).
        ("\"x\" * 3000000000 | length", "stopped its worker"),
        ("[range(300000)]", "more than the limit of 1048576"),
        ("empty", "gave no output"),
    ];
    for (i, (program, says)) in cases.into_iter().enumerate() {
        let attempt = dead_with(&api, &receiver, &format!("job{i}.ran"), program).await;
        assert_eq!(
            attempt["error_class"], "transform",
            "{program}: {attempt:#}"
        );
        let text = attempt["error_message"].as_str().unwrap_or_default();
        assert!(text.contains(says), "{program}: {text}");
    }
    assert!(receiver.received().is_empty(), "nothing was sent");
    let dlq = api.get("/api/v1/dlq?error_class=transform").await;
    assert_eq!(
        dlq["items"].as_array().unwrap().len(),
        cases.len(),
        "{dlq:#}"
    );

    // The server and its workers carry on: a good transform still runs.
    let (_, _) = api
        .endpoint(&receiver.url, &["ok.*"], json!({"transform": "{fine: .n}"}))
        .await;
    api.publish("ok.now", json!({"n": 7})).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&got[0].body).unwrap(),
        json!({"fine": 7})
    );
    let metrics = server.metrics().await;
    assert!(metrics.contains("error_class=\"transform\""), "{metrics}");
}

#[tokio::test]
async fn a_bad_transform_is_refused_when_saved_and_transform_test_shows_the_output() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let base = json!({"url": "https://hooks.example.com/t", "event_types": ["*"]});
    for (program, says) in [
        ("{a: .b", "does not parse"),
        ("nosuch(1)", "undefined filter 'nosuch'"),
        ("env", "undefined filter 'env'"),
        ("$ENV", "undefined variable"),
        ("", "empty"),
    ] {
        let mut body = base.clone();
        body["transform"] = json!(program);
        let (status, out) = status_and_body(api.post("/api/v1/endpoints", &body).await).await;
        assert_eq!(status, 422, "{program}: {out}");
        assert!(message(&out).starts_with("transform: "), "{out}");
        assert!(message(&out).contains(says), "{program}: {out}");
    }
    let big = "1".repeat(5_000);
    let mut body = base.clone();
    body["transform"] = json!(big);
    let (status, out) = status_and_body(api.post("/api/v1/endpoints", &body).await).await;
    assert_eq!(status, 422, "{out}");
    assert!(message(&out).contains("4096"), "{out}");
    let inbox = json!({"kind": "inbox", "event_types": ["*"], "transform": "."});
    let (status, out) = status_and_body(api.post("/api/v1/endpoints", &inbox).await).await;
    assert_eq!(status, 422, "{out}");
    assert!(message(&out).starts_with("transform: "), "{out}");
    assert_eq!(
        api.get("/api/v1/endpoints").await["items"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing was made"
    );

    let event = api
        .publish("order.created", json!({"order_id": "o9", "total": 3}))
        .await;
    let test = |body: Value| {
        let api = &api;
        async move { status_and_body(api.post("/api/v1/endpoints/transform-test", &body).await).await }
    };
    let (status, out) =
        test(json!({"transform": "{id: .order_id}", "event_type": "order.created"})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["output"], json!({"id": "o9"}));
    assert_eq!(out["event_id"], event.as_str());
    let (status, out) = test(json!({"transform": ".a * 2", "payload": {"a": 4}})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["output"], 8);
    let (status, out) = test(json!({"transform": "def f: f; f", "event_id": event})).await;
    assert_eq!(status, 422, "{out}");
    assert!(message(&out).contains("longer than its limit"), "{out}");
    let (status, out) = test(json!({"transform": ".", "payload": [1, 2]})).await;
    assert_eq!(status, 422, "{out}");
    assert!(message(&out).starts_with("payload: "), "{out}");
    let (status, out) = test(json!({"transform": "."})).await;
    assert_eq!(status, 422, "{out}");
    assert!(message(&out).starts_with("event: "), "{out}");
}

#[tokio::test]
async fn a_replay_with_its_own_transform_sends_that_shape_instead() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let (_, secret) = api
        .endpoint(
            &receiver.url,
            &["order.*"],
            json!({"transform": "{v1: .n}"}),
        )
        .await;
    api.publish("order.created", json!({"n": 1})).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&got[0].body).unwrap(),
        json!({"v1": 1})
    );

    // A bad one-off transform is refused before anything starts.
    let (status, out) = status_and_body(
        api.post("/api/v1/replays", &json!({"transform": "{v2: "}))
            .await,
    )
    .await;
    assert_eq!(status, 422, "{out}");
    assert!(message(&out).starts_with("transform: "), "{out}");
    assert_eq!(
        api.get("/api/v1/replays").await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let (status, job) = status_and_body(
        api.post(
            "/api/v1/replays",
            &json!({"transform": "{v2: {n: .n}}", "rate_per_second": 100, "reason": "v2 receiver"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["transform"], "{v2: {n: .n}}");
    let path = format!("/api/v1/replays/{}", job["id"].as_str().unwrap());
    until(&api, &path, Duration::from_secs(20), |j| {
        j["state"] == "completed"
    })
    .await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&got[1].body).unwrap(),
        json!({"v2": {"n": 1}})
    );
    assert!(signature_verifies(&secret, &got[1]));
}
