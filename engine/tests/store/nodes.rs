//! What several Herald nodes on one PostgreSQL database tell each other.

use super::delivery::{event, tenant_with_endpoint};
use super::*;
use herald_engine::model::Semantics;

/// A publish committed through one store wakes every other store on the
/// database once per commit, however many events and deliveries it made.
#[tokio::test]
async fn a_commit_on_one_node_wakes_the_others_once() {
    let all = backends().await;
    let Some(b) = all.iter().find(|b| b.name == "postgres") else {
        panic!("needs PostgreSQL (HERALD_TEST_POSTGRES=skip leaves it out by name)");
    };
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
    let Some(b) = all.iter().find(|b| b.name == "postgres") else {
        panic!("needs PostgreSQL (HERALD_TEST_POSTGRES=skip leaves it out by name)");
    };
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
    let t = a.ensure_tenant(DEFAULT_TENANT, "Default").await.unwrap();
    a.create_endpoint(
        t.id,
        super::delivery::endpoint(&["*"], Semantics::AtLeastOnce),
        &audit(),
    )
    .await
    .unwrap();
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
