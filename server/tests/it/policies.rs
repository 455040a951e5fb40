//! Named retry policies and the per-tenant payload-dedup window.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Api, fast_policy, states};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

async fn json_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_named_policy_drives_the_endpoints_that_follow_it() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;

    let (status, created) = json_of(
        api.post(
            "/api/v1/retry-policies",
            &json!({"name": "fast", "description": "for tests", "policy": fast_policy(2)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let policy_id = created["id"].as_str().unwrap().to_string();
    assert!(policy_id.starts_with("rp_"));
    assert_eq!(created["schedule_secs"], json!([0, 1]));
    assert_eq!(created["endpoints"], 0);

    // A second policy of the same name is a conflict; a broken one is refused.
    let (status, body) = json_of(
        api.post(
            "/api/v1/retry-policies",
            &json!({"name": "fast", "policy": fast_policy(3)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("fast"));
    let (status, body) = json_of(
        api.post(
            "/api/v1/retry-policies",
            &json!({"name": "broken", "policy": fast_policy(0)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_attempts")
    );

    // An endpoint following it fails twice, then is dead: the named policy's two attempts.
    let receiver = Receiver::start(Vec::new(), Reply::Status(500)).await;
    let (endpoint, _) = api
        .endpoint(&receiver.url, &["*"], json!({"retry_policy_id": policy_id}))
        .await;
    let shown = api.get(&format!("/api/v1/endpoints/{endpoint}")).await;
    assert_eq!(shown["retry_policy_id"], policy_id.as_str());
    assert_eq!(shown["retry_policy"]["max_attempts"], 2);
    let event = api.publish("order.created", json!({"n": 1})).await;
    let detail = api
        .event_until(&event, Duration::from_secs(15), |d| states(d) == ["dead"])
        .await;
    assert_eq!(
        detail["deliveries"][0]["attempt_log"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Changing the policy changes the endpoint's schedule.
    let (status, updated) = json_of(
        api.send(
            Method::PATCH,
            &format!("/api/v1/retry-policies/{policy_id}"),
            Some(&json!({"policy": fast_policy(3)})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["schedule_secs"], json!([0, 1, 2]));
    assert_eq!(updated["endpoints"], 1);
    let shown = api.get(&format!("/api/v1/endpoints/{endpoint}")).await;
    assert_eq!(shown["retry_policy"]["max_attempts"], 3);

    // In use: it cannot be deleted. Once the endpoint has an inline policy, it can.
    let (status, body) = json_of(
        api.send(
            Method::DELETE,
            &format!("/api/v1/retry-policies/{policy_id}"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = json_of(
        api.send(
            Method::PATCH,
            &format!("/api/v1/endpoints/{endpoint}"),
            Some(&json!({"retry_policy": fast_policy(4)})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["retry_policy_id"].is_null());
    assert_eq!(body["retry_policy"]["max_attempts"], 4);
    let res = api
        .send(
            Method::DELETE,
            &format!("/api/v1/retry-policies/{policy_id}"),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = api
        .send(
            Method::GET,
            &format!("/api/v1/retry-policies/{policy_id}"),
            None,
        )
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn endpoints_refuse_a_policy_that_does_not_exist_or_two_at_once() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let missing = "rp_01JAAAAAAAAAAAAAAAAAAAAAAA";
    let (status, body) = json_of(
        api.post(
            "/api/v1/endpoints",
            &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["*"], "retry_policy_id": missing}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(missing));
    let (status, body) = json_of(
        api.post(
            "/api/v1/endpoints",
            &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["*"],
                    "retry_policy_id": missing, "retry_policy": fast_policy(2)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not both")
    );
    assert_eq!(api.get("/api/v1/endpoints").await["items"], json!([]));
}

#[tokio::test]
async fn the_preview_shows_when_each_attempt_is_planned() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let (status, preview) = json_of(
        api.post(
            "/api/v1/retry-policies/preview",
            &json!({"backoff": {"kind": "exponential", "base_secs": 10, "factor": 2.0, "cap_secs": 60},
                    "max_attempts": 6, "jitter": 0.2}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    // Delays 10, 20, 40, 60 (capped), 60 after the first attempt at 0.
    assert_eq!(preview["schedule_secs"], json!([0, 10, 30, 70, 130, 190]));
    assert_eq!(preview["attempts"], 6);
    assert_eq!(preview["span_secs"], 190);
    assert_eq!(
        preview["give_up_on"],
        json!([]),
        "by default every failure retries"
    );

    let (status, body) = json_of(
        api.post(
            "/api/v1/retry-policies/preview",
            &json!({"backoff": {"kind": "exponential", "base_secs": 10, "factor": 0.5, "cap_secs": 60},
                    "max_attempts": 3}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("factor")
    );
}

#[tokio::test]
async fn inside_the_dedup_window_an_identical_payload_is_delivered_once() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    api.endpoint(&receiver.url, &["*"], json!({})).await;

    // Off by default: a repeat is a new event.
    let a = api
        .publish("user.updated", json!({"user": 1, "name": "Ada"}))
        .await;
    let b = api
        .publish("user.updated", json!({"user": 1, "name": "Ada"}))
        .await;
    assert_ne!(a, b);

    let (status, tenant) = json_of(
        api.send(
            Method::PATCH,
            "/api/v1/tenant",
            Some(&json!({"payload_dedup_window_secs": 3600})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{tenant}");
    assert_eq!(tenant["payload_dedup_window_secs"], 3600);

    let first = api
        .publish("user.updated", json!({"user": 2, "name": "Grace"}))
        .await;
    // The same payload (keys in another order are the same JSON) → 200 naming the original.
    let res = api
        .post(
            "/api/v1/events",
            &json!({"event_type": "user.updated", "payload": {"name": "Grace", "user": 2}}),
        )
        .await;
    let (status, repeat) = json_of(res).await;
    assert_eq!(status, 200, "{repeat}");
    assert_eq!(repeat["id"], first.as_str());
    assert_eq!(repeat["duplicate_of"], first.as_str());
    assert_eq!(repeat["duplicate_reason"], "payload_dedup_window");
    // A different type or payload is new.
    let other_type = api
        .publish("user.created", json!({"user": 2, "name": "Grace"}))
        .await;
    let other_payload = api
        .publish("user.updated", json!({"user": 2, "name": "Grace H."}))
        .await;
    assert_ne!(other_type, first);
    assert_ne!(other_payload, first);

    // Within one batch too.
    let res = api
        .post(
            "/api/v1/events/batch",
            &json!({"events": [
                {"event_type": "user.updated", "payload": {"user": 3}},
                {"event_type": "user.updated", "payload": {"user": 3}},
            ]}),
        )
        .await;
    let (status, batch) = json_of(res).await;
    assert_eq!(status, 202, "{batch}");
    assert_eq!(batch["ids"][0], batch["ids"][1]);

    // a, b, first, other_type, other_payload, the batch's one: six deliveries.
    receiver.wait_for(6, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 6);
    let grace = received
        .iter()
        .filter(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body == json!({"user": 2, "name": "Grace"})
        })
        .count();
    assert_eq!(
        grace, 2,
        "one user.updated and one user.created carry Grace"
    );

    // Out-of-range windows are refused and change nothing; null turns it off.
    let (status, body) = json_of(
        api.send(
            Method::PATCH,
            "/api/v1/tenant",
            Some(&json!({"payload_dedup_window_secs": 0})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payload_dedup_window_secs")
    );
    assert_eq!(
        api.get("/api/v1/tenant").await["payload_dedup_window_secs"],
        3600
    );
    let (status, tenant) = json_of(
        api.send(
            Method::PATCH,
            "/api/v1/tenant",
            Some(&json!({"payload_dedup_window_secs": null})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert!(tenant["payload_dedup_window_secs"].is_null());
    let again = api
        .publish("user.updated", json!({"user": 2, "name": "Grace"}))
        .await;
    assert_ne!(again, first);
}

#[tokio::test]
async fn a_status_the_policy_gives_up_on_ends_the_delivery_at_its_first_answer() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let policy = json!({"backoff": {"kind": "schedule", "delays_secs": [1]}, "max_attempts": 5,
                        "jitter": 0.0, "give_up_on": [404, 422]});
    let (status, preview) =
        json_of(api.post("/api/v1/retry-policies/preview", &policy).await).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["give_up_on"], json!([404, 422]));
    let (status, refused) = json_of(
        api.post(
            "/api/v1/retry-policies/preview",
            &json!({"backoff": {"kind": "schedule", "delays_secs": [1]}, "max_attempts": 5, "give_up_on": [200]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("give_up_on")
    );

    // 404 ends the delivery at once; 500 is retried as before.
    let gone = Receiver::start(Vec::new(), Reply::Status(404)).await;
    let failing = Receiver::start(vec![Reply::Status(500)], Reply::Status(200)).await;
    api.endpoint(&gone.url, &["a.*"], json!({"retry_policy": policy}))
        .await;
    api.endpoint(&failing.url, &["b.*"], json!({"retry_policy": policy}))
        .await;
    let dead = api.publish("a.happened", json!({"n": 1})).await;
    let retried = api.publish("b.happened", json!({"n": 2})).await;
    let detail = api
        .event_until(&dead, Duration::from_secs(10), |d| states(d) == ["dead"])
        .await;
    assert_eq!(
        detail["deliveries"][0]["attempts"], 1,
        "no retry after a 404"
    );
    api.event_until(&retried, Duration::from_secs(10), |d| {
        states(d) == ["succeeded"]
    })
    .await;
    let dlq = api.get("/api/v1/dlq").await;
    let reason = dlq["items"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("404"), "{reason}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(gone.received().len(), 1, "the 404 was not retried");
    assert_eq!(failing.received().len(), 2, "the 500 was retried once");
}
