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
