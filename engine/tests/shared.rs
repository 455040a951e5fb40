//! What nodes share through Redis: rate limits and the live feed. Each test
//! runs a Redis server of its own (`redis-server` on a free port), so it can
//! stop and restart it; two "nodes" are two limiters or two hubs on it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_engine::deps::Redis;
use herald_engine::limit::SharedLimiter;
use herald_engine::live::{LiveHub, relay};
use herald_engine::model::{LiveMessage, TenantId};

/// A Redis server on a port of its own, stopped when dropped.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same port and waits until it answers.
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("these tests run redis-server of their own and cannot start it ({e}): install Redis")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (as a crash would).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the server holds `key`.
    fn has(&self, key: &str) -> bool {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        redis::cmd("EXISTS")
            .arg(key)
            .query::<i64>(&mut conn)
            .unwrap()
            == 1
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A node's view of the shared Redis, for the installation `inst`.
fn node_redis(server: &OwnRedis, inst: &str) -> Redis {
    Redis::open(&server.url()).unwrap().for_installation(inst)
}

/// Two nodes on one Redis share one API key's limit: together they admit
/// what one bucket allows, not twice that.
#[tokio::test]
async fn two_nodes_admit_together_what_one_bucket_allows() {
    let server = OwnRedis::start();
    // 5 a second, bursts of 20: a node alone would admit 20 at once.
    let node = || {
        SharedLimiter::new(
            "api",
            5,
            Duration::from_secs(1),
            20,
            Some(node_redis(&server, "inst")),
        )
    };
    let (a, b) = (node(), node());
    let started = Instant::now();
    let mut admitted = 0u32;
    for _ in 0..40 {
        admitted += u32::from(a.check(&"key_1").await.is_ok());
        admitted += u32::from(b.check(&"key_1").await.is_ok());
    }
    let refill = (started.elapsed().as_secs_f64() * 5.0).ceil() as u32;
    assert!(
        admitted <= 20 + refill,
        "two nodes admitted {admitted}; one bucket allows {}",
        20 + refill
    );
    assert!(admitted >= 15, "the bucket's burst is used: {admitted}");
    // Another key has a bucket of its own, and the refusal says how long to wait.
    assert!(a.check(&"key_2").await.is_ok());
    let wait = b.check(&"key_1").await.unwrap_err();
    assert!(wait <= Duration::from_secs(1), "{wait:?}");
    assert!(server.has("herald:inst:limit:api:key_1"));
}

/// Redis stopped: each node limits by itself (requests are still admitted,
/// not refused); Redis back: the limit is shared again, by itself.
#[tokio::test]
async fn limits_fall_back_to_each_node_while_redis_is_down_and_share_again_after() {
    let mut server = OwnRedis::start();
    let redis = node_redis(&server, "inst");
    let limiter = SharedLimiter::new("api", 100, Duration::from_secs(1), 200, Some(redis.clone()));
    // The node's connection comes up in the background: until it does, checks
    // are limited by the node alone. Once it is up, the bucket is in Redis.
    let mut shared = false;
    for _ in 0..50 {
        assert!(limiter.check(&"key_1").await.is_ok());
        if server.has("herald:inst:limit:api:key_1") {
            shared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(shared, "the bucket never reached Redis");

    server.stop();
    for _ in 0..50 {
        assert!(
            limiter.check(&"key_2").await.is_ok(),
            "with Redis down the node's own bucket admits"
        );
    }
    assert!(!redis.is_up(), "the outage is noticed");

    server.restart();
    // A fresh server knows no bucket; the next calls after the pause go to it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(limiter.check(&"key_3").await.is_ok());
        if server.has("herald:inst:limit:api:key_3") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the limit never went back to Redis"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(redis.is_up());
}

fn progress(n: u64) -> LiveMessage {
    use herald_engine::model::{DeliveryOutcome, DeliveryState, Trigger};
    LiveMessage::DeliveryOutcome(DeliveryOutcome {
        delivery_id: herald_engine::model::DeliveryId::new(),
        event_id: herald_engine::model::EventId::new(),
        endpoint_id: herald_engine::model::EndpointId::new(),
        event_type: "a.b".into(),
        attempt: u32::try_from(n).unwrap(),
        trigger: Trigger::Scheduled,
        state: DeliveryState::Succeeded,
        response_status: Some(200),
        error_class: None,
        latency_ms: 1,
        at: chrono::Utc::now(),
    })
}

fn dispatched(message: &LiveMessage) -> u64 {
    match message {
        LiveMessage::DeliveryOutcome(outcome) => u64::from(outcome.attempt),
        other => panic!("a delivery outcome, not {other:?}"),
    }
}

/// Two nodes relayed through one Redis: what one publishes reaches the
/// other's subscribers of that tenant (and only that tenant), and its own
/// subscribers see it once. After Redis restarts the relay carries on.
#[tokio::test]
async fn the_live_feed_crosses_nodes_and_survives_a_redis_restart() {
    let mut server = OwnRedis::start();
    let (a, b) = (Arc::new(LiveHub::default()), Arc::new(LiveHub::default()));
    let (_stop, stop) = tokio::sync::watch::channel(false);
    relay(
        &a,
        node_redis(&server, "inst"),
        "node_a".into(),
        stop.clone(),
    );
    relay(
        &b,
        node_redis(&server, "inst"),
        "node_b".into(),
        stop.clone(),
    );
    // An installation of its own on the same Redis hears nothing of these.
    let other = Arc::new(LiveHub::default());
    relay(&other, node_redis(&server, "other"), "node_x".into(), stop);
    let (tenant, quiet) = (TenantId::new(), TenantId::new());
    let mut on_a = a.subscribe(tenant);
    let mut on_b = b.subscribe(tenant);
    let mut quiet_on_b = b.subscribe(quiet);
    let mut on_other = other.subscribe(tenant);

    // Until b's subscription is in place, messages may be missed: publish
    // until one arrives.
    let received = tokio::time::timeout(Duration::from_secs(15), async {
        let mut n = 0;
        loop {
            n += 1;
            a.publish(tenant, progress(n));
            if let Ok(Ok(message)) =
                tokio::time::timeout(Duration::from_millis(300), on_b.recv()).await
            {
                return dispatched(&message);
            }
        }
    })
    .await
    .expect("node_b sees node_a's message");
    assert!(received >= 1);
    // node_a's own subscriber got each message once, from the hub itself.
    let mut seen_on_a = Vec::new();
    while let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(500), on_a.recv()).await
    {
        seen_on_a.push(dispatched(&message));
    }
    let mut unique = seen_on_a.clone();
    unique.dedup();
    assert_eq!(seen_on_a, unique, "no message twice on node_a");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), quiet_on_b.recv())
            .await
            .is_err(),
        "another tenant hears nothing"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), on_other.recv())
            .await
            .is_err(),
        "another installation hears nothing"
    );

    server.stop();
    a.publish(tenant, progress(1_000));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    let after = tokio::time::timeout(Duration::from_secs(20), async {
        let mut n = 2_000;
        loop {
            n += 1;
            a.publish(tenant, progress(n));
            if let Ok(Ok(message)) =
                tokio::time::timeout(Duration::from_millis(300), on_b.recv()).await
                && dispatched(&message) >= 2_000
            {
                return;
            }
        }
    })
    .await;
    assert!(after.is_ok(), "the relay came back after Redis restarted");
}
