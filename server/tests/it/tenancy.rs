//! Tenant isolation: one tenant's keys and console users see nothing of another's.

use std::time::{Duration, Instant};

use herald_engine::model::{Role, Scope};
use serde_json::{Value, json};

use crate::client::{Api, fast_policy, status_and_body, until};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn one_tenants_key_sees_nothing_of_another_tenant() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let server = TestServer::start().await;
    let a = Api {
        server: &server,
        key: server.tenant_key("tenant-a", Scope::All).await,
    };
    let b = Api {
        server: &server,
        key: server.tenant_key("tenant-b", Scope::All).await,
    };
    let receiver_a = Receiver::ok().await;
    let failing_b = Receiver::start(Vec::new(), Reply::Status(500)).await;
    let (endpoint_a, _) = a.endpoint(&receiver_a.url, &["*"], json!({})).await;

    // A's live feed, open before B does anything.
    let ws = server.url("/api/v1/live").replacen("http", "ws", 1);
    let mut request = ws.into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", a.key).parse().unwrap(),
    );
    let (mut feed_a, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    // B: an endpoint, an event that dies into the DLQ, and a replay job.
    let (endpoint_b, _) = b
        .endpoint(
            &failing_b.url,
            &["*"],
            json!({"retry_policy": fast_policy(1)}),
        )
        .await;
    let event_b = b.publish("b.only", json!({"secret": "b"})).await;
    let dlq_b = until(&b, "/api/v1/dlq", Duration::from_secs(20), |v| {
        v["items"].as_array().unwrap().len() == 1
    })
    .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, replay_b) = status_and_body(
        b.post("/api/v1/replays", &json!({"rate_per_second": 10}))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{replay_b}");
    let replay_b = replay_b["id"].as_str().unwrap().to_owned();
    let (status, checkpoint_b) = status_and_body(
        b.post("/api/v1/checkpoints", &json!({"name": "b's checkpoint"}))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{checkpoint_b}");
    let checkpoint_b = checkpoint_b["id"].as_str().unwrap().to_owned();

    // A gets 404 for every one of them, whatever the method.
    for path in [
        format!("/api/v1/events/{event_b}"),
        format!("/api/v1/endpoints/{endpoint_b}"),
        format!("/api/v1/dlq/{dlq_b}"),
        format!("/api/v1/replays/{replay_b}"),
        format!("/api/v1/checkpoints/{checkpoint_b}"),
    ] {
        let res = a.send(reqwest::Method::GET, &path, None).await;
        assert_eq!(res.status(), 404, "GET {path}");
    }
    for (method, path) in [
        (
            reqwest::Method::PATCH,
            format!("/api/v1/endpoints/{endpoint_b}"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/endpoints/{endpoint_b}"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/endpoints/{endpoint_b}/rotate-secret"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/dlq/{dlq_b}/reprocess"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/events/{event_b}/replay"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/replays/{replay_b}/cancel"),
        ),
    ] {
        let body = json!({"description": "taken over"});
        let body = if method == reqwest::Method::PATCH {
            body
        } else {
            json!({})
        };
        let res = a.send(method.clone(), &path, Some(&body)).await;
        assert_eq!(res.status(), 404, "{method} {path}");
    }
    // Lists show A's own things only.
    let listed = a.get("/api/v1/endpoints").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], endpoint_a.as_str());
    assert!(
        a.get("/api/v1/events").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        a.get("/api/v1/dlq").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        a.get("/api/v1/replays").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // B's endpoint is untouched by A's attempts.
    assert_eq!(
        b.get(&format!("/api/v1/endpoints/{endpoint_b}")).await["enabled"],
        true
    );

    // A's feed carries A's delivery and nothing of B's (whose events, retries
    // and replay progress all happened while it was open).
    let event_a = a.publish("a.only", json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen_a = false;
    while !seen_a {
        assert!(Instant::now() < deadline, "A's own delivery never showed");
        let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_secs(5), feed_a.next()).await
        else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        assert_ne!(
            message["type"], "replay.progress",
            "B's replay leaked: {message}"
        );
        assert_eq!(message["endpoint_id"], endpoint_a.as_str(), "{message}");
        seen_a = message["event_id"] == event_a.as_str();
    }
}

#[tokio::test]
async fn console_users_bound_to_a_tenant_see_only_that_tenant() {
    let server = TestServer::start().await;
    let store = &server.running.state.store;
    let tenant_b = store.ensure_tenant("tenant-b", "B").await.unwrap();
    herald_engine::auth::register_user_in(
        store.as_ref(),
        "b-viewer@herald.test",
        "viewer-password".into(),
        Role::Viewer,
        Some(tenant_b.id),
    )
    .await
    .unwrap();
    let default_api = Api::new(&server).await;
    let b_api = Api {
        server: &server,
        key: server.tenant_key("tenant-b", Scope::All).await,
    };
    let receiver = Receiver::ok().await;
    default_api
        .endpoint(
            &receiver.url,
            &["none"],
            json!({"description": "default's"}),
        )
        .await;
    b_api
        .endpoint(&receiver.url, &["none"], json!({"description": "b's"}))
        .await;

    let cookie = server
        .sign_in("b-viewer@herald.test", "viewer-password")
        .await
        .unwrap();
    let res = server
        .http
        .post(server.url("/fn/list_endpoints"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert!(
        text.contains("b's") && !text.contains("default's"),
        "{text}"
    );
    // A bound user cannot switch to another tenant.
    let res = server
        .http
        .post(server.url("/fn/switch_tenant"))
        .header("cookie", &cookie)
        .form(&[("slug", "default")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Nor can an admin be bound to one.
    let err = herald_engine::auth::register_user_in(
        store.as_ref(),
        "b-admin@herald.test",
        "admin-password".into(),
        Role::Admin,
        Some(tenant_b.id),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("global"), "{err}");
}
