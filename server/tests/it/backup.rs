//! `herald backup` of a SQLite Herald while events keep arriving, and
//! `herald restore` of that backup into an empty data directory: the
//! restored Herald serves every event acknowledged before the backup began,
//! and still signs with the endpoint secrets it had.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use herald_server::Config;
use serde_json::{Value, json};

use crate::client::{Api, publish_many, signature_verifies};
use crate::harness::TestServer;
use crate::receiver::Receiver;

/// Backups are of SQLite, whatever backend the rest of the suite runs on.
fn on_sqlite(config: &mut Config) {
    let data_dir = config.data_dir.clone();
    config.database_url = Config::for_data_dir(&data_dir).database_url;
}

fn herald(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HERALD_DATA_DIR", data_dir)
        .env("HERALD_LOG", "warn")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Ids of the events whose 202 arrived, in order, and whether any request
/// was refused.
#[derive(Default)]
struct Accepted {
    ids: Vec<String>,
    refused: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_ingest_restores_every_event_acknowledged_before_it_began() {
    let a = TestServer::start_with(on_sqlite).await;
    let api = Api::new(&a).await;
    let receiver = Receiver::ok().await;
    // Subscribed to what is published after the restore only.
    let (endpoint, secret) = api
        .endpoint(&receiver.url, &["order.shipped"], json!({}))
        .await;
    // Enough rows that the copy takes a while.
    let bulk = publish_many(&api, "order.created", 20_000).await;

    // A publisher that keeps going while the backup runs.
    let accepted = Arc::new(Mutex::new(Accepted::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (http, url, key) = (a.http.clone(), a.url("/api/v1/events"), api.key.clone());
        let (accepted, stop) = (accepted.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let res = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"event_type": "order.updated", "payload": {"n": n}}))
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                let body: Value = res.json().await.unwrap_or_default();
                let mut accepted = accepted.lock().unwrap();
                match body["id"].as_str() {
                    Some(id) if status == 202 => accepted.ids.push(id.to_owned()),
                    _ => accepted.refused.push(format!("{status} {body}")),
                }
            }
        })
    };
    while accepted.lock().unwrap().ids.len() < 50 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("herald-backup.db");
    let file_arg = file.to_str().unwrap().to_owned();
    let before: Vec<String> = accepted.lock().unwrap().ids.clone();
    let started = Instant::now();
    let data_a = a.data_dir().to_owned();
    let out = tokio::task::spawn_blocking(move || herald(&data_a, &["backup", "--to", &file_arg]))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    let during = accepted.lock().unwrap().ids.len() - before.len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    publisher.await.unwrap();
    let accepted = std::mem::take(&mut *accepted.lock().unwrap());
    assert!(
        accepted.refused.is_empty(),
        "publishing failed while the backup ran: {:?}",
        &accepted.refused[..accepted.refused.len().min(3)]
    );
    println!(
        "backup took {took:?}; {} events were accepted while it ran, {} in all after it began",
        during,
        accepted.ids.len() - before.len()
    );
    let report = text(&out);
    assert!(
        report.contains("Backed up") && report.contains("events"),
        "{report}"
    );
    assert!(
        report.contains("master key"),
        "the report names the master key the backup needs: {report}"
    );
    assert!(file.is_file() && !backups.path().join("herald-backup.db.partial").exists());

    // A backup never overwrites a file.
    let out = herald(a.data_dir(), &["backup", "--to", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("already exists"), "{}", text(&out));
    let master_key = std::fs::read(a.data_dir().join("master.key")).unwrap();
    let key = api.key.clone();
    drop(api);
    a.stop().await;

    // Restoring into a data directory whose master key is another one is
    // refused before anything is written.
    let other = tempfile::tempdir().unwrap();
    let other_key = herald_engine::vault::MasterKey::generate();
    std::fs::write(other.path().join("master.key"), other_key.to_base64()).unwrap();
    let out = herald(other.path(), &["restore", "--from", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("master key"), "{}", text(&out));
    assert!(!other.path().join("herald.db").exists());

    // Into an empty data directory with the old key: a Herald that serves
    // every event acknowledged before the backup began.
    let b = tempfile::tempdir().unwrap();
    std::fs::write(b.path().join("master.key"), &master_key).unwrap();
    let out = herald(b.path(), &["restore", "--from", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Restored"), "{}", text(&out));
    // Never over an existing database.
    let out = herald(b.path(), &["restore", "--from", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("already a database"), "{}", text(&out));

    let b = TestServer::start_in(b, on_sqlite).await;
    let restored = Api { server: &b, key };
    let missing: Vec<String> = futures_util::stream::iter(before.iter().cloned())
        .map(|id| {
            let (http, url, key) = (
                b.http.clone(),
                b.url(&format!("/api/v1/events/{id}")),
                restored.key.clone(),
            );
            async move {
                let status = http
                    .get(url)
                    .bearer_auth(key)
                    .send()
                    .await
                    .unwrap()
                    .status();
                (status != 200).then_some(id)
            }
        })
        .buffer_unordered(16)
        .filter_map(|missing| async move { missing })
        .collect()
        .await;
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events are missing after the restore, e.g. {:?}",
        missing.len(),
        before.len(),
        &missing[..missing.len().min(3)]
    );
    // And every one of the events published before, page by page.
    let mut served = std::collections::HashSet::new();
    let mut path = "/api/v1/events?limit=200".to_owned();
    loop {
        let page = restored.get(&path).await;
        for item in page["items"].as_array().unwrap() {
            served.insert(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/events?limit=200&cursor={cursor}"),
            None => break,
        }
    }
    let lost = bulk
        .iter()
        .chain(&before)
        .filter(|id| !served.contains(*id))
        .count();
    assert_eq!(
        lost, 0,
        "events acknowledged before the backup are missing after the restore"
    );

    // The endpoint and its sealed secret came back: a new event is signed
    // with the secret it was created with.
    assert!(receiver.received().is_empty());
    restored
        .publish("order.shipped", json!({"after": "restore"}))
        .await;
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    let shipped = &got[0];
    assert!(String::from_utf8_lossy(&shipped.body).contains("after"));
    assert!(
        signature_verifies(&secret, shipped),
        "signed with {endpoint}'s old secret"
    );
    b.stop().await;
}

#[test]
fn backup_names_what_it_cannot_do() {
    let data = tempfile::tempdir().unwrap();
    // PostgreSQL is backed up with its own tools.
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .env_clear()
        .env("HERALD_DATA_DIR", data.path())
        .env(
            "HERALD_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/herald_test",
        )
        .args(["backup", "--to", "x.db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("pg_dump"), "{}", text(&out));
    // No database yet.
    let out = herald(data.path(), &["backup", "--to", "/tmp/never-written.db"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no SQLite database"), "{}", text(&out));
    // A file that is not a Herald backup.
    let junk = data.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all").unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = herald(empty.path(), &["restore", "--from", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(!empty.path().join("herald.db").exists());
}
