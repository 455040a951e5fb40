//! Secrets at rest, rate limits, sign-in lockout, the audit log and console
//! hardening (headers, CSRF, sessions).

use std::time::Duration;

use herald_engine::model::{Role, Scope};
use serde_json::{Value, json};

use crate::client::{Api, fast_policy, signature_verifies, status_and_body, until};
use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};
use crate::receiver::{Receiver, Reply};

/// Every file SQLite keeps for the database, as bytes.
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["herald.db", "herald.db-wal", "herald.db-shm"] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_survive_a_master_key_rotation() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    // A secret and a header value chosen here, so the test knows what to look for.
    let secret = "whsec_c2VjcmV0LWtleS1mb3ItaGVyYWxkLXRlc3RzLTAwMQ==";
    let header_value = "Bearer header-credential-7f3a9c";
    let (endpoint, _) = api
        .endpoint(
            &receiver.url,
            &["*"],
            json!({"secret": secret, "headers": {"authorization": header_value}}),
        )
        .await;
    api.publish("sealed.check", json!({})).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(signature_verifies(secret, &got[0]));
    assert_eq!(got[0].header("authorization"), header_value);

    let data = server.stop().await;
    let key_before = std::fs::read_to_string(data.path().join("master.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is for its owner only");
    }
    let raw = database_bytes(data.path());
    assert!(!raw.is_empty());
    let secret_body = secret.trim_start_matches("whsec_");
    assert!(
        !contains(&raw, secret_body),
        "the signing secret is in clear"
    );
    assert!(
        !contains(&raw, "header-credential-7f3a9c"),
        "the header value is in clear"
    );
    assert!(contains(&raw, "hv1:"), "sealed values are stored");

    // Rotate the master key offline, then start again: deliveries still sign
    // with the same endpoint secret.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("rotate-master-key")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HERALD_DATA_DIR", data.path())
        .env("HERALD_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Re-encrypted 2 values"), "{stdout}");
    let key_after = std::fs::read_to_string(data.path().join("master.key")).unwrap();
    assert_ne!(key_before, key_after);
    assert!(!data.path().join("master.key.next").exists());

    let server = TestServer::start_in(data, |_| {}).await;
    let api = Api::new(&server).await;
    api.publish("sealed.check", json!({})).await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(
        signature_verifies(secret, &got[1]),
        "same secret after rotation"
    );
    assert_eq!(got[1].header("authorization"), header_value);
    let shown = api.get(&format!("/api/v1/endpoints/{endpoint}")).await;
    assert!(!shown.to_string().contains("header-credential"), "{shown}");
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after() {
    let server = TestServer::start_with(|c| c.api_rate_limit = 2).await;
    let key = server.api_key(Scope::Read).await;
    let mut limited = None;
    // A burst of 4 (twice the rate) passes; the limit shows within a few more.
    for i in 0..20 {
        let res = server
            .http
            .get(server.url("/api/v1/tenant"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            limited = Some((i, res));
            break;
        }
        assert_eq!(res.status(), 200);
    }
    let (i, res) = limited.expect("the limit was never reached");
    assert!(i >= 4, "the burst passes first ({i})");
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let (_, body) = status_and_body(res).await;
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another key has its own allowance.
    let other = server.api_key(Scope::Read).await;
    let res = server
        .http
        .get(server.url("/api/v1/tenant"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// A sign-in attempt that a reverse proxy forwarded for `client`.
async fn login_via_proxy(server: &TestServer, client: &str) -> u16 {
    server
        .http
        .post(server.url("/fn/login"))
        .header("x-forwarded-for", client)
        .form(&[
            ("email", "nobody@herald.test"),
            ("password", "wrong-password"),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_sign_in_limit_and_nobody_else_picks_one() {
    // The test client connects from 127.0.0.1: here, the trusted proxy.
    let server = TestServer::start_with(|c| {
        c.login_rate_limit = 3;
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    for _ in 0..3 {
        assert_eq!(login_via_proxy(&server, "203.0.113.1").await, 401);
    }
    assert_eq!(login_via_proxy(&server, "203.0.113.1").await, 429);
    // Another client behind the same proxy is not locked out with it, even
    // when it writes the first one's address in front.
    assert_eq!(login_via_proxy(&server, "203.0.113.2").await, 401);
    assert_eq!(
        login_via_proxy(&server, "203.0.113.1, 203.0.113.2").await,
        401
    );

    // Without trusted proxies the header is the client's own word: ignored.
    let server = TestServer::start_with(|c| c.login_rate_limit = 3).await;
    for n in 0..3 {
        assert_eq!(
            login_via_proxy(&server, &format!("198.51.100.{n}")).await,
            401
        );
    }
    assert_eq!(
        login_via_proxy(&server, "198.51.100.77").await,
        429,
        "a made-up X-Forwarded-For does not buy a fresh allowance"
    );
}

async fn login_status(server: &TestServer, email: &str, password: &str) -> reqwest::Response {
    server
        .http
        .post(server.url("/fn/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_ins_are_limited_per_address_and_accounts_lock_after_failures() {
    let server = TestServer::start_with(|c| c.login_rate_limit = 3).await;
    for _ in 0..3 {
        let res = login_status(&server, "nobody@herald.test", "wrong-password").await;
        assert_eq!(res.status(), 401);
    }
    let res = login_status(&server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), 429, "the address is over its limit");
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );

    let server = TestServer::start_with(|c| c.login_rate_limit = 0).await;
    server
        .create_user("ops@herald.test", "ops-password-1", Role::Operator)
        .await;
    for _ in 0..5 {
        let res = login_status(&server, "ops@herald.test", "not-the-password").await;
        assert_eq!(res.status(), 401);
    }
    // Locked: even the right password is refused for now.
    let res = login_status(&server, "ops@herald.test", "ops-password-1").await;
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&wait), "about 15 minutes: {wait}");
    // Other accounts are not affected.
    assert!(server.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.is_ok());
}

/// The audit entries for `action`, as the tenant's key sees them.
async fn audit_rows(api: &Api<'_>, action: &str) -> Vec<Value> {
    api.get(&format!("/api/v1/audit?action={action}")).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn each_change_leaves_exactly_one_audit_row_naming_its_actor() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let key_id = api.get("/api/v1/api-keys").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let receiver = Receiver::start(Vec::new(), Reply::Status(500)).await;

    let (endpoint, _) = api
        .endpoint(
            &receiver.url,
            &["*"],
            json!({"retry_policy": fast_policy(1)}),
        )
        .await;
    let res = api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/endpoints/{endpoint}"),
            Some(&json!({"description": "billing", "headers": {"x-token": "hidden-value"}})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = api
        .post(
            &format!("/api/v1/endpoints/{endpoint}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    api.publish("audit.check", json!({})).await;
    let dlq = until(&api, "/api/v1/dlq", Duration::from_secs(20), |v| {
        v["items"].as_array().unwrap().len() == 1
    })
    .await;
    let entry = dlq["items"][0]["id"].as_str().unwrap().to_owned();
    let res = api
        .post(
            &format!("/api/v1/dlq/{entry}/reprocess"),
            &json!({"reason": "receiver fixed"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let (status, _) = status_and_body(
        api.post("/api/v1/replays", &json!({"rate_per_second": 100}))
            .await,
    )
    .await;
    assert_eq!(status, 201);
    let res = api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/endpoints/{endpoint}"),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);

    let actor = format!("api key {key_id}");
    for (action, target) in [
        ("endpoint.create", endpoint.as_str()),
        ("endpoint.update", endpoint.as_str()),
        ("endpoint.rotate_secret", endpoint.as_str()),
        ("endpoint.delete", endpoint.as_str()),
        ("dlq.reprocess", entry.as_str()),
        ("replay.start", ""),
    ] {
        let rows = audit_rows(&api, action).await;
        assert_eq!(rows.len(), 1, "{action}: {rows:#?}");
        let row = &rows[0];
        assert_eq!(row["actor"], actor.as_str(), "{row}");
        assert_eq!(row["role"], "key:all");
        assert!(!row["correlation_id"].as_str().unwrap().is_empty());
        if !target.is_empty() {
            assert_eq!(row["target"], target, "{row}");
        }
    }
    let update = &audit_rows(&api, "endpoint.update").await[0];
    assert!(update["summary"].as_str().unwrap().contains("headers"));
    let everything = api.get("/api/v1/audit?limit=200").await.to_string();
    assert!(!everything.contains("hidden-value"), "no secret in the log");
    let dlq_row = &audit_rows(&api, "dlq.reprocess").await[0];
    assert!(
        dlq_row["summary"]
            .as_str()
            .unwrap()
            .contains("receiver fixed")
    );

    // A prefix filters by area; a bad cursor is a 400.
    assert_eq!(audit_rows(&api, "endpoint.").await.len(), 4);
    let res = api
        .send(reqwest::Method::GET, "/api/v1/audit?cursor=nope", None)
        .await;
    assert_eq!(res.status(), 400);

    // Console changes name the signed-in user; sign-ins are audited too.
    let cookie = server.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    assert!(
        login_status(&server, ADMIN_EMAIL, "wrong-password")
            .await
            .status()
            == 401
    );
    let res = server
        .console_call(
            &cookie,
            "create_api_key",
            &[("name", "from the console"), ("scope", "read")],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // The newest of two: the harness issued the test's own key (as Herald).
    let rows = audit_rows(&api, "api_key.create").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1]["actor"], "herald");
    assert_eq!(rows[0]["actor"], format!("user {ADMIN_EMAIL}"));
    assert_eq!(rows[0]["role"], "admin");
    let store = &server.running.state.store;
    let logins = store
        .list_audit(
            None,
            &herald_engine::model::AuditQuery {
                action: Some("login.".into()),
                ..Default::default()
            },
            50,
        )
        .await
        .unwrap();
    let actions: Vec<&str> = logins.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["login.failure", "login.success"], "newest first");
}

#[tokio::test]
async fn console_responses_carry_security_headers_and_refuse_cross_site_changes() {
    let server = TestServer::start().await;
    let res = reqwest::get(server.url("/login")).await.unwrap();
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = res.text().await.unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .expect("a script-src directive");
    assert!(script_src.contains("'wasm-unsafe-eval'"), "{csp}");
    assert!(
        !script_src.contains("'unsafe-inline'") && !script_src.contains("'unsafe-eval'"),
        "{csp}"
    );
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a script nonce");
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "scripts carry it"
    );

    let res = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers().contains_key("referrer-policy"));
    assert!(!res.headers().contains_key("strict-transport-security"));

    // A form posted from another site, or by something that names no origin.
    let bare = reqwest::Client::new();
    for origin in [Some("http://evil.example"), None] {
        let mut request = bare
            .post(server.url("/fn/login"))
            .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), 403, "{origin:?}");
        assert!(!res.headers().contains_key("set-cookie"));
    }

    // Served over HTTPS (secure cookies on), responses ask for HSTS.
    let tls = TestServer::start_with(|c| c.secure_cookies = true).await;
    let res = reqwest::get(tls.url("/healthz")).await.unwrap();
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}

#[tokio::test]
async fn changing_a_password_ends_every_session_of_that_user() {
    let server = TestServer::start().await;
    server
        .create_user("dev@herald.test", "dev-password-1", Role::Developer)
        .await;
    let first = server
        .sign_in("dev@herald.test", "dev-password-1")
        .await
        .unwrap();
    let second = server
        .sign_in("dev@herald.test", "dev-password-1")
        .await
        .unwrap();
    let call = |cookie: String, path: &'static str, form: Vec<(&'static str, &'static str)>| {
        server
            .http
            .post(server.url(path))
            .header("cookie", cookie)
            .form(&form)
            .send()
    };
    let res = call(
        first.clone(),
        "/fn/change_password",
        vec![("current", "dev-password-1"), ("new_password", "short")],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422, "too short is refused");
    let res = call(
        first.clone(),
        "/fn/change_password",
        vec![
            ("current", "dev-password-1"),
            ("new_password", "dev-password-2"),
        ],
    )
    .await
    .unwrap();
    assert!(res.status().is_success() || res.status().is_redirection());
    for cookie in [first, second] {
        let res = call(cookie, "/fn/current_user", vec![]).await.unwrap();
        assert_eq!(res.status(), 401, "the session ended");
    }
    assert!(
        server
            .sign_in("dev@herald.test", "dev-password-1")
            .await
            .is_err()
    );
    assert!(
        server
            .sign_in("dev@herald.test", "dev-password-2")
            .await
            .is_ok()
    );
}
