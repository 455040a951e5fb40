//! Crash safety: `herald serve` is killed with SIGKILL while delivering, then
//! restarted on the same data; every accepted event must still arrive.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::receiver::{Receiver, Reply};

const EVENTS: usize = 1_000;

async fn serve(data: &std::path::Path) -> (Child, String) {
    serve_with(data, &[]).await
}

/// `herald serve` on `data` with extra environment settings.
async fn serve_with(data: &std::path::Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("serve")
        .envs(env.iter().copied())
        .env("HERALD_DATA_DIR", data)
        .env("HERALD_LISTEN", "127.0.0.1:0")
        .env("HERALD_ADMIN_PASSWORD", "crash-test-password")
        .env("HERALD_LOG", "warn")
        .env("HERALD_OUTBOUND_ALLOW_CIDRS", "127.0.0.0/8")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("herald starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("Herald console: ") {
                return url.to_owned();
            }
        }
        panic!("herald exited before listening");
    })
    .await
    .expect("herald listens within 30 s");
    // Keep reading stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// An API key for the server on `data`, made with the CLI.
fn api_key(data: &std::path::Path) -> String {
    let key_out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["api-key", "create", "--name", "crash-test"])
        .env("HERALD_DATA_DIR", data)
        .env("HERALD_LOG", "warn")
        .output()
        .unwrap();
    String::from_utf8_lossy(&key_out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Key (shown only once): ").map(str::to_owned))
        .expect("key printed")
}

/// How many requests arrived per webhook-id.
fn per_webhook_id(receiver: &Receiver) -> HashMap<String, usize> {
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in receiver.received() {
        *per_id.entry(r.header("webhook-id").to_owned()).or_default() += 1;
    }
    per_id
}

#[tokio::test]
async fn sigkill_during_delivery_loses_no_accepted_event() {
    let data = tempfile::tempdir().unwrap();
    let key = api_key(data.path());

    // A receiver slow enough that the kill lands mid-stream.
    let receiver = Receiver::start(Vec::new(), Reply::Hang(Duration::from_millis(5))).await;
    let (mut first, url) = serve(data.path()).await;
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{url}/api/v1/endpoints"))
        .bearer_auth(&key)
        .json(&json!({"url": receiver.url, "event_types": ["*"],
                      "retry_policy": {"backoff": {"kind": "schedule", "delays_secs": [1]}, "max_attempts": 10}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let batch: Vec<Value> = (0..EVENTS)
        .map(|n| json!({"event_type": "order.created", "payload": {"n": n}}))
        .collect();
    let res = http
        .post(format!("{url}/api/v1/events/batch"))
        .bearer_auth(&key)
        .json(&json!({"events": batch}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "accepted means committed");

    receiver.wait_for(EVENTS / 5, Duration::from_secs(60)).await;
    first.kill().await.expect("SIGKILL");
    let at_kill = receiver.received().len();
    assert!(
        at_kill < EVENTS,
        "the kill must land before everything was delivered ({at_kill})"
    );

    let (_second, second_url) = serve(data.path()).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let per_id = loop {
        let per_id = per_webhook_id(&receiver);
        if per_id.len() == EVENTS {
            break per_id;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {EVENTS} events arrived after the restart",
            per_id.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Let any straggling duplicate arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let total = receiver.received().len();
    let duplicates = total - EVENTS;
    println!(
        "crash safety: {EVENTS} events accepted, SIGKILL after {at_kill} requests, all {EVENTS} delivered after restart, \
         {duplicates} duplicate(s) (deliveries in flight at the kill)"
    );
    // Only deliveries sent before the kill whose receipts were not yet
    // committed can arrive twice: the dispatcher holds at most CLAIM_AHEAD
    // times the endpoint's concurrency (8) of them (the README's bound).
    assert!(
        duplicates <= herald_engine::dispatch::CLAIM_AHEAD * 8,
        "{duplicates} duplicates is more than were in flight"
    );
    assert!(
        per_id.values().all(|n| *n <= 2),
        "no delivery arrives more than twice"
    );
    // What the dead run left in flight was taken back at start, and counted.
    let metrics = reqwest::get(format!("{second_url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let taken_back: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("herald_delivery_leases_taken_back_total{why=\"restart\"} "))
        .expect("the counter is exposed")
        .parse()
        .unwrap();
    assert!(taken_back >= 1, "{metrics}");
}

#[tokio::test]
async fn sigkill_during_a_replay_job_resumes_it_after_restart() {
    const REPLAYED: usize = 2_000;
    let data = tempfile::tempdir().unwrap();
    let key = api_key(data.path());
    let (mut first, url) = serve(data.path()).await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{url}{path}"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    // The events come first; the endpoint after, so only the replay delivers.
    for start in (0..REPLAYED).step_by(1_000) {
        let batch: Vec<Value> = (start..start + 1_000)
            .map(|n| json!({"event_type": "order.created", "payload": {"n": n}}))
            .collect();
        let res = post("/api/v1/events/batch", json!({ "events": batch }))
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
    }
    let receiver = Receiver::start(Vec::new(), Reply::Hang(Duration::from_millis(2))).await;
    let res = post(
        "/api/v1/endpoints",
        json!({"url": receiver.url, "event_types": ["*"]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let res = post(
        "/api/v1/replays",
        json!({"rate_per_second": 400, "reason": "crash drill"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let job: Value = res.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();

    receiver
        .wait_for(REPLAYED / 4, Duration::from_secs(60))
        .await;
    first.kill().await.expect("SIGKILL");
    let at_kill = receiver.received().len();
    assert!(
        at_kill < REPLAYED,
        "the kill must land mid-replay ({at_kill})"
    );

    let (_second, url) = serve(data.path()).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let state = loop {
        let job: Value = http
            .get(format!("{url}/api/v1/replays/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["state"] == "completed" {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "the replay never completed: {job:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_id = per_webhook_id(&receiver);
    assert_eq!(per_id.len(), REPLAYED, "every event replayed");
    assert_eq!(state["dispatched"], REPLAYED as u64);
    let duplicates = receiver.received().len() - REPLAYED;
    println!(
        "replay crash safety: {REPLAYED} events replayed at 400/s, SIGKILL after {at_kill} requests, \
         resumed and completed after restart, {duplicates} duplicate(s) (deliveries in flight at the kill)"
    );
    assert!(
        duplicates <= herald_engine::dispatch::CLAIM_AHEAD * 8,
        "{duplicates} duplicates is more than were in flight"
    );
}

/// Sends SIGTERM (a graceful stop) and waits for the process to end.
async fn terminate(child: &mut Child) {
    let pid = child.id().expect("still running").to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success(), "kill -TERM {pid}");
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("herald stops within 30 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "a graceful stop exits 0: {exit}");
}

/// An at-most-once endpoint on a receiver that never answers in time, and
/// three events whose requests are on the wire; then `stop` ends the server
/// and a second one starts on the same data. Nothing may be sent again, and
/// each delivery must be in the DLQ as `outcome_unknown`.
async fn at_most_once_survives(stop: &str) {
    let data = tempfile::tempdir().unwrap();
    let key = api_key(data.path());
    let receiver = Receiver::start(Vec::new(), Reply::Hang(Duration::from_secs(120))).await;
    let grace = [("HERALD_SHUTDOWN_GRACE_SECS", "1")];
    let (mut first, url) = serve_with(data.path(), &grace).await;
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{url}/api/v1/endpoints"))
        .bearer_auth(&key)
        .json(
            &json!({"url": receiver.url, "event_types": ["*"], "semantics": "at_most_once",
                      "timeout_ms": 60_000}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    for n in 0..3 {
        let res = http
            .post(format!("{url}/api/v1/events"))
            .bearer_auth(&key)
            .json(&json!({"event_type": "order.created", "payload": {"n": n}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
    }
    receiver.wait_for(3, Duration::from_secs(30)).await;
    match stop {
        "SIGTERM" => terminate(&mut first).await,
        _ => first.kill().await.expect("SIGKILL"),
    }

    let (_second, url) = serve_with(data.path(), &grace).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let dlq = loop {
        let dlq: Value = http
            .get(format!("{url}/api/v1/dlq"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if dlq["items"].as_array().is_some_and(|i| i.len() == 3) {
            break dlq;
        }
        assert!(
            Instant::now() < deadline,
            "after {stop}, the three deliveries never reached the DLQ: {dlq:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for entry in dlq["items"].as_array().unwrap() {
        assert_eq!(entry["error_class"], "outcome_unknown", "{entry:#}");
    }
    // Well past the restart and a sweep or two: still exactly one request each.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let per_id = per_webhook_id(&receiver);
    assert_eq!(per_id.len(), 3);
    assert!(
        per_id.values().all(|n| *n == 1),
        "at-most-once deliveries were sent again after {stop}: {per_id:?}"
    );
}

#[tokio::test]
async fn at_most_once_is_not_resent_after_sigterm_with_a_hanging_receiver() {
    at_most_once_survives("SIGTERM").await;
}

#[tokio::test]
async fn at_most_once_is_not_resent_after_sigkill() {
    at_most_once_survives("SIGKILL").await;
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_is_refused_until_the_first_dies() {
    let data = tempfile::tempdir().unwrap();
    let (mut first, _) = serve(data.path()).await;
    let pid = first.id().unwrap();
    let herald = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .env("HERALD_DATA_DIR", data.path())
            .env("HERALD_LISTEN", "127.0.0.1:0")
            .env("HERALD_LOG", "warn")
            .output()
            .unwrap()
    };
    for args in [&["serve"][..], &["migrate"][..], &["rotate-master-key"][..]] {
        let out = herald(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "herald {args:?}: {err}");
        assert!(
            err.contains(&data.path().display().to_string()) && err.contains(&format!("pid {pid}")),
            "herald {args:?} names the directory and the holder: {err}"
        );
    }
    // A SIGKILL leaves no stale lock: the kernel releases it with the process.
    first.kill().await.unwrap();
    let out = herald(&["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
