//! Several Herald nodes, as separate `herald serve` processes on one
//! PostgreSQL schema, and moving up to them from the embedded start
//! (`herald migrate-store`). The helpers are here; each file tests one way a
//! node or a dependency fails.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::Receiver;

mod catalog;
mod failover;
mod migrate;
mod netns;
mod rate;
mod redis_restart;

pub(super) const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/herald_test";

/// A schema of the test database of its own, dropped when it goes.
struct Schema {
    name: String,
}

impl Schema {
    async fn new() -> Self {
        let name = format!("m_{}", ulid::Ulid::new().to_string().to_lowercase());
        let pool = sqlx::PgPool::connect(POSTGRES)
            .await
            .expect("this test needs PostgreSQL at 127.0.0.1:5432 with a herald_test database");
        sqlx::query(&format!("create schema {name}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        Self { name }
    }

    fn url(&self) -> String {
        format!("{POSTGRES}?options=-c%20search_path%3D{}", self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Best effort, after the test's connections are gone.
        std::thread::spawn(move || {
            let _ = std::process::Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    "herald_test",
                    "-qc",
                ])
                .arg(format!("drop schema if exists {name} cascade"))
                .output();
        });
    }
}

/// A `herald serve` process, one node of a cluster on one PostgreSQL schema.
struct Node {
    child: Option<std::process::Child>,
    base: String,
    data: tempfile::TempDir,
}

impl Node {
    /// This node's name, as its leases and heartbeats carry it.
    fn name(&self) -> String {
        std::fs::read_to_string(self.data.path().join("node-id"))
            .expect("a started node has a node-id")
            .trim()
            .to_owned()
    }

    /// Ends the process at once, as a crash or `kill -9` would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Nodes of one installation: one database schema, one master key.
struct Cluster {
    schema: Schema,
    master_key: String,
    redis: Option<String>,
    nodes: Vec<Node>,
    http: reqwest::Client,
    key: String,
}

/// Where a node runs: by default on this host's loopback.
#[derive(Default)]
struct Placement {
    /// In this network namespace.
    netns: Option<String>,
    /// Listening on this address.
    ip: Option<String>,
    /// Another way to the cluster's database (through the namespace's link).
    database: Option<String>,
    /// Deliveries may reach these addresses too.
    allow: Option<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    async fn start(nodes: usize, redis: Option<String>) -> Self {
        use base64::Engine as _;
        let schema = Schema::new().await;
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(&ulid::Ulid::new().to_bytes());
        key[16..].copy_from_slice(&ulid::Ulid::new().to_bytes());
        let mut cluster = Self {
            schema,
            master_key: base64::engine::general_purpose::STANDARD.encode(key),
            redis,
            nodes: Vec::new(),
            http: reqwest::Client::new(),
            key: String::new(),
        };
        for _ in 0..nodes {
            let node = cluster.spawn(tempfile::tempdir().unwrap()).await;
            cluster.nodes.push(node);
        }
        // An API key for the default tenant, written where every node reads.
        let store = herald_engine::store::connect(
            &cluster.schema.url(),
            std::sync::Arc::new(herald_engine::vault::Vault::ephemeral()),
        )
        .await
        .unwrap();
        let tenant = store
            .ensure_tenant(herald_engine::store::DEFAULT_TENANT, "Default")
            .await
            .unwrap();
        let (_, key) = herald_engine::auth::issue_api_key(
            store.as_ref(),
            &herald_engine::audit::AuditBy::system(),
            tenant.id,
            "cluster test",
            herald_engine::model::Scope::All,
        )
        .await
        .unwrap();
        store.close().await;
        cluster.key = key;
        cluster
    }

    /// Starts a node on `data` and waits until it is ready.
    async fn spawn(&self, data: tempfile::TempDir) -> Node {
        self.spawn_with(data, &Placement::default()).await
    }

    /// Starts a node on `data` where `at` says, and waits until it is ready.
    async fn spawn_with(&self, data: tempfile::TempDir, at: &Placement) -> Node {
        let port = free_port();
        let log = std::fs::File::create(data.path().join("herald.log")).unwrap();
        let mut command = match &at.netns {
            Some(ns) => {
                let mut c = std::process::Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_herald")]);
                c
            }
            None => std::process::Command::new(env!("CARGO_BIN_EXE_herald")),
        };
        let ip = at.ip.as_deref().unwrap_or("127.0.0.1");
        command
            .arg("serve")
            .env("HERALD_DATA_DIR", data.path())
            .env(
                "HERALD_DATABASE_URL",
                at.database.clone().unwrap_or_else(|| self.schema.url()),
            )
            .env("HERALD_MASTER_KEY", &self.master_key)
            .env("HERALD_LISTEN", format!("{ip}:{port}"))
            .env(
                "HERALD_OUTBOUND_ALLOW_CIDRS",
                // Loopback, and the range the namespace tests' links use.
                format!(
                    "127.0.0.0/8,10.231.0.0/16,{}",
                    at.allow.as_deref().unwrap_or("::1/128")
                ),
            )
            .env("HERALD_ADMIN_PASSWORD", "cluster-admin-password")
            .env("HERALD_API_RATE_LIMIT", "0")
            .env("HERALD_DELIVERY_LEASE_SECS", "10")
            .env("HERALD_LOG", "warn")
            .env_remove("HERALD_REDIS_URL")
            .stdout(std::process::Stdio::null())
            .stderr(log);
        if let Some(redis) = &self.redis {
            command.env("HERALD_REDIS_URL", redis);
        }
        let child = command.spawn().expect("herald starts");
        let node = Node {
            child: Some(child),
            base: format!("http://{ip}:{port}"),
            data,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(res) = self.http.get(node.url("/readyz")).send().await
                && res.status() == 200
            {
                return node;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "node did not become ready: {}",
                std::fs::read_to_string(node.data.path().join("herald.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn post(&self, node: usize, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .http
            .post(self.nodes[node].url(path))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Subscribes `url` to `types` (through node 0), with a 2 s timeout;
    /// the endpoint's id.
    async fn endpoint(&self, url: &str, types: &[&str]) -> String {
        self.endpoint_with(url, types, json!({})).await
    }

    /// [`Cluster::endpoint`] with more of the endpoint's fields (`extra`).
    async fn endpoint_with(&self, url: &str, types: &[&str], extra: Value) -> String {
        let mut body = json!({"url": url, "event_types": types, "timeout_ms": 2_000});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        let (status, body) = self.post(0, "/api/v1/endpoints", &body).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Subscribes `url` to `types` with an endpoint that node `owner` serves
    /// while every node of the cluster is alive: endpoints are made (and
    /// the others deleted) until the database's `endpoint_owner` names that
    /// node. Each endpoint is served by one node, chosen by hashing its id,
    /// so a test that needs work on a given node places it there.
    async fn endpoint_on(&self, owner: usize, url: &str, types: &[&str]) {
        self.endpoint_on_with(owner, url, types, json!({})).await;
    }

    /// [`Cluster::endpoint_on`] with more of the endpoint's fields (`extra`).
    async fn endpoint_on_with(&self, owner: usize, url: &str, types: &[&str], extra: Value) {
        let db = self.database().await;
        let names: Vec<String> = self.nodes.iter().map(Node::name).collect();
        let alive_since = || chrono::Utc::now().timestamp_millis() - 10_000;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let beating: Vec<String> =
                sqlx::query_scalar("select name from nodes where heartbeat_at >= $1")
                    .bind(alive_since())
                    .fetch_all(&db)
                    .await
                    .unwrap();
            if names.iter().all(|n| beating.contains(n)) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the nodes' heartbeats never all showed: {beating:?} of {names:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for _ in 0..64 {
            let id = self.endpoint_with(url, types, extra.clone()).await;
            let served_by: String = sqlx::query_scalar("select endpoint_owner($1, $2, null)")
                .bind(&id)
                .bind(alive_since())
                .fetch_one(&db)
                .await
                .unwrap();
            if served_by == names[owner] {
                db.close().await;
                return;
            }
            let res = self
                .http
                .delete(self.nodes[0].url(&format!("/api/v1/endpoints/{id}")))
                .bearer_auth(&self.key)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 204);
        }
        panic!("no endpoint of 64 fell to node {owner}");
    }

    async fn get(&self, node: usize, path: &str) -> Value {
        let res = self
            .http
            .get(self.nodes[node].url(path))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// A direct connection to the cluster's database, for what only it knows.
    async fn database(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.schema.url()).await.unwrap()
    }

    /// How many deliveries have not succeeded (yet).
    async fn unfinished(db: &sqlx::PgPool) -> i64 {
        sqlx::query_scalar("select count(*) from deliveries where state <> 'succeeded'")
            .fetch_one(db)
            .await
            .unwrap()
    }

    /// The deliveries `node` holds in flight, read from the database.
    async fn in_flight_of(&self, node: &str) -> i64 {
        let db = self.database().await;
        let n = sqlx::query_scalar(
            "select count(*) from deliveries where state = 'in_flight' and lease_owner = $1",
        )
        .bind(node)
        .fetch_one(&db)
        .await
        .unwrap();
        db.close().await;
        n
    }
}

/// Publishes `n` events of types `t0.created` … `t{kinds-1}.created` in turn,
/// in batches of 1,000 spread over the live nodes in `via`.
async fn publish_spread(cluster: &Cluster, via: &[usize], n: usize, kinds: usize) {
    for (b, start) in (0..n).step_by(1_000).enumerate() {
        let events: Vec<Value> = (start..n.min(start + 1_000))
            .map(|i| json!({"event_type": format!("t{}.created", i % kinds), "payload": {"n": i}}))
            .collect();
        let (status, body) = cluster
            .post(
                via[b % via.len()],
                "/api/v1/events/batch",
                &json!({ "events": events }),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
}

/// Distinct webhook-ids a receiver saw, and its requests in all.
fn seen(receiver: &Receiver) -> (usize, usize) {
    let received = receiver.received();
    let unique: BTreeSet<String> = received
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    (unique.len(), received.len())
}
