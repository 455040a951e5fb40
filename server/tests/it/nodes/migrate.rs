//! `herald migrate-store`: a SQLite Herald copied into PostgreSQL and
//! carried on there.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use super::Schema;
use crate::client::{Api, fast_policy, signature_verifies, status_and_body, until};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

fn migrate_store(from: &str, to: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["migrate-store", "--from", from, "--to", to])
        .env_remove("HERALD_DATABASE_URL")
        .output()
        .expect("herald runs")
}

/// A SQLite Herald with delivered events, DLQ entries, a rotated secret and
/// a paused replay is copied into PostgreSQL; a node started there on the
/// same master key finishes the replay with the original webhook-ids, signed
/// with the rotated secret, and shows the same events and DLQ.
#[tokio::test]
async fn migrate_store_moves_a_sqlite_herald_to_postgres_where_its_replay_finishes() {
    const EVENTS: usize = 30;
    let server = TestServer::start_with(|c| {
        c.database_url = format!("sqlite://{}", c.data_dir.join("herald.db").display());
    })
    .await;
    let sqlite = format!("sqlite://{}", server.data_dir().join("herald.db").display());
    let api = Api::new(&server).await;
    let ok = Receiver::ok().await;
    let failing = Receiver::start(Vec::new(), Reply::Status(500)).await;
    let (endpoint, old_secret) = api.endpoint(&ok.url, &["order.*"], json!({})).await;
    // Every event dies there (its breaker, off, would hold the last ones).
    api.endpoint(
        &failing.url,
        &["order.*"],
        json!({"retry_policy": fast_policy(1), "circuit_breaker": {"enabled": false}}),
    )
    .await;
    for n in 0..EVENTS {
        api.publish("order.created", json!({"n": n})).await;
    }
    let first = ok.wait_for(EVENTS, Duration::from_secs(30)).await;
    let original_ids: BTreeSet<String> = first
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(original_ids.len(), EVENTS);
    let dlq = until(
        &api,
        "/api/v1/dlq?limit=200",
        Duration::from_secs(30),
        |d| d["items"].as_array().unwrap().len() == EVENTS,
    )
    .await;
    let res = api
        .post(
            &format!("/api/v1/endpoints/{endpoint}/rotate-secret"),
            &json!({"grace_period_secs": 0}),
        )
        .await;
    let (status, rotated) = status_and_body(res).await;
    assert_eq!(status, 200, "{rotated}");
    let secret = rotated["secret"].as_str().unwrap().to_owned();

    // A slow replay to the one endpoint, paused once it has started.
    let (status, job) = status_and_body(
        api.post(
            "/api/v1/replays",
            &json!({"rate_per_second": 5, "reason": "moving house",
                    "filter": {"endpoint_id": endpoint}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{job}");
    let path = format!("/api/v1/replays/{}", job["id"].as_str().unwrap());
    until(&api, &path, Duration::from_secs(10), |j| {
        j["dispatched"].as_u64().unwrap() > 0
    })
    .await;
    let (status, paused) =
        status_and_body(api.post(&format!("{path}/pause"), &json!({})).await).await;
    assert_eq!(status, 200, "{paused}");
    // The copy: refused while the server holds the directory, done once it
    // stopped, then refused again into the now non-empty database.
    let schema = Schema::new().await;
    let locked = migrate_store(&sqlite, &schema.url());
    assert!(!locked.status.success());
    assert!(
        String::from_utf8_lossy(&locked.stderr).contains("is in use"),
        "{}",
        String::from_utf8_lossy(&locked.stderr)
    );
    let key = api.key.clone();
    let data = server.stop().await;
    let out = migrate_store(&sqlite, &schema.url());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Copied"), "{stdout}");
    assert!(
        stdout.contains(&format!("dlq_entries              {EVENTS}")),
        "{stdout}"
    );
    let again = migrate_store(&sqlite, &schema.url());
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // A PostgreSQL node on the same data directory (the same master key).
    let url = schema.url();
    let server = TestServer::start_in(data, |c| c.database_url = url).await;
    assert!(!server.running.state.store.capabilities().single_node);
    let api = Api {
        server: &server,
        key,
    };
    let copied = api.get("/api/v1/dlq?limit=200").await;
    assert_eq!(copied["items"], dlq["items"], "the DLQ came along");
    let events = api.get("/api/v1/events?limit=200").await;
    assert_eq!(events["items"].as_array().unwrap().len(), EVENTS);
    let (status, resumed) =
        status_and_body(api.post(&format!("{path}/resume"), &json!({})).await).await;
    assert_eq!(status, 200, "{resumed}");
    let done: Value = until(&api, &path, Duration::from_secs(60), |j| {
        j["state"] == "completed"
    })
    .await;
    assert_eq!(done["dispatched"], EVENTS);

    let replayed: Vec<_> = ok
        .received()
        .into_iter()
        .filter(|r| r.header("herald-replay") == "moving house")
        .collect();
    let replayed_ids: BTreeSet<String> = replayed
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(
        replayed_ids, original_ids,
        "every event replayed under its original webhook-id"
    );
    let after_move: Vec<_> = replayed
        .iter()
        .filter(|r| signature_verifies(&secret, r))
        .collect();
    assert_eq!(
        after_move.len(),
        replayed.len(),
        "every replayed request is signed with the rotated secret"
    );
    assert!(
        !replayed.iter().any(|r| signature_verifies(&old_secret, r)),
        "and not with the one it replaced"
    );
    server.stop().await;
}
