//! `/metrics` parses as Prometheus text and counts exactly what happened.

use std::collections::HashMap;
use std::time::Duration;

use prometheus_parse::{Scrape, Value as Sample};
use serde_json::json;

use crate::client::{Api, fast_policy, until};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

async fn scrape(server: &TestServer) -> Scrape {
    let res = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}: {}",
        res.text().await.unwrap()
    );
    let text = res.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format")
}

/// The value of `name` whose labels include every pair in `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => *v,
            Sample::Histogram(_) | Sample::Summary(_) => f64::NAN,
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0]
}

fn histogram_count(scrape: &Scrape, name: &str) -> f64 {
    scrape
        .samples
        .iter()
        .find_map(|s| match (&s.value, s.metric == name) {
            (Sample::Histogram(buckets), true) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map(|b| b.count),
            _ => None,
        })
        .expect("the latency histogram")
}

#[tokio::test]
async fn metrics_parse_and_count_exactly_the_deliveries_made() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let ok = Receiver::ok().await;
    let failing = Receiver::start(Vec::new(), Reply::Status(500)).await;
    api.endpoint(&ok.url, &["ok.*"], json!({})).await;
    api.endpoint(
        &failing.url,
        &["bad.*"],
        json!({"retry_policy": fast_policy(1)}),
    )
    .await;

    let before = scrape(&server).await;
    assert_eq!(value(&before, "herald_events_ingested_total", &[]), 0.0);
    assert_eq!(
        value(&before, "herald_endpoints", &[("state", "enabled")]),
        2.0
    );
    let help: HashMap<&str, &str> = before
        .docs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(help.contains_key("herald_delivery_attempts_total"));

    for i in 0..5 {
        api.publish("ok.created", json!({"i": i})).await;
    }
    for i in 0..3 {
        api.publish("bad.created", json!({"i": i})).await;
    }
    ok.wait_for(5, Duration::from_secs(10)).await;
    until(&api, "/api/v1/dlq", Duration::from_secs(20), |v| {
        v["items"].as_array().unwrap().len() == 3
    })
    .await;

    let after = scrape(&server).await;
    assert_eq!(value(&after, "herald_events_ingested_total", &[]), 8.0);
    let succeeded = [("outcome", "succeeded"), ("error_class", "none")];
    let failed = [("outcome", "failed"), ("error_class", "http_status")];
    assert_eq!(
        value(&after, "herald_delivery_attempts_total", &succeeded),
        5.0
    );
    assert_eq!(
        value(&after, "herald_delivery_attempts_total", &failed),
        3.0
    );
    assert_eq!(
        histogram_count(&after, "herald_delivery_attempt_duration_seconds"),
        8.0
    );
    assert_eq!(value(&after, "herald_dlq_entries_added_total", &[]), 3.0);
    assert_eq!(value(&after, "herald_dlq_depth", &[]), 3.0);
    assert_eq!(value(&after, "herald_deliveries", &[("state", "due")]), 0.0);
    assert_eq!(
        value(&after, "herald_deliveries", &[("state", "in_flight")]),
        0.0
    );

    // The counters grow by exactly the deliveries made next.
    for i in 0..4 {
        api.publish("ok.updated", json!({"i": i})).await;
    }
    ok.wait_for(9, Duration::from_secs(10)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let later = loop {
        let s = scrape(&server).await;
        if value(&s, "herald_delivery_attempts_total", &succeeded) >= 9.0
            || std::time::Instant::now() > deadline
        {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        value(&later, "herald_delivery_attempts_total", &succeeded),
        9.0
    );
    assert_eq!(
        value(&later, "herald_delivery_attempts_total", &failed),
        3.0
    );
    assert_eq!(value(&later, "herald_events_ingested_total", &[]), 12.0);

    // The statistics API saw the same attempts, by endpoint and event type.
    let stats = api.get("/api/v1/stats?group_by=event_type").await;
    assert_eq!(
        stats["granularity"], "hour",
        "24 hours by default, in hours"
    );
    assert_eq!(stats["total"]["attempts"], 12);
    assert_eq!(stats["total"]["succeeded"], 9);
    assert_eq!(stats["total"]["failed"], 3);
    assert_eq!(stats["total"]["dlq_added"], 3);
    assert_eq!(stats["total"]["errors"]["http_status"], 3);
    let per_type: HashMap<String, u64> = stats["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["event_type"].as_str().unwrap().to_owned(),
                s["total"]["attempts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per_type,
        HashMap::from([
            ("ok.created".to_owned(), 5),
            ("ok.updated".to_owned(), 4),
            ("bad.created".to_owned(), 3)
        ])
    );
    let res = api
        .send(reqwest::Method::GET, "/api/v1/stats?granularity=week", None)
        .await;
    assert_eq!(res.status(), 400);
}

/// The DLQ's depth over time, from `/api/v1/stats`: every bucket's depth is
/// the previous one plus what entered minus what left, and the last one is
/// what the DLQ holds now, through reprocessing, discarding and replaying.
#[tokio::test]
async fn dlq_depth_follows_entries_in_and_out() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let bad = Receiver::start(Vec::new(), Reply::Status(500)).await;
    api.endpoint(
        &bad.url,
        &["bad.*"],
        json!({"retry_policy": fast_policy(1)}),
    )
    .await;
    let mut events = Vec::new();
    for i in 0..4 {
        events.push(api.publish("bad.created", json!({"i": i})).await);
    }
    let dlq = until(&api, "/api/v1/dlq", Duration::from_secs(10), |b| {
        b["items"].as_array().unwrap().len() == 4
    })
    .await;
    let entries: Vec<String> = dlq["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();

    // Out: one discarded; one reprocessed and one replayed, both of which
    // fail again and come back in. Three entries at the end.
    let res = api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/dlq/{}", entries[0]),
            Some(&json!({"reason": "test"})),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = api
        .post(&format!("/api/v1/dlq/{}/reprocess", entries[1]), &json!({}))
        .await;
    assert_eq!(res.status(), 202);
    let replayed = dlq["items"][2]["event_id"].as_str().unwrap().to_owned();
    let res = api
        .post(&format!("/api/v1/events/{replayed}/replay"), &json!({}))
        .await;
    assert_eq!(res.status(), 202);
    bad.wait_for(6, Duration::from_secs(10)).await;
    until(&api, "/api/v1/dlq", Duration::from_secs(10), |b| {
        b["items"].as_array().unwrap().len() == 3
    })
    .await;

    // In without an attempt: a delivery whose endpoint is deleted while it
    // waits for its retry ends dead when next claimed, and is counted too.
    let flaky = Receiver::start(Vec::new(), Reply::Status(500)).await;
    let (gone, _) = api
        .endpoint(
            &flaky.url,
            &["gone.*"],
            json!({"retry_policy": {"backoff": {"kind": "schedule", "delays_secs": [2]}, "max_attempts": 5, "jitter": 0.0}}),
        )
        .await;
    api.publish("gone.created", json!({})).await;
    flaky.wait_for(1, Duration::from_secs(10)).await;
    let res = api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/endpoints/{gone}"),
            None,
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let dlq = until(&api, "/api/v1/dlq", Duration::from_secs(10), |b| {
        b["items"].as_array().unwrap().len() == 4
    })
    .await;
    assert!(
        dlq["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("deleted"),
        "{dlq:#}"
    );
    assert_eq!(
        flaky.received().len(),
        1,
        "the deleted endpoint got no retry"
    );

    let from = (chrono::Utc::now() - chrono::Duration::minutes(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let stats = until(
        &api,
        &format!("/api/v1/stats?granularity=minute&from={from}"),
        Duration::from_secs(10),
        |s| s["total"]["dlq_added"] == 7 && s["total"]["dlq_removed"] == 3,
    )
    .await;
    let depth: Vec<u64> = stats["dlq_depth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["depth"].as_u64().unwrap())
        .collect();
    assert_eq!(depth.len(), 31, "one depth per minute bucket: {depth:?}");
    assert_eq!(*depth.last().unwrap(), 4, "{depth:?}");
    assert_eq!(depth[0], 0, "empty before the events: {depth:?}");
    // Each bucket's depth is the one before plus its additions minus its removals.
    let points = stats["series"][0]["points"].as_array().unwrap();
    let first = chrono::DateTime::parse_from_rfc3339(stats["from"].as_str().unwrap()).unwrap();
    let start_of = |i: usize| first + chrono::Duration::minutes(i as i64);
    for i in 1..depth.len() {
        let bucket = points.iter().find(|p| {
            chrono::DateTime::parse_from_rfc3339(p["start"].as_str().unwrap()).unwrap()
                == start_of(i)
        });
        let (added, removed) = bucket.map_or((0, 0), |p| {
            (
                p["dlq_added"].as_i64().unwrap(),
                p["dlq_removed"].as_i64().unwrap(),
            )
        });
        assert_eq!(
            depth[i] as i64,
            depth[i - 1] as i64 + added - removed,
            "bucket {i}: {depth:?}"
        );
    }
    // The counter saw every addition, the one without an attempt included.
    let scraped = scrape(&server).await;
    assert_eq!(value(&scraped, "herald_dlq_entries_added_total", &[]), 7.0);
}

/// A running node writes its heartbeat: `/metrics` names it with the leases
/// it holds, and the dashboard's node list shows it alive.
#[tokio::test]
async fn a_node_reports_itself_and_its_leases_in_metrics_and_on_the_dashboard() {
    let server = TestServer::start().await;
    let node = server.running.state.store.node().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let scraped = loop {
        let scraped = scrape(&server).await;
        let alive = scraped
            .samples
            .iter()
            .any(|s| s.metric == "herald_node_alive" && s.labels.get("node") == Some(&node));
        if alive {
            break scraped;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no heartbeat from {node} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        value(&scraped, "herald_node_alive", &[("node", &node)]),
        1.0
    );
    assert_eq!(value(&scraped, "herald_node_info", &[("node", &node)]), 1.0);
    assert_eq!(
        value(
            &scraped,
            "herald_node_leases",
            &[("node", &node), ("kind", "delivery")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &scraped,
            "herald_node_leases",
            &[("node", &node), ("kind", "replay")]
        ),
        0.0
    );

    let cookie = server
        .sign_in(crate::harness::ADMIN_EMAIL, crate::harness::ADMIN_PASSWORD)
        .await
        .unwrap();
    let res = server.console_call(&cookie, "cluster_nodes", &[]).await;
    assert_eq!(res.status(), 200);
    let nodes: serde_json::Value = res.json().await.unwrap();
    let nodes = nodes.as_array().expect("a list of nodes");
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0]["name"], json!(node));
    assert_eq!(nodes[0]["alive"], json!(true));
    let page = server
        .console_page(&cookie, "/")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&node), "the dashboard names the node");
}
