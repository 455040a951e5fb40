//! A node cut off from PostgreSQL by its network, the process left running.

use std::time::Duration;

use super::{Cluster, Placement, publish_spread, seen};
use crate::receiver::{Receiver, Reply};

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
    cluster.endpoint_on(1, &receiver.url, &["*"]).await;
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
        let unfinished = Cluster::unfinished(&db).await;
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
    assert_eq!(Cluster::unfinished(&db).await, 0);
    db.close().await;
}
