//! Tenant isolation: one tenant's keys and console users see nothing of another's.

use std::time::{Duration, Instant};

use herald_engine::model::{
    ApiKeyId, DlqEntryId, EndpointId, EventId, ReplayId, RetryPolicyId, Role, Scope,
};
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
        &herald_engine::audit::AuditBy::system(),
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
        .console_call(&cookie, "switch_tenant", &[("slug", "default")])
        .await;
    assert_eq!(res.status(), 403);
    // Nor can an admin be bound to one.
    let err = herald_engine::auth::register_user_in(
        store.as_ref(),
        &herald_engine::audit::AuditBy::system(),
        "b-admin@herald.test",
        "admin-password".into(),
        Role::Admin,
        Some(tenant_b.id),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("global"), "{err}");
}

/// Every row of every table, as text, in a stable order: what "changes
/// nothing" is checked against. Columns that record a caller's own use (a
/// key's last use, a sign-in) are left out.
async fn database_rows(server: &TestServer) -> Vec<String> {
    use sqlx::Row;
    let path = server.data_dir().join("herald.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "select name from sqlite_master where type = 'table'
         and name not like 'sqlite_%' and name not in ('_sqlx_migrations', 'sessions')
         order by name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut rows = Vec::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query(&format!("pragma table_info({table})"))
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("name"))
            .filter(|c| !matches!(c.as_str(), "last_used_at" | "last_login_at"))
            .collect();
        let text = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let mut values: Vec<String> =
            sqlx::query_scalar(&format!("select {text} from \"{table}\""))
                .fetch_all(&pool)
                .await
                .unwrap();
        values.sort();
        rows.extend(values.into_iter().map(|v| format!("{table}: {v}")));
    }
    pool.close().await;
    rows
}

#[tokio::test]
async fn another_tenants_ids_change_nothing_on_any_route_or_server_function() {
    let server = TestServer::start_with(|c| c.login_rate_limit = 0).await;
    let a = Api {
        server: &server,
        key: server.tenant_key("tenant-a", Scope::All).await,
    };
    let b = Api {
        server: &server,
        key: server.tenant_key("tenant-b", Scope::All).await,
    };
    // Tenant A: an endpoint on a named retry policy, one whose delivery died
    // into the DLQ, an event, a finished replay, a checkpoint and a key.
    let healthy = Receiver::ok().await;
    let failing = Receiver::start(Vec::new(), Reply::Status(500)).await;
    let (status, policy) = status_and_body(
        a.post(
            "/api/v1/retry-policies",
            &json!({"name": "a's policy", "policy": fast_policy(2)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{policy}");
    let policy = policy["id"].as_str().unwrap().to_owned();
    let (endpoint, _) = a
        .endpoint(&healthy.url, &["a.ok"], json!({"retry_policy_id": policy}))
        .await;
    a.endpoint(
        &failing.url,
        &["a.fail"],
        json!({"retry_policy": fast_policy(1)}),
    )
    .await;
    let event = a.publish("a.ok", json!({"n": 1})).await;
    a.publish("a.fail", json!({"n": 2})).await;
    let dlq = until(&a, "/api/v1/dlq", Duration::from_secs(20), |v| {
        v["items"].as_array().unwrap().len() == 1
    })
    .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.event_until(&event, Duration::from_secs(20), |d| {
        crate::client::states(d) == ["succeeded"]
    })
    .await;
    let (status, replay) = status_and_body(
        a.post(
            "/api/v1/replays",
            &json!({"filter": {"event_types": ["a.ok"]}, "reason": "a's"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{replay}");
    let replay = replay["id"].as_str().unwrap().to_owned();
    until(
        &a,
        &format!("/api/v1/replays/{replay}"),
        Duration::from_secs(20),
        |r| r["state"] == "completed",
    )
    .await;
    // The replayed delivery has settled: nothing of A's moves from here on.
    a.event_until(&event, Duration::from_secs(20), |d| {
        d["deliveries"][0]["attempt_log"].as_array().unwrap().len() == 2
            && crate::client::states(d) == ["succeeded"]
    })
    .await;
    let (status, checkpoint) = status_and_body(
        a.post(
            "/api/v1/checkpoints",
            &json!({"name": "a's", "endpoint_id": endpoint}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{checkpoint}");
    let checkpoint = checkpoint["id"].as_str().unwrap().to_owned();
    let (status, key) = status_and_body(
        a.post("/api/v1/api-keys", &json!({"name": "a's", "scope": "read"}))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let key = key["id"].as_str().unwrap().to_owned();
    let ids_of_a = |path: &str| -> &str {
        if path.starts_with("/api-keys") {
            &key
        } else if path.starts_with("/endpoints") {
            &endpoint
        } else if path.starts_with("/retry-policies") {
            &policy
        } else if path.starts_with("/events") {
            &event
        } else if path.starts_with("/dlq") {
            &dlq
        } else if path.starts_with("/replays") {
            &replay
        } else {
            &checkpoint
        }
    };

    // Console users bound to tenant B, one per role that changes things.
    let store = &server.running.state.store;
    let tenant_b = store.ensure_tenant("tenant-b", "tenant-b").await.unwrap();
    let mut cookies = Vec::new();
    for role in [Role::Operator, Role::Developer] {
        let email = format!("b-{role}@herald.test");
        herald_engine::auth::register_user_in(
            store.as_ref(),
            &herald_engine::audit::AuditBy::system(),
            &email,
            "role-password-1".into(),
            role,
            Some(tenant_b.id),
        )
        .await
        .unwrap();
        cookies.push((
            role,
            server.sign_in(&email, "role-password-1").await.unwrap(),
        ));
    }
    // B's key has been used once (its first use is recorded) before the snapshot.
    b.get("/api/v1/tenant").await;
    let before = database_rows(&server).await;

    // Every REST route that names an id, with A's.
    let mut tried = 0;
    for route in crate::access::api_routes() {
        if !route.path.contains("{id}") || route.path == "/live" {
            continue;
        }
        let path = format!(
            "/api/v1{}",
            route.path.replace("{id}", ids_of_a(route.path))
        );
        let res = b
            .send(route.method.clone(), &path, route.body.as_ref())
            .await;
        let (status, body) = status_and_body(res).await;
        assert_eq!(
            status, 404,
            "{} {path} with another tenant's id: {body}",
            route.method
        );
        tried += 1;
    }
    assert!(tried >= 20, "only {tried} routes name an id");
    // Routes whose body names another tenant's things.
    for (path, body) in [
        ("/api/v1/dlq/reprocess", json!({"ids": [dlq]})),
        (
            "/api/v1/dlq/reprocess",
            json!({"filter": {"endpoint_id": endpoint}}),
        ),
        (
            "/api/v1/replays",
            json!({"filter": {"endpoint_id": endpoint}}),
        ),
        (
            "/api/v1/replays",
            json!({"filter": {"after_checkpoint": checkpoint}}),
        ),
        (
            "/api/v1/checkpoints",
            json!({"name": "b's", "endpoint_id": endpoint}),
        ),
        (
            "/api/v1/endpoints",
            json!({"url": healthy.url, "event_types": ["b.x"], "retry_policy_id": policy}),
        ),
    ] {
        let (status, answer) = status_and_body(b.post(path, &body).await).await;
        let refused = status == 404 || answer["reprocessed"].as_array().is_some_and(Vec::is_empty);
        assert!(refused, "POST {path} {body}: {status} {answer}");
    }
    // Every server function that names an id, with A's, as each of B's users.
    let nil_ids = [
        (EndpointId::nil().to_string(), endpoint.clone()),
        (EventId::nil().to_string(), event.clone()),
        (DlqEntryId::nil().to_string(), dlq.clone()),
        (ReplayId::nil().to_string(), replay.clone()),
        (RetryPolicyId::nil().to_string(), policy.clone()),
        (ApiKeyId::nil().to_string(), key.clone()),
    ];
    let mut functions = 0;
    for (name, _, body) in crate::access::server_functions() {
        let Some(body) = nil_ids
            .iter()
            .find(|(nil, _)| body.contains(nil.as_str()))
            .map(|(nil, real)| body.replace(nil.as_str(), real))
        else {
            continue;
        };
        functions += 1;
        for (role, cookie) in &cookies {
            let res = server
                .http
                .post(server.url(&format!("/fn/{name}")))
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            assert!(
                matches!(status, 403 | 404),
                "{name} as {role} bound to B with A's id: {status} {text}"
            );
        }
    }
    assert!(
        functions >= 10,
        "only {functions} server functions name an id"
    );
    // And the console's bulk reprocess with A's entry.
    for (role, cookie) in &cookies {
        let res = server
            .http
            .post(server.url("/fn/reprocess_dlq"))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("ids[0]={dlq}&all=false&query=&reason=r"))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert!(
            matches!(status, 403 | 404) || text.contains("\"reprocessed\":[]"),
            "reprocess_dlq as {role} with A's entry: {status} {text}"
        );
    }

    let after = database_rows(&server).await;
    let gone: Vec<_> = before.iter().filter(|r| !after.contains(r)).collect();
    let new: Vec<_> = after.iter().filter(|r| !before.contains(r)).collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "tenant B's calls changed the database:\n  gone: {gone:#?}\n  new: {new:#?}"
    );
}
