//! Retention and expunge through the API: the settings are checked, the
//! background pruner removes what expired on its own, and an expunged event's
//! payload is gone from everything the API shows, audited.

use std::time::Duration;

use herald_server::Config;
use serde_json::{Value, json};

use crate::client::{Api, fast_policy, status_and_body};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn retention_settings_are_checked_and_a_refused_change_changes_nothing() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let tenant = api.get("/api/v1/tenant").await;
    assert_eq!(tenant["event_retention_days"], 30, "{tenant}");
    assert_eq!(tenant["stats_retention_days"], 400, "{tenant}");

    for (field, bad) in [
        ("event_retention_days", json!(0)),
        ("stats_retention_days", json!(36_501)),
        ("event_retention_days", json!("ten")),
    ] {
        let res = api
            .send(
                reqwest::Method::PATCH,
                "/api/v1/tenant",
                Some(&json!({ field: bad, "dlq_alert_threshold": 10 })),
            )
            .await;
        let (status, body) = status_and_body(res).await;
        assert!(
            status == 400 || status == 422,
            "{field}={bad}: {status} {body}"
        );
        assert!(body.to_string().contains(field), "{field}={bad}: {body}");
        let now = api.get("/api/v1/tenant").await;
        assert_eq!(
            (
                &now["dlq_alert_threshold"],
                &now["event_retention_days"],
                &now["stats_retention_days"]
            ),
            (&Value::Null, &json!(30), &json!(400)),
            "a refused patch changes nothing"
        );
    }

    let res = api
        .send(
            reqwest::Method::PATCH,
            "/api/v1/tenant",
            Some(&json!({"event_retention_days": null, "stats_retention_days": 90})),
        )
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["event_retention_days"], Value::Null, "{body}");
    assert_eq!(body["stats_retention_days"], 90, "{body}");
}

/// The pruner writes nothing a test could not write through the API but an
/// old event: this one is put straight into the SQLite file, a year old.
#[tokio::test]
async fn the_background_pruner_removes_expired_events_and_keeps_recent_ones() {
    let server = TestServer::start_with(|config: &mut Config| {
        config.database_url = Config::for_data_dir(&config.data_dir).database_url;
        config.retention_interval = Duration::from_secs(1);
    })
    .await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let (endpoint, _) = api.endpoint(&receiver.url, &["r.*"], json!({})).await;
    let recent = api.publish("r.recent", json!({"n": 1})).await;
    api.event_until(&recent, Duration::from_secs(10), |d| {
        d["deliveries"][0]["state"] == "succeeded"
    })
    .await;

    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        server.data_dir().join("herald.db").display()
    ))
    .await
    .unwrap();
    let tenant: String = sqlx::query_scalar("select id from tenants where slug = 'default'")
        .fetch_one(&db)
        .await
        .unwrap();
    let year_ago = chrono::Utc::now() - chrono::Duration::days(365);
    let ms = u64::try_from(year_ago.timestamp_millis()).unwrap();
    let old = format!("evt_{}", ulid::Ulid::from_parts(ms, 7));
    sqlx::query(
        "insert into events (id, tenant_id, seq, event_type, payload, payload_sha256, received_at)
         values ($1, $2, -1, 'r.old', '{}', '', $3)",
    )
    .bind(&old)
    .bind(&tenant)
    .bind(year_ago.timestamp_millis())
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "insert into deliveries (id, tenant_id, event_id, endpoint_id, state, attempts, created_at, updated_at)
         values ($1, $2, $3, $4, 'succeeded', 1, 0, 0)",
    )
    .bind(format!("msg_{}", ulid::Ulid::from_parts(ms, 8)))
    .bind(&tenant)
    .bind(&old)
    .bind(&endpoint)
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    let res = api
        .send(reqwest::Method::GET, &format!("/api/v1/events/{old}"), None)
        .await;
    assert_eq!(res.status(), 200, "the old event is there to begin with");

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let res = api
            .send(reqwest::Method::GET, &format!("/api/v1/events/{old}"), None)
            .await;
        if res.status() == 404 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the old event was never pruned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("herald_retention_removed_total{what=\"events\"} 1"),
        "{metrics}"
    );
    let kept = api.get(&format!("/api/v1/events/{recent}")).await;
    assert_eq!(kept["deliveries"][0]["state"], "succeeded", "{kept}");
}

#[tokio::test]
async fn an_expunged_event_shows_no_payload_anywhere_and_is_audited() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::start(vec![], Reply::Status(500)).await;
    api.endpoint(
        &receiver.url,
        &["p.*"],
        json!({"retry_policy": fast_policy(1)}),
    )
    .await;
    let id = api
        .publish("p.signup", json!({"email": "someone@example.com"}))
        .await;
    api.event_until(&id, Duration::from_secs(10), |d| {
        d["deliveries"][0]["state"] == "dead"
    })
    .await;
    let dlq = api.get("/api/v1/dlq").await;
    let entry = dlq["items"][0]["id"].as_str().unwrap().to_owned();
    let before = api.get(&format!("/api/v1/dlq/{entry}")).await;
    assert!(
        before.to_string().contains("someone@example.com"),
        "{before}"
    );

    let path = format!("/api/v1/events/{id}/expunge");
    let (status, body) = status_and_body(api.post(&path, &json!({"reason": " "})).await).await;
    assert_eq!(status, 422, "a reason is required: {body}");
    assert!(body.to_string().contains("reason"), "{body}");
    let unknown = "/api/v1/events/evt_01JD5Q8X3V4N2M7K9P6R0S1T2W/expunge";
    let (status, _) = status_and_body(api.post(unknown, &json!({"reason": "x"})).await).await;
    assert_eq!(status, 404);

    let (status, done) = status_and_body(
        api.post(&path, &json!({"reason": "erasure request 17"}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["dlq_entries_removed"], 1, "{done}");
    assert_eq!(done["receipts_erased"], 1, "{done}");

    let detail = api.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(detail["payload"], Value::Null, "{detail}");
    assert!(detail["expunged_at"].is_string(), "{detail}");
    assert_eq!(detail["event_type"], "p.signup", "that it existed is kept");
    for shown in [
        detail.to_string(),
        api.get("/api/v1/dlq").await.to_string(),
        api.get("/api/v1/events").await.to_string(),
    ] {
        assert!(!shown.contains("someone@example.com"), "{shown}");
    }
    assert_eq!(api.get("/api/v1/dlq").await["items"], json!([]));
    let res = api
        .send(reqwest::Method::GET, &format!("/api/v1/dlq/{entry}"), None)
        .await;
    assert_eq!(res.status(), 404);

    let replay = format!("/api/v1/events/{id}/replay");
    let (status, body) = status_and_body(api.post(&replay, &json!({})).await).await;
    assert_eq!(status, 409, "an expunged event is not sent again: {body}");

    let audit = api.get("/api/v1/audit?action=event.expunge").await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit}");
    assert_eq!(items[0]["target"], id.as_str());
    assert!(
        items[0]["summary"]
            .as_str()
            .unwrap()
            .contains("erasure request 17"),
        "{audit}"
    );
}
