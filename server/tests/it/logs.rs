//! JSON logs: every line a JSON object carrying a correlation id, and the lines
//! about an event's delivery carry the correlation id it was published with.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::receiver::Receiver;

/// The correlation id a JSON log line carries: its own field, or its span's.
fn correlation_of(line: &Value) -> Option<String> {
    line.get("correlation_id")
        .or_else(|| line.get("span").and_then(|s| s.get("correlation_id")))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[tokio::test]
async fn json_logs_carry_a_correlation_id_on_every_line() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("serve")
        .env("HERALD_DATA_DIR", data.path())
        .env("HERALD_LISTEN", "127.0.0.1:0")
        .env("HERALD_ADMIN_PASSWORD", "logs-test-password")
        .env("HERALD_LOG_FORMAT", "json")
        .env("HERALD_LOG", "info,herald_engine=debug")
        .env("HERALD_OUTBOUND_ALLOW_CIDRS", "127.0.0.0/8")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let base = loop {
        let line = lines_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("herald printed its address");
        if let Some(url) = line.strip_prefix("Herald console: ") {
            break url.trim().to_owned();
        }
        lines.push(line);
    };

    let key_out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["api-key", "create", "--name", "logs"])
        .env("HERALD_DATA_DIR", data.path())
        .env("HERALD_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&key_out.stdout);
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Key (shown only once): "))
        .expect("a key")
        .to_owned();
    let receiver = Receiver::ok().await;
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{base}/api/v1/endpoints"))
        .bearer_auth(&key)
        .json(&json!({"url": receiver.url, "event_types": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let create_id = res.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let res = http
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(&key)
        .header("x-correlation-id", "checkout-4711")
        .json(&json!({"event_type": "order.created", "payload": {}, "correlation_id": "checkout-4711"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].header("x-correlation-id"), "checkout-4711");

    // Let the attempt's log lines out, then stop the server.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    while let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(500)) {
        lines.push(line);
    }

    let logs: Vec<Value> = lines
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(logs.len() >= 5, "{lines:#?}");
    for line in &logs {
        let id = correlation_of(line);
        assert!(
            id.as_deref().is_some_and(|i| !i.is_empty() && i != "none"),
            "a line without a correlation id: {line}"
        );
    }
    // A request's lines carry its correlation id (here: the audit line of the
    // endpoint it created) ...
    assert!(
        logs.iter()
            .any(|l| correlation_of(l).as_deref() == Some(create_id.as_str())
                && l["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("audit:")),
        "{logs:#?}"
    );
    // ... and the lines about a delivery carry its event's correlation id.
    let of_event: Vec<&Value> = logs
        .iter()
        .filter(|l| correlation_of(l).as_deref() == Some("checkout-4711"))
        .collect();
    assert!(
        of_event.iter().any(|l| l["message"] == "attempt finished"),
        "{of_event:#?}"
    );
}
