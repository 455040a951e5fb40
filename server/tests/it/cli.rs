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
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tenant 'nope'"));
}
