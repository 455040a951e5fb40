//! What several Herald nodes on one PostgreSQL database tell each other.

use super::delivery::{event, tenant_with_endpoint};
use super::*;
use herald_engine::model::Semantics;

/// The PostgreSQL backend: these tests are about several nodes, which only
/// PostgreSQL has.
pub(super) fn postgres(all: &[Backend]) -> &Backend {
    all.iter()
        .find(|b| b.name == "postgres")
        .expect("needs PostgreSQL (HERALD_TEST_POSTGRES=skip leaves it out by name)")
}

/// A publish committed through one store wakes every other store on the
/// database once per commit, however many events and deliveries it made.
#[tokio::test]
async fn a_commit_on_one_node_wakes_the_others_once() {
    let all = backends().await;
    let b = postgres(&all);
    let (t, _) = tenant_with_endpoint(b, Semantics::AtLeastOnce).await;
    let other =
        herald_engine::store::connect(&b.url, Arc::new(herald_engine::vault::Vault::ephemeral()))
            .await
            .unwrap();
    let (woken, mut wakes) = tokio::sync::mpsc::unbounded_channel();
    other.on_new_work(Arc::new(move || {
        let _ = woken.send(());
    }));
    // Time for the other store to connect its listener.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    b.store
        .ingest(
            t.id,
            (0..50).map(|_| event("a.b", None)).collect(),
            Utc::now(),
        )
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), wakes.recv())
        .await
        .expect("the other node is woken")
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        wakes.try_recv().is_err(),
        "one commit of 50 events wakes the other node once"
    );
    // A publish that makes no delivery wakes no one.
    b.store.ingest(t.id, vec![], Utc::now()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(wakes.try_recv().is_err(), "nothing new, no wake");
    other.close().await;
}

/// Each node holds its own leases: a node that restarts takes back at once
/// what it left in flight, and leaves what another node holds alone.
#[tokio::test]
async fn a_restarting_node_takes_back_only_its_own_leases() {
    let all = backends().await;
    let b = postgres(&all);
    // One installation: the same master key on every node.
    let vault = Arc::new(herald_engine::vault::Vault::ephemeral());
    let node = |name: &'static str| {
        herald_engine::store::connect_node(
            &b.url,
            vault.clone(),
            herald_engine::store::Durability::Power,
            name,
        )
    };
    let (a, other) = (node("node_a").await.unwrap(), node("node_b").await.unwrap());
    let t = tenant_subscribed_to_all(a.as_ref()).await;
    let now = Utc::now();
    a.ingest(t.id, vec![event("a.b", None), event("a.c", None)], now)
        .await
        .unwrap();
    let lease = now + Duration::seconds(600);
    let mine = a.claim_due(now, lease, 1, 100, 1).await.unwrap();
    let theirs = other.claim_due(now, lease, 1, 100, 1).await.unwrap();
    assert_eq!((mine.len(), theirs.len()), (1, 1), "each node claims one");
    assert_ne!(mine[0].id, theirs[0].id, "never the same delivery");

    // node_a restarts: its delivery is due again at once, node_b's is not touched.
    let restarted = node("node_a").await.unwrap();
    let settled = restarted.reclaim_own(now).await.unwrap();
    assert_eq!(settled.requeued, 1, "node_a's own delivery is due again");
    let gauges = restarted.gauges(now).await.unwrap();
    assert_eq!(
        (gauges.due, gauges.in_flight),
        (1, 1),
        "node_b's stays in flight"
    );
    let recorded = other
        .record_attempts(vec![super::delivery::receipt(
            &theirs[0],
            herald_engine::store::AfterAttempt::Succeeded,
        )])
        .await
        .unwrap();
    assert_eq!(
        recorded,
        [herald_engine::store::Recorded::Applied {
            dead_lettered: false
        }],
        "node_b's receipt still counts"
    );
    let again = restarted.claim_due(now, lease, 10, 100, 1).await.unwrap();
    assert_eq!(again.len(), 1, "the taken-back delivery is claimed again");
    assert_eq!(again[0].id, mine[0].id);
}

/// One installation of three nodes on the backend's database, under the
/// names `node_a`, `node_b`, `node_c`.
pub(super) async fn three_nodes(b: &Backend) -> Vec<Arc<dyn Store>> {
    let vault = Arc::new(herald_engine::vault::Vault::ephemeral());
    let mut nodes = Vec::new();
    for name in ["node_a", "node_b", "node_c"] {
        nodes.push(
            herald_engine::store::connect_node(
                &b.url,
                vault.clone(),
                herald_engine::store::Durability::Power,
                name,
            )
            .await
            .unwrap(),
        );
    }
    nodes
}

/// The default tenant, with one at-least-once endpoint subscribed to every
/// event type, made through `store`.
pub(super) async fn tenant_subscribed_to_all(store: &dyn Store) -> herald_engine::model::TenantOut {
    let t = store
        .ensure_tenant(DEFAULT_TENANT, "Default")
        .await
        .unwrap();
    store
        .create_endpoint(
            t.id,
            super::delivery::endpoint(&["*"], Semantics::AtLeastOnce),
            &audit(),
        )
        .await
        .unwrap();
    t
}

/// A replay job over every event of `tenant`, created and started on `store`.
async fn running_replay(
    store: &dyn Store,
    tenant: herald_engine::model::TenantId,
) -> herald_engine::model::ReplayOut {
    use herald_engine::model::{ReplayFilter, ReplayId, ReplayState};
    let now = Utc::now();
    let job = store
        .create_replay(
            tenant,
            herald_engine::store::NewReplay {
                id: ReplayId::new(),
                filter: ReplayFilter::default(),
                rate_per_second: 100.0,
                max_events: None,
                reason: "takeover".into(),
                actor: herald_engine::store::Actor("store test".into()),
                transform: None,
            },
            now,
            &|_| None,
        )
        .await
        .unwrap();
    assert!(
        store
            .set_replay_state(
                None,
                job.id,
                &[ReplayState::Pending],
                ReplayState::Running,
                None,
                now,
                None
            )
            .await
            .unwrap()
    );
    job
}

/// The heartbeat table says which nodes are alive and what each holds; a
/// node silent for long is forgotten, and one that leaves is gone at once
/// and gives up its replay jobs.
#[tokio::test]
async fn heartbeats_say_which_nodes_are_alive_and_what_each_holds() {
    for b in backends().await {
        let (t, _) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let now = Utc::now();
        b.store
            .ingest(t.id, vec![event("a.b", None)], now)
            .await
            .unwrap();
        let beat = |at: chrono::DateTime<Utc>, in_flight| herald_engine::store::Heartbeat {
            version: "1.2.3".into(),
            started_at: now - Duration::minutes(5),
            now: at,
            in_flight,
        };
        b.store
            .heartbeat(&beat(now, 7), now - Duration::days(1))
            .await
            .unwrap();
        let job = running_replay(b.store.as_ref(), t.id).await;
        let leased = b
            .store
            .lease_replays(now, now + Duration::seconds(10))
            .await
            .unwrap();
        assert_eq!(leased.len(), 1, "{}", b.name);
        assert_eq!(leased[0].0, job.id, "{}", b.name);

        let nodes = b
            .store
            .nodes(now - Duration::seconds(10), now)
            .await
            .unwrap();
        assert_eq!(nodes.len(), 1, "{}: {nodes:?}", b.name);
        let me = &nodes[0];
        assert_eq!(me.name, b.store.node(), "{}", b.name);
        assert_eq!(
            (me.alive, me.in_flight, me.replays, me.version.as_str()),
            (true, 7, 1, "1.2.3"),
            "{}",
            b.name
        );
        assert_eq!(
            me.heartbeat_at.timestamp_millis(),
            now.timestamp_millis(),
            "{}",
            b.name
        );
        // Later, with no heartbeat since: shown as gone, its lease run out.
        let later = now + Duration::seconds(30);
        let nodes = b
            .store
            .nodes(later - Duration::seconds(10), later)
            .await
            .unwrap();
        assert_eq!((nodes[0].alive, nodes[0].replays), (false, 0), "{}", b.name);
        // A heartbeat forgets nodes silent for longer than asked.
        let much_later = now + Duration::days(2);
        sqlx_insert_node(&b, "node_old", now).await;
        b.store
            .heartbeat(&beat(much_later, 0), much_later - Duration::days(1))
            .await
            .unwrap();
        let names: Vec<String> = b
            .store
            .nodes(much_later, much_later)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(names, [b.store.node().to_owned()], "{}", b.name);
        // Leaving removes the row and the replay lease.
        b.store.leave().await.unwrap();
        assert!(
            b.store.nodes(now, now).await.unwrap().is_empty(),
            "{}",
            b.name
        );
        let other_node_now = b.store.active_replays().await.unwrap();
        assert_eq!(other_node_now.len(), 1, "{}: the job stays active", b.name);
    }
}

/// A row in `nodes` for a node that last beat at `at`, written directly.
async fn sqlx_insert_node(b: &Backend, name: &str, at: chrono::DateTime<Utc>) {
    let sql = "insert into nodes (name, version, started_at, heartbeat_at, in_flight) values ($1, 'x', $2, $2, 0)";
    if b.name == "sqlite" {
        let raw = sqlx::SqlitePool::connect(&b.url).await.unwrap();
        sqlx::query(sql)
            .bind(name)
            .bind(at.timestamp_millis())
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
    } else {
        let raw = sqlx::PgPool::connect(&b.url).await.unwrap();
        sqlx::query(sql)
            .bind(name)
            .bind(at.timestamp_millis())
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
    }
}

/// A replay job is stepped only by the node whose lease it carries; when
/// that lease runs out another node takes the job over from its cursor, and
/// the first node's steps then change nothing.
#[tokio::test]
async fn a_replay_job_moves_to_another_node_when_its_lease_ends() {
    let all = backends().await;
    let b = postgres(&all);
    let nodes = three_nodes(b).await;
    let (a, other) = (&nodes[0], &nodes[1]);
    let t = tenant_subscribed_to_all(a.as_ref()).await;
    let now = Utc::now();
    a.ingest(t.id, (0..10).map(|_| event("a.b", None)).collect(), now)
        .await
        .unwrap();
    let job = running_replay(a.as_ref(), t.id).await;
    let lease = Duration::seconds(10);

    assert_eq!(a.lease_replays(now, now + lease).await.unwrap().len(), 1);
    assert!(
        other
            .lease_replays(now, now + lease)
            .await
            .unwrap()
            .is_empty(),
        "a job held by a live lease is not taken"
    );
    let refused = other.replay_step(job.id, 3, now).await.unwrap();
    assert_eq!((refused.running, refused.events), (false, 0));
    let stepped = a.replay_step(job.id, 3, now).await.unwrap();
    assert_eq!((stepped.running, stepped.events), (true, 3));

    // node_a falls silent: once its lease has run out, node_b takes the job.
    let later = now + Duration::seconds(11);
    let taken = other.lease_replays(later, later + lease).await.unwrap();
    assert_eq!(taken.len(), 1, "the job moves to node_b");
    assert!(
        a.lease_replays(later, later + lease)
            .await
            .unwrap()
            .is_empty(),
        "node_a does not get it back while node_b holds it"
    );
    let stale = a.replay_step(job.id, 3, later).await.unwrap();
    assert_eq!(
        (stale.running, stale.events),
        (false, 0),
        "node_a's step changes nothing"
    );
    let mut taken_events = 3;
    loop {
        let step = other.replay_step(job.id, 3, later).await.unwrap();
        assert!(step.running);
        taken_events += step.events;
        if step.scan_done {
            break;
        }
    }
    assert_eq!(taken_events, 10, "node_b resumes from node_a's cursor");
    let after = other.get_replay(None, job.id).await.unwrap().unwrap();
    assert_eq!((after.dispatched, after.deliveries), (10, 10));

    // A node that leaves gives its jobs up at once.
    other.leave().await.unwrap();
    assert_eq!(
        nodes[2]
            .lease_replays(later, later + lease)
            .await
            .unwrap()
            .len(),
        1,
        "node_c takes the job without waiting for the lease"
    );
}

/// Three nodes claiming at once from one endpoint never hold more of its
/// deliveries in flight than its limit, counted over all of them.
#[tokio::test]
async fn claims_on_several_nodes_hold_an_endpoints_limit_together() {
    let all = backends().await;
    let b = postgres(&all);
    const LIMIT: u32 = 3;
    const EVENTS: usize = 120;
    let nodes = three_nodes(b).await;
    let t = tenant_subscribed_to_all(nodes[0].as_ref()).await;
    nodes[0]
        .ingest(
            t.id,
            (0..EVENTS).map(|_| event("a.b", None)).collect(),
            Utc::now(),
        )
        .await
        .unwrap();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let most = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for node in &nodes {
        let (node, done, most) = (node.clone(), done.clone(), most.clone());
        workers.push(tokio::spawn(async move {
            while done.load(std::sync::atomic::Ordering::SeqCst) < EVENTS {
                let now = Utc::now();
                // The dispatcher asks to claim ahead (4 times the limit).
                let claimed = node
                    .claim_due(now, now + Duration::seconds(60), 50, LIMIT, 4)
                    .await
                    .unwrap();
                let held = node.gauges(now).await.unwrap().in_flight;
                most.fetch_max(held, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                if claimed.is_empty() {
                    continue;
                }
                let receipts = claimed
                    .iter()
                    .map(|c| {
                        super::delivery::receipt(c, herald_engine::store::AfterAttempt::Succeeded)
                    })
                    .collect();
                node.record_attempts(receipts).await.unwrap();
                done.fetch_add(claimed.len(), std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    tokio::time::timeout(std::time::Duration::from_secs(120), async {
        for w in workers {
            w.await.unwrap();
        }
    })
    .await
    .expect("every delivery is claimed and settled");
    assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), EVENTS);
    let most = most.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        most <= u64::from(LIMIT),
        "at most {LIMIT} in flight across the nodes, saw {most}"
    );
    assert!(most >= 1, "the sampling saw the work");
}

/// Claims, hand-backs and claims again change only the queue of live work:
/// the delivery's record keeps its row version (`xmin`) until an attempt
/// ends, and a delivery that ended leaves the queue, so the history does not
/// bloat with claims and the queue holds pending and in-flight work only.
#[tokio::test]
async fn claims_change_only_the_queue_and_an_ended_delivery_leaves_it() {
    use herald_engine::store::AfterAttempt;
    let all = backends().await;
    let b = postgres(&all);
    let (t, _) = tenant_with_endpoint(b, Semantics::AtLeastOnce).await;
    let now = Utc::now();
    b.store
        .ingest(t.id, vec![event("a.b", None), event("a.c", None)], now)
        .await
        .unwrap();
    let db = sqlx::PgPool::connect(&b.url).await.unwrap();
    let versions = || async {
        sqlx::query_as::<_, (String, String, String)>(
            "select id, xmin::text, state from delivery_records order by id",
        )
        .fetch_all(&db)
        .await
        .unwrap()
    };
    let queue = || async {
        sqlx::query_as::<_, (String, String)>(
            "select delivery_id, state from delivery_queue order by delivery_id",
        )
        .fetch_all(&db)
        .await
        .unwrap()
    };
    let made = versions().await;
    assert_eq!(made.len(), 2);
    assert_eq!(queue().await.len(), 2, "both deliveries are live");

    let lease = now + Duration::seconds(600);
    let first = b.store.claim_due(now, lease, 2, 100, 1).await.unwrap();
    assert_eq!(first.len(), 2);
    let claims: Vec<_> = first.iter().map(|c| (c.id, c.claim)).collect();
    b.store.release(&claims, now).await.unwrap();
    let again = b.store.claim_due(now, lease, 2, 100, 1).await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(
        queue().await.iter().all(|(_, s)| s == "in_flight"),
        "the queue says in flight"
    );
    assert_eq!(
        versions().await,
        made,
        "two claims and a hand-back left the records as they were made"
    );
    // The view shows what the two tables hold together.
    let shown: Vec<String> = sqlx::query_scalar("select state from deliveries order by id")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(shown, ["in_flight", "in_flight"]);

    // One succeeds, one is to be tried again.
    let recorded = b
        .store
        .record_attempts(vec![
            super::delivery::receipt(&again[0], AfterAttempt::Succeeded),
            super::delivery::receipt(&again[1], AfterAttempt::RetryAt(now + Duration::hours(1))),
        ])
        .await
        .unwrap();
    assert_eq!(recorded.len(), 2);
    let after = versions().await;
    assert!(
        after.iter().zip(&made).all(|(a, m)| a.1 != m.1),
        "an attempt that ended wrote each record once: {after:?}"
    );
    let ended = again[0].id.to_string();
    let retried = again[1].id.to_string();
    assert_eq!(
        queue().await,
        [(retried.clone(), "pending".to_string())],
        "the succeeded delivery left the queue; the retried one waits there"
    );
    let states: Vec<(String, String)> =
        sqlx::query_as("select id, state from deliveries order by id")
            .fetch_all(&db)
            .await
            .unwrap();
    let mut expected = vec![
        (ended, "succeeded".to_string()),
        (retried.clone(), "pending".to_string()),
    ];
    expected.sort();
    assert_eq!(states, expected);
    // Claimed again, the retried delivery has a token neither of its earlier
    // claims had: a late receipt under the first one is refused.
    let third = b
        .store
        .claim_due(
            now + Duration::hours(2),
            now + Duration::hours(3),
            2,
            100,
            1,
        )
        .await
        .unwrap();
    assert_eq!(third.len(), 1);
    let stale = first.iter().find(|c| c.id == third[0].id).unwrap();
    assert_ne!(stale.claim, third[0].claim);
    let late = b
        .store
        .record_attempts(vec![super::delivery::receipt(
            stale,
            AfterAttempt::Succeeded,
        )])
        .await
        .unwrap();
    assert!(
        matches!(late[0], herald_engine::store::Recorded::Refused),
        "a receipt under an old claim changes nothing"
    );
    assert_eq!(queue().await, [(retried, "in_flight".to_string())]);
    db.close().await;
}
