//! Redis stopped and restarted under two nodes.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Cluster, free_port, publish_spread};
use crate::receiver::{Receiver, Reply};

/// A Redis server of the test's own on a free port, to stop and restart.
struct OwnRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("this test runs a redis-server of its own: install Redis");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Keys matching `pattern`.
    fn keys(&self, pattern: &str) -> Vec<String> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        redis::cmd("KEYS").arg(pattern).query(&mut conn).unwrap()
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Two nodes sharing a Redis. Redis is killed during delivery: delivery goes
/// on. It restarts: the shared limits use it again, and a console on one
/// node sees the progress of a replay the other node runs, by themselves.
#[tokio::test]
async fn redis_stopping_never_stops_delivery_and_what_it_shares_comes_back() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let mut redis = OwnRedis::start();
    let cluster = Cluster::start(2, Some(redis.url())).await;
    let namespace = format!("herald:herald_test/{}", cluster.schema.name);
    let receiver = Receiver::start(Vec::new(), Reply::Hang(Duration::from_millis(5))).await;
    cluster.endpoint(&receiver.url, &["*"]).await;
    let bad_key = || async {
        cluster
            .http
            .get(cluster.nodes[0].url("/api/v1/events"))
            .bearer_auth("hk_not_a_key")
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(bad_key().await, 401);
    assert!(
        !redis
            .keys(&format!("{namespace}:limit:bad_key:*"))
            .is_empty(),
        "the bad-key limit is kept in Redis"
    );

    publish_spread(&cluster, &[0, 1], 3_000, 1).await;
    receiver.wait_for(100, Duration::from_secs(60)).await;
    redis.stop();
    let at_stop = receiver.received().len();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while receiver.received().len() < at_stop + 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "delivery stopped with Redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bad_key().await, 401, "limits fall back to the node");

    redis.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert_eq!(bad_key().await, 401);
        if !redis
            .keys(&format!("{namespace}:limit:bad_key:*"))
            .is_empty()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the shared limit never went back to Redis"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A replay runs on one node; a console on the other follows it.
    let (status, job) = cluster
        .post(
            0,
            "/api/v1/replays",
            &json!({"rate_per_second": 200, "reason": "watched from afar"}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let db = cluster.database().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let owner: String = loop {
        let owner: Option<String> = sqlx::query_scalar("select lease_owner from replay_jobs")
            .fetch_one(&db)
            .await
            .unwrap();
        if let Some(owner) = owner {
            break owner;
        }
        assert!(std::time::Instant::now() < deadline, "nobody took the job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    db.close().await;
    let watcher = usize::from(cluster.nodes[0].name() == owner);
    let mut request = cluster.nodes[watcher]
        .url("/api/v1/live")
        .replacen("http", "ws", 1)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", cluster.key).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no progress of the other node's replay reached this node's feed"
        );
        let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_secs(5), socket.next()).await
        else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["type"] == "replay.progress" && message["replay"]["id"] == job["id"] {
            break;
        }
    }
}
