//! Nodes killed mid-work (SIGKILL): their deliveries and replay jobs are
//! finished by the others.

use std::time::Duration;

use serde_json::json;

use super::{Cluster, publish_spread, seen};
use crate::receiver::{Receiver, Reply};

/// Three nodes share 10,000 events to five endpoints, each node serving at
/// least one. One is killed (SIGKILL) mid-delivery: still every event is
/// delivered, the duplicates are at most what the dead node held in flight,
/// and no webhook-id is ever on the wire from two nodes at once.
#[tokio::test]
async fn three_nodes_deliver_every_event_when_one_is_killed_mid_delivery() {
    const EVENTS: usize = 10_000;
    const ENDPOINTS: usize = 5;
    let mut cluster = Cluster::start(3, None).await;
    let mut receivers = Vec::new();
    for i in 0..ENDPOINTS {
        let receiver = Receiver::start(Vec::new(), Reply::Hang(Duration::from_millis(20))).await;
        // Served by nodes 0, 1, 2, 0, 1: each node has work of its own.
        cluster
            .endpoint_on(i % 3, &receiver.url, &[&format!("t{i}.created")])
            .await;
        receivers.push(receiver);
    }
    publish_spread(&cluster, &[0, 1, 2], EVENTS, ENDPOINTS).await;

    // Mid-delivery: node 1 dies with whatever it holds.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while receivers.iter().map(|r| r.received().len()).sum::<usize>() < EVENTS / 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "a quarter of the deliveries never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ... at a moment it holds deliveries.
    let dead = cluster.nodes[1].name();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while cluster.in_flight_of(&dead).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "node 1 never held a delivery"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.nodes[1].kill();
    let held = cluster.in_flight_of(&dead).await;

    // Done when every event has arrived and every delivery is recorded as
    // ended: a request the dead node sent before it died arrives, but its
    // delivery stays leased to the dead node until the lease runs out and a
    // survivor sends it again (one of the duplicates the bound allows).
    let db = cluster.database().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let unique: usize = receivers.iter().map(|r| seen(r).0).sum();
        let unfinished = Cluster::unfinished(&db).await;
        if unique == EVENTS && unfinished == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {unique} of {EVENTS} events delivered, {unfinished} deliveries not succeeded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    db.close().await;
    // Let any late request land before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (unique, total) = receivers
        .iter()
        .map(seen)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let duplicates = total - unique;
    eprintln!(
        "kill -9 mid-delivery: {EVENTS} events, {total} requests, {duplicates} duplicates, \
         the dead node held {held} in flight"
    );
    assert_eq!(unique, EVENTS);
    assert!(
        duplicates as i64 <= held,
        "{duplicates} duplicates, more than the {held} the dead node held"
    );
    for r in &receivers {
        assert!(
            r.overlapping().is_empty(),
            "a webhook-id was on the wire twice at once: {:?}",
            r.overlapping()
        );
    }
    // Both survivors did part of the work, and between them took back
    // every delivery the dead node held when its leases ran out.
    let mut taken_back = 0.0;
    for node in [0, 2] {
        let text = cluster
            .http
            .get(cluster.nodes[node].url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let sent: f64 = text
            .lines()
            .filter(|l| l.starts_with("herald_delivery_attempts_total{outcome=\"succeeded\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(sent > 0.0, "node {node} delivered nothing");
        taken_back += text
            .lines()
            .find_map(|l| {
                l.strip_prefix("herald_delivery_leases_taken_back_total{why=\"expired\"} ")
            })
            .and_then(|v| v.parse::<f64>().ok())
            .expect("the survivors count the leases they take back");
    }
    assert!(
        taken_back >= held as f64,
        "the survivors counted {taken_back} leases taken back, the dead node held {held}"
    );
}

/// A replay job of 5,000 events runs on one node; that node is killed. The
/// job finishes on another node from its saved cursor: each event is sent
/// once more, plus at most what the dead node had in flight.
#[tokio::test]
async fn a_replay_on_a_killed_node_is_finished_by_another() {
    const EVENTS: usize = 5_000;
    let mut cluster = Cluster::start(2, None).await;
    publish_spread(&cluster, &[0, 1], EVENTS, 1).await;
    let receiver = Receiver::start(Vec::new(), Reply::Hang(Duration::from_millis(5))).await;
    cluster.endpoint(&receiver.url, &["*"]).await;
    let (status, job) = cluster
        .post(
            0,
            "/api/v1/replays",
            &json!({"rate_per_second": 250, "reason": "takeover"}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let path = format!("/api/v1/replays/{}", job["id"].as_str().unwrap());

    // Which node drives it, from the job's lease.
    let db = cluster.database().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let owner: String = loop {
        let row: Option<(Option<String>, i64)> =
            sqlx::query_as("select lease_owner, dispatched from replay_jobs")
                .fetch_optional(&db)
                .await
                .unwrap();
        if let Some((Some(owner), dispatched)) = row
            && dispatched >= 1_000
        {
            break owner;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replay never got going"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (dead, alive) = if cluster.nodes[0].name() == owner {
        (0, 1)
    } else {
        (1, 0)
    };
    cluster.nodes[dead].kill();
    let held = cluster.in_flight_of(&owner).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let done = loop {
        let job = cluster.get(alive, &path).await;
        if job["state"] == "completed" {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replay was not finished: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["dispatched"], EVENTS);
    let finisher: Option<String> = sqlx::query_scalar("select lease_owner from replay_jobs")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(
        finisher.as_deref(),
        Some(cluster.nodes[alive].name().as_str()),
        "the surviving node took the job over"
    );
    db.close().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (unique, total) = seen(&receiver);
    eprintln!(
        "replay takeover: {EVENTS} events, {total} requests, {} duplicates, the dead node held {held} in flight",
        total - unique
    );
    assert_eq!(unique, EVENTS, "every event was replayed");
    assert!(
        (total - unique) as i64 <= held,
        "{} events sent twice, more than the {held} the dead node held",
        total - unique
    );
    assert!(receiver.overlapping().is_empty());
}

/// An endpoint ordered by key, served by node 1, with five keys of 40
/// events each published through all three nodes. Node 1 is killed
/// (SIGKILL) while it holds deliveries: the survivors take the streams over,
/// every event arrives, and none of a key arrives before the one before it
/// had been answered with success.
#[tokio::test]
async fn an_ordered_stream_keeps_its_order_when_the_node_serving_it_is_killed() {
    const KEYS: u64 = 5;
    const PER_KEY: u64 = 40;
    let mut cluster = Cluster::start(3, None).await;
    let receiver = Receiver::start(Vec::new(), Reply::Hang(Duration::from_millis(20))).await;
    cluster
        .endpoint_on_with(1, &receiver.url, &["*"], json!({"ordering": "key"}))
        .await;
    for n in 0..PER_KEY {
        let events: Vec<serde_json::Value> = (0..KEYS)
            .map(|k| {
                json!({"event_type": "order.updated", "ordering_key": format!("k{k}"),
                       "payload": {"key": format!("k{k}"), "n": n}})
            })
            .collect();
        let (status, body) = cluster
            .post(
                (n % 3) as usize,
                "/api/v1/events/batch",
                &json!({ "events": events }),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    let total = (KEYS * PER_KEY) as usize;
    let dead = cluster.nodes[1].name();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while receiver.received().len() < total / 4 || cluster.in_flight_of(&dead).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "node 1 never got a quarter through while holding a delivery"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.nodes[1].kill();

    let key_and_n = |r: &crate::receiver::Received| {
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        (
            v["key"].as_str().unwrap().to_owned(),
            v["n"].as_u64().unwrap(),
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let distinct: std::collections::BTreeSet<(String, u64)> =
            receiver.received().iter().map(key_and_n).collect();
        if distinct.len() == total {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {total} events arrived",
            distinct.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (got, answered) = (receiver.received(), receiver.answered_at());
    for (i, request) in got.iter().enumerate() {
        let (key, n) = key_and_n(request);
        if n == 0 {
            continue;
        }
        // The one before it was answered (200, after 20 ms) before it came.
        let before_done = got.iter().zip(&answered).take(i).any(|(earlier, at)| {
            key_and_n(earlier) == (key.clone(), n - 1) && at.is_some_and(|t| t <= request.at)
        });
        assert!(
            before_done,
            "{key}: event {n} arrived before event {} had been answered",
            n - 1
        );
    }
    eprintln!(
        "ordered streams through kill -9: {total} events in {} requests, every key in sequence",
        got.len()
    );
}
