//! Moving up from the embedded start: a SQLite Herald copied into
//! PostgreSQL with `herald migrate-store`, and carried on there.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Api, fast_policy, signature_verifies, status_and_body, until};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/herald_test";

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

fn migrate_store(from: &str, to: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["migrate-store", "--from", from, "--to", to])
        .env_remove("HERALD_DATABASE_URL")
        .output()
        .expect("herald runs")
}

/// A SQLite Herald with delivered events, DLQ entries, a rotated secret and
/// a paused replay is copied into PostgreSQL; a node started there on the
/// same master key finishes the replay with the original webhook-ids, signed
/// with the rotated secret, and shows the same events and DLQ.
#[tokio::test]
async fn migrate_store_moves_a_sqlite_herald_to_postgres_where_its_replay_finishes() {
    const EVENTS: usize = 30;
    let server = TestServer::start_with(|c| {
        c.database_url = format!("sqlite://{}", c.data_dir.join("herald.db").display());
    })
    .await;
    let sqlite = format!("sqlite://{}", server.data_dir().join("herald.db").display());
    let api = Api::new(&server).await;
    let ok = Receiver::ok().await;
    let failing = Receiver::start(Vec::new(), Reply::Status(500)).await;
    let (endpoint, old_secret) = api.endpoint(&ok.url, &["order.*"], json!({})).await;
    api.endpoint(
        &failing.url,
        &["order.*"],
        json!({"retry_policy": fast_policy(1)}),
    )
    .await;
    for n in 0..EVENTS {
        api.publish("order.created", json!({"n": n})).await;
    }
    let first = ok.wait_for(EVENTS, Duration::from_secs(30)).await;
    let original_ids: BTreeSet<String> = first
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(original_ids.len(), EVENTS);
    let dlq = until(
        &api,
        "/api/v1/dlq?limit=200",
        Duration::from_secs(30),
        |d| d["items"].as_array().unwrap().len() == EVENTS,
    )
    .await;
    let res = api
        .post(
            &format!("/api/v1/endpoints/{endpoint}/rotate-secret"),
            &json!({"grace_period_secs": 0}),
        )
        .await;
    let (status, rotated) = status_and_body(res).await;
    assert_eq!(status, 200, "{rotated}");
    let secret = rotated["secret"].as_str().unwrap().to_owned();

    // A slow replay to the one endpoint, paused once it has started.
    let (status, job) = status_and_body(
        api.post(
            "/api/v1/replays",
            &json!({"rate_per_second": 5, "reason": "moving house",
                    "filter": {"endpoint_id": endpoint}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{job}");
    let path = format!("/api/v1/replays/{}", job["id"].as_str().unwrap());
    until(&api, &path, Duration::from_secs(10), |j| {
        j["dispatched"].as_u64().unwrap() > 0
    })
    .await;
    let (status, paused) =
        status_and_body(api.post(&format!("{path}/pause"), &json!({})).await).await;
    assert_eq!(status, 200, "{paused}");
    // The copy: refused while the server holds the directory, done once it
    // stopped, then refused again into the now non-empty database.
    let schema = Schema::new().await;
    let locked = migrate_store(&sqlite, &schema.url());
    assert!(!locked.status.success());
    assert!(
        String::from_utf8_lossy(&locked.stderr).contains("is in use"),
        "{}",
        String::from_utf8_lossy(&locked.stderr)
    );
    let key = api.key.clone();
    let data = server.stop().await;
    let out = migrate_store(&sqlite, &schema.url());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Copied"), "{stdout}");
    assert!(
        stdout.contains(&format!("dlq_entries              {EVENTS}")),
        "{stdout}"
    );
    let again = migrate_store(&sqlite, &schema.url());
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // A PostgreSQL node on the same data directory (the same master key).
    let url = schema.url();
    let server = TestServer::start_in(data, |c| c.database_url = url).await;
    assert!(!server.running.state.store.capabilities().single_node);
    let api = Api {
        server: &server,
        key,
    };
    let copied = api.get("/api/v1/dlq?limit=200").await;
    assert_eq!(copied["items"], dlq["items"], "the DLQ came along");
    let events = api.get("/api/v1/events?limit=200").await;
    assert_eq!(events["items"].as_array().unwrap().len(), EVENTS);
    let (status, resumed) =
        status_and_body(api.post(&format!("{path}/resume"), &json!({})).await).await;
    assert_eq!(status, 200, "{resumed}");
    let done: Value = until(&api, &path, Duration::from_secs(60), |j| {
        j["state"] == "completed"
    })
    .await;
    assert_eq!(done["dispatched"], EVENTS);

    let replayed: Vec<_> = ok
        .received()
        .into_iter()
        .filter(|r| r.header("herald-replay") == "moving house")
        .collect();
    let replayed_ids: BTreeSet<String> = replayed
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(
        replayed_ids, original_ids,
        "every event replayed under its original webhook-id"
    );
    let after_move: Vec<_> = replayed
        .iter()
        .filter(|r| signature_verifies(&secret, r))
        .collect();
    assert_eq!(
        after_move.len(),
        replayed.len(),
        "every replayed request is signed with the rotated secret"
    );
    assert!(
        !replayed.iter().any(|r| signature_verifies(&old_secret, r)),
        "and not with the one it replaced"
    );
    server.stop().await;
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

/// Three nodes share 10,000 events to five endpoints. One is killed (SIGKILL)
/// mid-delivery: still every event is delivered, the duplicates are at most
/// what the dead node held in flight, and no webhook-id is ever on the wire
/// from two nodes at once.
#[tokio::test]
async fn three_nodes_deliver_every_event_when_one_is_killed_mid_delivery() {
    const EVENTS: usize = 10_000;
    const ENDPOINTS: usize = 5;
    let mut cluster = Cluster::start(3, None).await;
    let mut receivers = Vec::new();
    for i in 0..ENDPOINTS {
        let receiver = Receiver::start(Vec::new(), Reply::Hang(Duration::from_millis(20))).await;
        let (status, body) = cluster
            .post(
                0,
                "/api/v1/endpoints",
                &json!({"url": receiver.url, "event_types": [format!("t{i}.created")],
                        "timeout_ms": 2_000}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        receivers.push(receiver);
    }
    publish_spread(&cluster, &[0, 1, 2], EVENTS, ENDPOINTS).await;

    // Mid-delivery: node 1 dies with whatever it holds.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while receivers.iter().map(|r| r.received().len()).sum::<usize>() < EVENTS / 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "a quarter of the deliveries never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = cluster.nodes[1].name();
    cluster.nodes[1].kill();
    let held = cluster.in_flight_of(&dead).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let unique: usize = receivers.iter().map(|r| seen(r).0).sum();
        if unique == EVENTS {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {unique} of {EVENTS} events delivered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let any late request land before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (unique, total) = receivers
        .iter()
        .map(seen)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let duplicates = total - unique;
    eprintln!(
        "kill -9 mid-delivery: {EVENTS} events, {total} requests, {duplicates} duplicates, \
         the dead node held {held} in flight"
    );
    assert_eq!(unique, EVENTS);
    assert!(
        duplicates as i64 <= held,
        "{duplicates} duplicates, more than the {held} the dead node held"
    );
    for r in &receivers {
        assert!(
            r.overlapping().is_empty(),
            "a webhook-id was on the wire twice at once: {:?}",
            r.overlapping()
        );
    }
    let db = cluster.database().await;
    let unfinished: i64 =
        sqlx::query_scalar("select count(*) from deliveries where state <> 'succeeded'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(unfinished, 0, "every delivery ends succeeded");
    db.close().await;
    // Both survivors did part of the work.
    for node in [0, 2] {
        let text = cluster
            .http
            .get(cluster.nodes[node].url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let sent: f64 = text
            .lines()
            .filter(|l| l.starts_with("herald_delivery_attempts_total{outcome=\"succeeded\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(sent > 0.0, "node {node} delivered nothing");
    }
}

/// A replay job of 5,000 events runs on one node; that node is killed. The
/// job finishes on another node from its saved cursor: each event is sent
/// once more, plus at most what the dead node had in flight.
#[tokio::test]
async fn a_replay_on_a_killed_node_is_finished_by_another() {
    const EVENTS: usize = 5_000;
    let mut cluster = Cluster::start(2, None).await;
    publish_spread(&cluster, &[0, 1], EVENTS, 1).await;
    let receiver = Receiver::start(Vec::new(), Reply::Hang(Duration::from_millis(5))).await;
    let (status, body) = cluster
        .post(
            0,
            "/api/v1/endpoints",
            &json!({"url": receiver.url, "event_types": ["*"], "timeout_ms": 2_000}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, job) = cluster
        .post(
            0,
            "/api/v1/replays",
            &json!({"rate_per_second": 250, "reason": "takeover"}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let path = format!("/api/v1/replays/{}", job["id"].as_str().unwrap());

    // Which node drives it, from the job's lease.
    let db = cluster.database().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let owner: String = loop {
        let row: Option<(Option<String>, i64)> =
            sqlx::query_as("select lease_owner, dispatched from replay_jobs")
                .fetch_optional(&db)
                .await
                .unwrap();
        if let Some((Some(owner), dispatched)) = row
            && dispatched >= 1_000
        {
            break owner;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replay never got going"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (dead, alive) = if cluster.nodes[0].name() == owner {
        (0, 1)
    } else {
        (1, 0)
    };
    cluster.nodes[dead].kill();
    let held = cluster.in_flight_of(&owner).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let done = loop {
        let job = cluster.get(alive, &path).await;
        if job["state"] == "completed" {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replay was not finished: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["dispatched"], EVENTS);
    let finisher: Option<String> = sqlx::query_scalar("select lease_owner from replay_jobs")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(
        finisher.as_deref(),
        Some(cluster.nodes[alive].name().as_str()),
        "the surviving node took the job over"
    );
    db.close().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (unique, total) = seen(&receiver);
    eprintln!(
        "replay takeover: {EVENTS} events, {total} requests, {} duplicates, the dead node held {held} in flight",
        total - unique
    );
    assert_eq!(unique, EVENTS, "every event was replayed");
    assert!(
        (total - unique) as i64 <= held,
        "{} events sent twice, more than the {held} the dead node held",
        total - unique
    );
    assert!(receiver.overlapping().is_empty());
}

/// A network namespace joined to this host by a veth pair: the host side is
/// `10.231.N.1`, the namespace side `10.231.N.2`. Removed when dropped.
struct Netns {
    name: String,
    host_link: String,
    subnet: u8,
}

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("the ip command (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {} (network namespaces need root and iproute2)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    fn new() -> Self {
        let tag = &ulid::Ulid::new().to_string().to_lowercase()[20..];
        let subnet = 1 + (ulid::Ulid::new().random() % 250) as u8;
        let (name, host_link, inner) = (format!("hn{tag}"), format!("vh{tag}"), format!("vn{tag}"));
        ip(&["netns", "add", &name]);
        let ns = Self {
            name,
            host_link,
            subnet,
        };
        ip(&[
            "link",
            "add",
            &ns.host_link,
            "type",
            "veth",
            "peer",
            "name",
            &inner,
        ]);
        ip(&["link", "set", &inner, "netns", &ns.name]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", ns.host_ip()),
            "dev",
            &ns.host_link,
        ]);
        ip(&["link", "set", &ns.host_link, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", ns.name.as_str(), "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&[
            "addr",
            "add",
            &format!("{}/24", ns.inner_ip()),
            "dev",
            &inner,
        ]);
        inside(&["link", "set", &inner, "up"]);
        inside(&["link", "set", "lo", "up"]);
        ns
    }

    fn host_ip(&self) -> String {
        format!("10.231.{}.1", self.subnet)
    }

    fn inner_ip(&self) -> String {
        format!("10.231.{}.2", self.subnet)
    }

    /// Takes the link down (`false`) or up again (`true`): the process in
    /// the namespace keeps running, cut off from everything on this host.
    fn link(&self, up: bool) {
        ip(&[
            "link",
            "set",
            &self.host_link,
            if up { "up" } else { "down" },
        ]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.host_link])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Forwards connections to `ip:port` on to PostgreSQL on loopback (which
/// listens there only), for a node in a namespace.
async fn forward_postgres(ip: &str) -> u16 {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    port
}

/// A node cut off from PostgreSQL (its namespace's link taken down, the
/// process left running) claims nothing more; once its leases run out the
/// other node finishes its work. When the link comes back it rejoins (ready,
/// heartbeating) and sends nothing the other node had finished.
#[tokio::test]
async fn a_node_cut_off_from_postgres_is_taken_over_and_rejoins_without_duplicates() {
    const EVENTS: usize = 2_000;
    let ns = Netns::new();
    let mut cluster = Cluster::start(1, None).await;
    let pg_port = forward_postgres(&ns.host_ip()).await;
    let through_link = format!(
        "postgres://postgres@{}:{pg_port}/herald_test?options=-c%20search_path%3D{}",
        ns.host_ip(),
        cluster.schema.name
    );
    let placement = Placement {
        netns: Some(ns.name.clone()),
        ip: Some(ns.inner_ip()),
        database: Some(through_link),
        allow: Some(format!("10.231.{}.0/24", ns.subnet)),
    };
    let cut = cluster
        .spawn_with(tempfile::tempdir().unwrap(), &placement)
        .await;
    cluster.nodes.push(cut);
    let cut_name = cluster.nodes[1].name();

    // The receiver answers on the link's host side, so both nodes reach it.
    let receiver = Receiver::start_on(
        &ns.host_ip(),
        Vec::new(),
        Reply::Hang(Duration::from_millis(20)),
    )
    .await;
    let (status, body) = cluster
        .post(
            0,
            "/api/v1/endpoints",
            &json!({"url": receiver.url, "event_types": ["*"], "timeout_ms": 2_000}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    publish_spread(&cluster, &[0], EVENTS, 1).await;

    // Wait until the namespace's node holds deliveries, then cut its link.
    let db = cluster.database().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let held: i64 = sqlx::query_scalar(
            "select count(*) from deliveries where state = 'in_flight' and lease_owner = $1",
        )
        .bind(&cut_name)
        .fetch_one(&db)
        .await
        .unwrap();
        if held > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the namespace's node never claimed anything"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ns.link(false);
    let held = cluster.in_flight_of(&cut_name).await;

    // Done when every delivery has succeeded: the cut-off node's too, once
    // their leases ran out and the other node sent them again.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let unfinished: i64 =
            sqlx::query_scalar("select count(*) from deliveries where state <> 'succeeded'")
                .fetch_one(&db)
                .await
                .unwrap();
        if unfinished == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{unfinished} deliveries unfinished with one node cut off ({} of {EVENTS} seen)",
            seen(&receiver).0
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen(&receiver).0, EVENTS);
    assert_eq!(
        cluster.in_flight_of(&cut_name).await,
        0,
        "the cut-off node's leases were taken over"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, total_before) = seen(&receiver);

    // The link comes back: the node rejoins and repeats nothing.
    ns.link(true);
    let relinked = chrono::Utc::now().timestamp_millis();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let alive: Option<i64> = sqlx::query_scalar(
            "select heartbeat_at from nodes where name = $1 and heartbeat_at > $2",
        )
        .bind(&cut_name)
        .bind(relinked)
        .fetch_optional(&db)
        .await
        .unwrap();
        let ready = cluster
            .http
            .get(cluster.nodes[1].url("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if alive.is_some() && ready {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node did not rejoin: {}",
            std::fs::read_to_string(cluster.nodes[1].data.path().join("herald.log"))
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (unique, total) = seen(&receiver);
    eprintln!(
        "netns cut-off: {EVENTS} events, {total} requests, {} duplicates, the cut node held {held} in flight",
        total - unique
    );
    assert_eq!(unique, EVENTS);
    assert_eq!(
        total, total_before,
        "nothing was sent again after the rejoin"
    );
    assert!((total - unique) as i64 <= held);
    assert!(receiver.overlapping().is_empty());
    let unfinished: i64 =
        sqlx::query_scalar("select count(*) from deliveries where state <> 'succeeded'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(unfinished, 0);
    db.close().await;
}

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
    let (status, body) = cluster
        .post(
            0,
            "/api/v1/endpoints",
            &json!({"url": receiver.url, "event_types": ["*"], "timeout_ms": 2_000}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
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
