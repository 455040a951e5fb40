//! Endpoint operations: secret rotation, test events, disabling.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Api, fast_policy, signature_verifies, states};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn during_a_rotation_both_secrets_sign_and_afterwards_only_the_new_one() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let (id, old) = api.endpoint(&receiver.url, &["*"], json!({})).await;

    let res = api
        .post(&format!("/api/v1/endpoints/{id}/rotate-secret"), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);

    api.publish("order.created", json!({"n": 1})).await;
    let first = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(first[0].header("webhook-signature").split(' ').count(), 2);
    assert!(
        signature_verifies(&old, &first[0]),
        "the old secret still verifies during the grace period"
    );
    assert!(
        signature_verifies(&new, &first[0]),
        "the new secret verifies"
    );

    // A rotation without a grace period retires the secrets it replaces at once.
    let res = api
        .post(
            &format!("/api/v1/endpoints/{id}/rotate-secret"),
            &json!({"grace_period_secs": 0}),
        )
        .await;
    let newest = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    api.publish("order.created", json!({"n": 2})).await;
    let second = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(signature_verifies(&newest, &second[1]));
    assert!(!signature_verifies(&new, &second[1]));
    assert!(
        !signature_verifies(&old, &second[1]),
        "the first secret's grace was cut short by the second rotation"
    );
}

#[tokio::test]
async fn a_test_event_goes_to_that_endpoint_alone() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let (target, other) = (Receiver::ok().await, Receiver::ok().await);
    let (id, _) = api.endpoint(&target.url, &["order.*"], json!({})).await;
    api.endpoint(&other.url, &["*"], json!({})).await;

    let res = api
        .post(&format!("/api/v1/endpoints/{id}/test"), &json!({}))
        .await;
    assert_eq!(res.status(), 202);
    let event = res.json::<Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let detail = api
        .event_until(&event, Duration::from_secs(10), |d| {
            states(d) == ["succeeded"]
        })
        .await;
    assert_eq!(detail["event_type"], "herald.test");
    let got = target.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("herald-event-type"), "herald.test");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        other.received().is_empty(),
        "a '*' endpoint does not get another endpoint's test event"
    );
}

#[tokio::test]
async fn a_disabled_endpoint_holds_what_is_published_and_sends_it_in_order_when_enabled() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let (id, _) = api
        .endpoint(&receiver.url, &["*"], json!({"ordering": "endpoint"}))
        .await;

    let res = api
        .post(
            &format!("/api/v1/endpoints/{id}/disable"),
            &json!({"reason": "receiver migration"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let endpoint: Value = res.json().await.unwrap();
    assert_eq!(
        (
            endpoint["enabled"].clone(),
            endpoint["disabled_reason"].clone()
        ),
        (json!(false), json!("receiver migration"))
    );
    let mut held = Vec::new();
    for n in 0..20 {
        held.push(api.publish("order.created", json!({"n": n})).await);
    }
    assert_eq!(
        api.post(&format!("/api/v1/endpoints/{id}/test"), &json!({}))
            .await
            .status(),
        409
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        receiver.received().is_empty(),
        "nothing is sent while disabled"
    );
    let list = api.get("/api/v1/endpoints").await;
    assert_eq!(list["items"][0]["enabled"], false);

    assert_eq!(
        api.post(&format!("/api/v1/endpoints/{id}/enable"), &json!({}))
            .await
            .status(),
        200
    );
    let got = receiver.wait_for(20, Duration::from_secs(20)).await;
    let order: Vec<u64> = got
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(order, (0..20).collect::<Vec<u64>>(), "none lost, in order");
    for event in &held {
        api.event_until(event, Duration::from_secs(10), |d| {
            states(d) == ["succeeded"]
        })
        .await;
    }
}

#[tokio::test]
async fn disabling_with_discard_drops_the_backlog_on_the_record() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let (id, _) = api.endpoint(&receiver.url, &["*"], json!({})).await;
    let res = api
        .post(&format!("/api/v1/endpoints/{id}/disable"), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    for n in 0..3 {
        api.publish("order.created", json!({"n": n})).await;
    }
    let res = api
        .post(
            &format!("/api/v1/endpoints/{id}/disable"),
            &json!({"reason": "moved away", "discard_backlog": true}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let audit = api
        .get("/api/v1/audit?action=endpoint.discard_backlog")
        .await;
    let entry = &audit["items"][0];
    assert!(
        entry["summary"].as_str().unwrap().contains("3 deliveries"),
        "{audit:#}"
    );
    api.post(&format!("/api/v1/endpoints/{id}/enable"), &json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        receiver.received().is_empty(),
        "the discarded backlog is never sent"
    );
}

#[tokio::test]
async fn endpoint_operations_need_the_right_scope_and_an_existing_endpoint() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let (id, _) = api.endpoint(&receiver.url, &["*"], json!({})).await;
    let read = server.api_key(herald_engine::model::Scope::Read).await;
    for action in ["disable", "enable", "rotate-secret", "test"] {
        let res = server
            .http
            .post(server.url(&format!("/api/v1/endpoints/{id}/{action}")))
            .bearer_auth(&read)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{action} with a read key");
        let res = api
            .post(
                &format!("/api/v1/endpoints/ep_01ARZ3NDEKTSV4RRFFQ69G5FAV/{action}"),
                &json!({}),
            )
            .await;
        assert_eq!(res.status(), 404, "{action} on an unknown endpoint");
    }
    let res = api
        .post(
            &format!("/api/v1/endpoints/{id}/rotate-secret"),
            &json!({"secret": "not-a-secret"}),
        )
        .await;
    assert_eq!(res.status(), 422);
}

#[tokio::test]
async fn a_patch_changes_what_it_names_and_nothing_else() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let (before, after) = (Receiver::ok().await, Receiver::ok().await);
    let (id, secret) = api
        .endpoint(
            &before.url,
            &["order.*"],
            json!({"description": "orders", "headers": {"x-team": "billing"}}),
        )
        .await;

    let patch = |body: Value| {
        server
            .http
            .patch(server.url(&format!("/api/v1/endpoints/{id}")))
            .bearer_auth(&api.key)
            .json(&body)
            .send()
    };
    let res = patch(json!({"url": after.url, "event_types": ["user.*"]}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["event_types"], json!(["user.*"]));
    assert_eq!(changed["description"], "orders", "fields left out stay");
    assert_eq!(changed["header_names"], json!(["x-team"]));

    // New events follow the patched subscription to the patched URL, signed with
    // the same secret.
    api.publish("order.created", json!({})).await;
    let event = api.publish("user.created", json!({})).await;
    api.event_until(&event, Duration::from_secs(10), |d| {
        states(d) == ["succeeded"]
    })
    .await;
    let got = after.received();
    assert_eq!(got.len(), 1);
    assert!(signature_verifies(&secret, &got[0]));
    assert!(before.received().is_empty());

    // A bad field is refused and changes nothing.
    let res = patch(json!({"event_types": [], "description": "x"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(patch(json!({"colour": "red"})).await.unwrap().status(), 422);
    let unchanged = api.get(&format!("/api/v1/endpoints/{id}")).await;
    assert_eq!(unchanged["event_types"], json!(["user.*"]));
    assert_eq!(unchanged["description"], "orders");

    let res = server
        .http
        .patch(server.url("/api/v1/endpoints/ep_01ARZ3NDEKTSV4RRFFQ69G5FAV"))
        .bearer_auth(&api.key)
        .json(&json!({"description": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// A 410 disables the endpoint and holds its deliveries, the one answered
/// 410 included: nothing is attempted or dropped until it is enabled again.
#[tokio::test]
async fn a_410_disables_the_endpoint_and_holds_its_deliveries() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::start(vec![Reply::Status(410)], Reply::Status(200)).await;
    let (endpoint, _) = api
        .endpoint(
            &receiver.url,
            &["*"],
            json!({"retry_policy": fast_policy(5)}),
        )
        .await;
    let event = api.publish("order.created", json!({"n": 1})).await;
    let path = format!("/api/v1/endpoints/{endpoint}");
    crate::client::until(&api, &path, Duration::from_secs(10), |e| {
        e["enabled"] == false
    })
    .await;
    let disabled = api.get(&path).await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    // Published while disabled: made, and held with the first.
    let later = api.publish("order.created", json!({"n": 2})).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "nothing is attempted while disabled"
    );
    for id in [&event, &later] {
        assert_eq!(
            states(&api.get(&format!("/api/v1/events/{id}")).await),
            ["pending"],
            "held, not dead"
        );
    }

    let res = api.post(&format!("{path}/enable"), &json!({})).await;
    assert_eq!(res.status(), 200);
    for id in [&event, &later] {
        api.event_until(id, Duration::from_secs(10), |d| states(d) == ["succeeded"])
            .await;
    }
    assert_eq!(
        receiver.received().len(),
        3,
        "the first again, then the second"
    );
}

#[tokio::test]
async fn an_endpoint_has_an_optional_name_that_a_patch_changes_or_removes() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let (id, _) = api
        .endpoint(
            "https://93.184.216.34/hook",
            &["*"],
            json!({"name": "  Billing service "}),
        )
        .await;
    let got = api.get(&format!("/api/v1/endpoints/{id}")).await;
    assert_eq!(got["name"], "Billing service", "stored trimmed: {got}");

    let res = api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/endpoints/{id}"),
            Some(&json!({"name": "x\ny"})),
        )
        .await;
    assert_eq!(res.status(), 422);
    let error: Value = res.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("name:"),
        "{error}"
    );
    assert_eq!(
        api.get(&format!("/api/v1/endpoints/{id}")).await["name"],
        "Billing service"
    );

    // Left out, it stays; empty, it goes.
    let res = api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/endpoints/{id}"),
            Some(&json!({"timeout_ms": 5000})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        api.get(&format!("/api/v1/endpoints/{id}")).await["name"],
        "Billing service"
    );
    let res = api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/endpoints/{id}"),
            Some(&json!({"name": ""})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        api.get(&format!("/api/v1/endpoints/{id}")).await["name"],
        ""
    );
}
