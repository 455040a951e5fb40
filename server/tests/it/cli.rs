//! The `herald` binary itself: settings errors and the offline subcommands.

use std::process::Command;

use serde_json::Value;

use crate::harness::TestServer;

fn herald(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HERALD_DATA_DIR", data_dir)
        .env("HERALD_LOG", "warn");
    cmd
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_setting() {
    let data = tempfile::tempdir().unwrap();
    let out = herald(data.path())
        .args(["serve"])
        .env("HERALD_LISTEN", "localhost")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HERALD_LISTEN") && err.contains("HOST:PORT"),
        "{err}"
    );

    let out = herald(data.path())
        .args(["serve", "--admin-password", "short"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HERALD_ADMIN_PASSWORD"));
    // Nothing was created by a refused start.
    assert!(!data.path().join("herald.db").exists());
}

#[test]
fn migrate_creates_the_database() {
    let data = tempfile::tempdir().unwrap();
    let out = herald(data.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data.path().join("herald.db").exists());
}

#[tokio::test]
async fn an_older_herald_refuses_a_database_a_newer_one_migrated() {
    let data = tempfile::tempdir().unwrap();
    assert!(
        herald(data.path())
            .arg("migrate")
            .output()
            .unwrap()
            .status
            .success()
    );
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        data.path().join("herald.db").display()
    ))
    .await
    .unwrap();
    sqlx::query(
        "insert into _sqlx_migrations (version, description, installed_on, success, checksum, \
         execution_time) select 9999, 'from a newer herald', installed_on, 1, checksum, 1 \
         from _sqlx_migrations order by version desc limit 1",
    )
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    for command in ["migrate", "serve", "migrate --check"] {
        let out = herald(data.path())
            .args(command.split(' '))
            .env("HERALD_LISTEN", "127.0.0.1:0")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{command} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("upgraded by a newer Herald") && err.contains("9999"),
            "{command}: {err}"
        );
    }
}

#[test]
fn migrate_check_lists_what_starting_would_apply_and_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let out = herald(data.path())
        .args(["migrate", "--check"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("schema 0;") && text.contains("0001 "),
        "{text}"
    );
    assert!(
        !data.path().join("herald.db").exists(),
        "nothing is created"
    );
    assert!(
        herald(data.path())
            .arg("migrate")
            .output()
            .unwrap()
            .status
            .success()
    );
    let out = herald(data.path())
        .args(["migrate", "--check"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Up to date"), "{text}");
}

#[test]
fn user_create_refuses_an_unknown_role() {
    let data = tempfile::tempdir().unwrap();
    let out = herald(data.path())
        .args(["user", "create", "--email", "a@b.c", "--role", "root"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("admin, operator, support, developer, viewer"),
        "{err}"
    );
}

#[tokio::test]
async fn an_api_key_made_by_the_cli_works_against_the_server() {
    let data = tempfile::tempdir().unwrap();
    let out = herald(data.path())
        .args(["api-key", "create", "--name", "ci", "--scope", "read"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Key (shown only once): "))
        .expect("the key is printed")
        .to_owned();

    let dir = data.path().to_path_buf();
    let server = TestServer::start_with(|c| {
        c.data_dir = dir.clone();
        c.database_url = format!("sqlite://{}", dir.join("herald.db").display());
    })
    .await;
    let res = server
        .http
        .get(server.url("/api/v1/tenant"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["slug"], "default");

    let out = herald(data.path())
        .args(["api-key", "create", "--name", "x", "--tenant", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no tenant 'nope'"), "{err}");
}

/// Runs `herald` against a running server, as an operator's shell would.
pub(crate) async fn remote(
    server: &TestServer,
    key: &str,
    args: &[&str],
) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .env("HERALD_URL", &server.base)
        .env("HERALD_API_KEY", key)
        .env("HERALD_LOG", "warn")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_lists_replays_and_manages_checkpoints_and_the_dlq_of_a_running_server() {
    use crate::client::Api;
    use crate::receiver::Receiver;
    use serde_json::json;
    use std::time::Duration;

    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let events: Vec<Value> = (0..20)
        .map(|n| json!({"event_type": "order.created", "payload": {"n": n}}))
        .collect();
    let res = api
        .post("/api/v1/events/batch", &json!({ "events": events }))
        .await;
    assert_eq!(res.status(), 202);
    let receiver = Receiver::ok().await;
    api.endpoint(&receiver.url, &["*"], json!({})).await;
    let key = api.key.clone();

    let (ok, out, err) = remote(&server, &key, &["events", "list"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("ID"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("order.created")).count(),
        20
    );
    let (ok, out, _) = remote(&server, &key, &["events", "list", "--json", "--limit", "5"]).await;
    assert!(ok);
    let page: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert!(page["next_cursor"].is_string());

    let (ok, out, err) = remote(
        &server,
        &key,
        &["replay", "--dry-run", "--event-type", "order.created"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("20 events match."), "{out}");
    let (ok, _, err) = remote(&server, &key, &["replay", "--rate", "0"]).await;
    assert!(!ok);
    assert!(err.contains("rate_per_second"), "{err}");

    let (ok, out, err) = remote(
        &server,
        &key,
        &["replay", "--rate", "1000", "--reason", "from the shell"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("completed."), "{out}");
    assert!(err.contains("20/20 events"), "the progress shows: {err}");
    let got = receiver.wait_for(20, Duration::from_secs(10)).await;
    assert!(
        got.iter()
            .all(|r| r.header("herald-replay") == "from the shell")
    );

    // A slow job to work with: started detached, then listed, shown, paused,
    // resumed and cancelled from the shell.
    let (ok, out, err) = remote(
        &server,
        &key,
        &[
            "replay", "--rate", "1", "--detach", "--json", "--reason", "slow",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let slow: Value = serde_json::from_str(&out).unwrap();
    let slow_id = slow["id"].as_str().unwrap().to_owned();
    let (ok, out, err) = remote(&server, &key, &["replays", "list"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("ID"), "{out}");
    let listed: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(listed.len(), 2, "both jobs: {out}");
    assert!(
        listed[0].starts_with(&slow_id) && listed[1].contains("completed"),
        "newest first: {out}"
    );
    let (ok, out, err) = remote(&server, &key, &["replays", "show", &slow_id]).await;
    assert!(ok, "{err}");
    assert!(out.contains(&slow_id) && out.contains("/20"), "{out}");
    let state = |out: &str| -> String {
        serde_json::from_str::<Value>(out).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ok, out, err) = remote(&server, &key, &["replays", "pause", &slow_id, "--json"]).await;
    assert!(ok, "{err}");
    assert_eq!(state(&out), "paused");
    let (_, out, _) = remote(&server, &key, &["replays", "show", &slow_id, "--json"]).await;
    assert_eq!(state(&out), "paused", "the pause holds");
    let (ok, out, err) = remote(&server, &key, &["replays", "resume", &slow_id]).await;
    assert!(ok, "{err}");
    assert!(out.contains("resumed"), "{out}");
    let (ok, out, err) = remote(&server, &key, &["replays", "cancel", &slow_id, "--json"]).await;
    assert!(ok, "{err}");
    assert_eq!(state(&out), "cancelled");
    let (ok, _, err) = remote(&server, &key, &["replays", "resume", &slow_id]).await;
    assert!(!ok, "a cancelled job cannot resume");
    assert!(err.contains("409"), "{err}");

    let (ok, out, err) = remote(&server, &key, &["checkpoint", "create", "--name", "cp-1"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("Checkpoint 'cp-1'") && out.contains("sequence 20"),
        "{out}"
    );
    let (ok, out, _) = remote(&server, &key, &["checkpoint", "list"]).await;
    assert!(ok && out.contains("cp-1"), "{out}");

    let (ok, out, _) = remote(&server, &key, &["dlq", "list"]).await;
    assert!(ok);
    assert_eq!(out.lines().count(), 1, "only the header: {out}");
    let (ok, _, err) = remote(
        &server,
        &key,
        &[
            "dlq",
            "discard",
            "dlq_01J00000000000000000000000",
            "--reason",
            "x",
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("404"), "{err}");
    let (ok, _, err) = remote(&server, "hk_wrong", &["events", "list"]).await;
    assert!(!ok);
    assert!(err.contains("401"), "{err}");
}

#[tokio::test]
async fn the_cli_pauses_and_resumes_an_endpoint_and_names_its_blocked_streams() {
    use crate::client::{Api, fast_policy};
    use crate::receiver::{Receiver, Reply};
    use serde_json::json;
    use std::time::Duration;

    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let key = api.key.clone();
    let receiver = Receiver::ok().await;
    let (id, _) = api.endpoint(&receiver.url, &["*"], json!({})).await;

    let (ok, out, err) = remote(
        &server,
        &key,
        &["endpoints", "pause", &id, "--reason", "receiver moving"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("Paused"), "{out}");
    let (ok, out, _) = remote(&server, &key, &["endpoints", "list"]).await;
    assert!(ok);
    assert!(out.contains("receiver moving"), "{out}");
    api.publish("order.created", json!({"n": 1})).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(receiver.received().is_empty(), "paused: nothing is sent");
    let (ok, out, err) = remote(&server, &key, &["endpoints", "resume", &id]).await;
    assert!(ok, "{err}");
    assert!(out.contains("Resumed"), "{out}");
    receiver.wait_for(1, Duration::from_secs(10)).await;

    // An ordered endpoint whose first event dies blocks its stream.
    let failing = Receiver::start(Vec::new(), Reply::Status(500)).await;
    let (ordered, _) = api
        .endpoint(
            &failing.url,
            &["ordered.*"],
            json!({"ordering": "endpoint", "retry_policy": fast_policy(1)}),
        )
        .await;
    api.publish("ordered.one", json!({"n": 1})).await;
    api.publish("ordered.two", json!({"n": 2})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out, err) = remote(&server, &key, &["endpoints", "blocked", &ordered]).await;
        assert!(ok, "{err}");
        if out.contains("dlq_") {
            assert!(out.starts_with("STREAM"), "{out}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never blocked: {out}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, _, err) = remote(&server, &key, &["endpoints", "resume", "ep_nope"]).await;
    assert!(!ok);
    assert!(err.contains("404"), "{err}");
}

/// `herald health ARGS --url URL`, off the async runtime.
async fn health_cli(args: &[&str], url: String) -> std::process::Output {
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.extend(["--url".to_owned(), url]);
    tokio::task::spawn_blocking(move || {
        herald(std::path::Path::new("."))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn health_says_whether_a_server_serves_with_its_exit_code() {
    let server = TestServer::start().await;
    let base = server.base.clone();
    let out = health_cli(&["health"], base).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(": ready (HTTP 200"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("database") && l.contains(" up ")),
        "{text}"
    );
    let base = server.base.clone();
    let out = health_cli(&["health", "--json"], base).await;
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["checks"]["database"]["status"], "up");
    let stopped = server.base.clone();
    server.stop().await;

    // Nothing listening any more: exit code 1, and it says so.
    let out = health_cli(&["health"], stopped).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not answering"));
}
