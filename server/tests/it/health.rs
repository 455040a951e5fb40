use serde_json::Value;

use crate::harness::TestServer;

#[tokio::test]
async fn healthz_answers_without_touching_dependencies() {
    let server = TestServer::start().await;
    // Liveness must not depend on the database: close it and ask again.
    server.running.state.store.close().await;
    let res = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn readyz_reports_the_database_up() {
    let server = TestServer::start().await;
    let res = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert_eq!(
        body["checks"]["database"]["backend"],
        if server.running.state.store.capabilities().single_node {
            "sqlite"
        } else {
            "postgres"
        }
    );
    assert_eq!(
        body["checks"]["database"]["node"],
        server.running.state.store.node()
    );
    assert!(
        body["checks"]["redis"].is_null(),
        "redis is not configured: {body}"
    );
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_unavailable() {
    let server = TestServer::start().await;
    server.running.state.store.close().await;
    let res = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "down");
    // The cause is logged, not handed out.
    assert!(body["checks"]["database"].get("error").is_none(), "{body}");
}

/// Redis carries only the shared rate limits and the cross-node live feed:
/// a node without it still takes and delivers events, so it stays in the
/// load balancer's pool (200), saying it is degraded.
#[tokio::test]
async fn readyz_is_degraded_but_ready_when_a_configured_redis_does_not_answer() {
    // Reserve a port and free it, so nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = TestServer::start_with(|c| c.redis_url = Some(format!("redis://{closed}"))).await;
    let res = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert_eq!(body["checks"]["redis"]["status"], "down");
}

#[tokio::test]
async fn readyz_checks_a_live_redis() {
    let url =
        std::env::var("HERALD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let addr = url.trim_start_matches("redis://").trim_end_matches('/');
    // No silent pass: without Redis this test fails. `make test` leaves it
    // out by name (`--skip`) and says so when nothing answers on 6379.
    if let Err(e) = std::net::TcpStream::connect(addr) {
        panic!(
            "no Redis at {url} ({e}): start redis-server, set HERALD_TEST_REDIS_URL, \
             or run with --skip readyz_checks_a_live_redis"
        );
    }
    let server = TestServer::start_with(|c| c.redis_url = Some(url.clone())).await;
    let res = server.http.get(server.url("/readyz")).send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["redis"]["status"], "up");
}
