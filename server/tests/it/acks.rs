//! Receiver acknowledgement end to end: an effectively-once endpoint's
//! receiver answers 2xx, then acknowledges with a Standard Webhooks
//! signature or the delivery's token; without one the delivery goes out
//! again with the same `webhook-id`; nothing unproven changes anything.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::client::{Api, fast_policy, states, status_and_body, until};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

/// A Standard Webhooks signature, made here as a receiver's library would.
fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Sends an acknowledgement with `headers` and `body`.
async fn ack(server: &TestServer, headers: &[(&str, String)], body: &str) -> (u16, Value) {
    let mut request = server
        .http
        .post(server.url("/api/v1/acks"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    status_and_body(request.send().await.unwrap()).await
}

/// A signed acknowledgement of `id` (signed now, with `secret`).
async fn signed_ack(server: &TestServer, secret: &str, id: &str) -> (u16, Value) {
    let now = chrono::Utc::now().timestamp();
    let body = r#"{"processed":true}"#;
    let headers = [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", sign(secret, id, now, body.as_bytes())),
    ];
    ack(server, &headers, body).await
}

async fn effectively_once(api: &Api<'_>, url: &str, max_attempts: u32) -> (String, String) {
    api.endpoint(
        url,
        &["order.*"],
        json!({"semantics": "effectively_once", "ack_timeout_secs": 5,
               "retry_policy": fast_policy(max_attempts)}),
    )
    .await
}

#[tokio::test]
async fn a_signed_acknowledgement_ends_the_delivery_and_is_counted() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let (_, secret) = effectively_once(&api, &receiver.url, 5).await;
    let event = api.publish("order.created", json!({"n": 1})).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let id = got[0].header("webhook-id").to_owned();
    assert!(
        got[0].header("herald-ack-token").starts_with("ack_"),
        "every attempt carries its token"
    );
    let detail = api
        .event_until(&event, Duration::from_secs(10), |d| {
            states(d) == ["awaiting_ack"]
        })
        .await;
    let receipt = &detail["deliveries"][0]["attempt_log"][0];
    assert_eq!(
        receipt["request_headers"]["herald-ack-token"], "[redacted]",
        "readers of receipts cannot acknowledge for the receiver"
    );
    assert!(detail["deliveries"][0]["acked_at"].is_null());

    let (status, body) = signed_ack(&server, &secret, &id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"webhook_id": id, "first": true}));
    let (status, body) = signed_ack(&server, &secret, &id).await;
    assert_eq!((status, &body["first"]), (200, &json!(false)), "{body}");

    let detail = api.get(&format!("/api/v1/events/{event}")).await;
    assert_eq!(states(&detail), ["succeeded"]);
    assert!(detail["deliveries"][0]["acked_at"].is_string(), "{detail}");
    let stats = api.get("/api/v1/stats?granularity=minute").await;
    assert_eq!(stats["total"]["acked"], 1, "{stats}");
    let metrics = server.metrics().await;
    assert!(metrics.contains("herald_acks_total 1\n"), "{metrics}");
    assert!(
        metrics.contains("herald_deliveries{state=\"awaiting_ack\"} 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_an_acknowledgement_it_goes_out_again_and_the_token_ends_it() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    effectively_once(&api, &receiver.url, 5).await;
    let event = api.publish("order.created", json!({"n": 1})).await;
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(
        got[1].header("webhook-id"),
        got[0].header("webhook-id"),
        "the same webhook-id, for the receiver to deduplicate on"
    );
    assert_eq!(got[1].header("herald-attempt"), "2");
    let detail = api
        .event_until(&event, Duration::from_secs(10), |d| {
            d["deliveries"][0]["attempt_log"]
                .as_array()
                .is_some_and(|a| a.len() == 2)
        })
        .await;
    let triggers: Vec<&str> = detail["deliveries"][0]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, ["scheduled", "ack_timeout"]);

    let id = got[1].header("webhook-id").to_owned();
    let token = got[1].header("herald-ack-token").to_owned();
    let (status, body) = ack(
        &server,
        &[("webhook-id", id.clone()), ("herald-ack-token", token)],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let detail = api
        .event_until(&event, Duration::from_secs(10), |d| {
            states(d) == ["succeeded"]
        })
        .await;
    assert!(detail["deliveries"][0]["acked_at"].is_string());
    let stats = api.get("/api/v1/stats?granularity=minute").await;
    assert_eq!(
        (&stats["total"]["acked"], &stats["total"]["ack_timeouts"]),
        (&json!(1), &json!(1)),
        "{stats}"
    );
}

#[tokio::test]
async fn a_delivery_never_acknowledged_ends_in_the_dlq_when_its_policy_is_spent() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    effectively_once(&api, &receiver.url, 2).await;
    let event = api.publish("order.created", json!({"n": 1})).await;
    let detail = api
        .event_until(&event, Duration::from_secs(30), |d| states(d) == ["dead"])
        .await;
    assert_eq!(
        receiver.received().len(),
        2,
        "two attempts, both answered 200"
    );
    let dlq = until(&api, "/api/v1/dlq", Duration::from_secs(5), |d| {
        d["items"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let reason = dlq["items"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("not acknowledged within 5s of attempt 2"),
        "{reason}: {detail}"
    );
}

/// What a refused acknowledgement is, the headers it sends and the status
/// it gets.
type Case = (&'static str, Vec<(&'static str, String)>, u16);

#[tokio::test]
async fn an_unproven_acknowledgement_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::start(vec![], Reply::Status(200)).await;
    let (_, secret) = effectively_once(&api, &receiver.url, 5).await;
    let (_, plain_secret) = api.endpoint(&receiver.url, &["plain.*"], json!({})).await;
    let event = api.publish("order.created", json!({"n": 1})).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let id = got[0].header("webhook-id").to_owned();
    api.event_until(&event, Duration::from_secs(10), |d| {
        states(d) == ["awaiting_ack"]
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let other = herald_engine::sign::Secret::generate().expose();
    let key = server.api_key(herald_engine::model::Scope::All).await;
    let cases: Vec<Case> = vec![
        ("no proof", vec![("webhook-id", id.clone())], 401),
        (
            "an API key is no proof",
            vec![
                ("webhook-id", id.clone()),
                ("authorization", format!("Bearer {key}")),
            ],
            401,
        ),
        (
            "another secret",
            vec![
                ("webhook-id", id.clone()),
                ("webhook-timestamp", now.to_string()),
                ("webhook-signature", sign(&other, &id, now, b"{}")),
            ],
            401,
        ),
        (
            "signed ten minutes ago",
            vec![
                ("webhook-id", id.clone()),
                ("webhook-timestamp", (now - 600).to_string()),
                ("webhook-signature", sign(&secret, &id, now - 600, b"{}")),
            ],
            401,
        ),
        (
            "a signature without its timestamp",
            vec![
                ("webhook-id", id.clone()),
                ("webhook-signature", sign(&secret, &id, now, b"{}")),
            ],
            400,
        ),
        (
            "a token of another delivery",
            vec![
                ("webhook-id", id.clone()),
                (
                    "herald-ack-token",
                    "ack_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
                ),
            ],
            401,
        ),
        (
            "a delivery that does not exist",
            vec![
                (
                    "webhook-id",
                    herald_engine::model::DeliveryId::new().to_string(),
                ),
                (
                    "herald-ack-token",
                    "ack_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
                ),
            ],
            401,
        ),
        ("no webhook-id", vec![], 400),
        (
            "a webhook-id that names no delivery",
            vec![("webhook-id", "evt_123".into())],
            400,
        ),
    ];
    for (what, headers, expected) in cases {
        let (status, body) = ack(&server, &headers, "{}").await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
    }
    // Signed right, but over a different body than the one sent.
    let headers = [
        ("webhook-id", id.clone()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", sign(&secret, &id, now, b"{}")),
    ];
    let (status, _) = ack(&server, &headers, r#"{"tampered":1}"#).await;
    assert_eq!(status, 401, "a signature covers the body");
    let detail = api.get(&format!("/api/v1/events/{event}")).await;
    assert_eq!(states(&detail), ["awaiting_ack"], "nothing changed");
    assert!(detail["deliveries"][0]["acked_at"].is_null());

    // Proven, but its endpoint asks for no acknowledgement.
    let plain = api.publish("plain.created", json!({"n": 2})).await;
    api.event_until(&plain, Duration::from_secs(10), |d| {
        states(d) == ["succeeded"]
    })
    .await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let plain_id = got[1].header("webhook-id").to_owned();
    let (status, body) = signed_ack(&server, &plain_secret, &plain_id).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
}
