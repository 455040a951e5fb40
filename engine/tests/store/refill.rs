//! Receipts that refill the slots they free (`record_and_refill`): on
//! PostgreSQL the receipt's transaction leases the endpoint's next due
//! deliveries, never more than it freed and never past the endpoint's limit;
//! SQLite's claims run ahead of the slots instead, so it records and refills
//! nothing.

use chrono::DateTime;

use super::delivery::{event, receipt, tenant_with_endpoint};
use super::nodes::{postgres, tenant_subscribed_to_all, three_nodes};
use super::*;
use herald_engine::model::{EventId, Semantics, TenantId};
use herald_engine::store::{AfterAttempt, Claimed, Ingested, Recorded};

/// Publishes one event per millisecond from `t0`, so they fall due in order;
/// their ids in that order.
async fn publish_in_order(
    b: &Backend,
    tenant: TenantId,
    n: i64,
    t0: DateTime<Utc>,
) -> Vec<EventId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let made = b
            .store
            .ingest(
                tenant,
                vec![event("a.b", None)],
                t0 + Duration::milliseconds(i),
            )
            .await
            .unwrap();
        match &made[0] {
            Ingested::Created { event, .. } => ids.push(event.id),
            other => panic!("{}: a new event, got {other:?}", b.name),
        }
    }
    ids
}

/// Records every one of `held` as answered 2xx at `at`; what the receipts
/// refilled.
async fn answered(
    node: &dyn herald_engine::store::Store,
    held: &[Claimed],
    at: DateTime<Utc>,
    lease: DateTime<Utc>,
    limit: u32,
) -> Vec<Claimed> {
    let receipts = held
        .iter()
        .map(|c| receipt(c, AfterAttempt::Succeeded))
        .collect();
    let (recorded, refilled) = node
        .record_and_refill(receipts, at, lease, limit)
        .await
        .unwrap();
    assert_eq!(recorded.len(), held.len());
    refilled
}

fn events_of(claims: &[Claimed]) -> Vec<EventId> {
    claims.iter().map(|c| c.event_id).collect()
}

#[tokio::test]
async fn a_receipt_refills_the_slots_it_frees_and_no_more() {
    for b in backends().await {
        let (t, _) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let t0 = Utc::now() - Duration::seconds(10);
        let ids = publish_in_order(&b, t.id, 5, t0).await;
        let (now, lease) = (Utc::now(), Utc::now() + Duration::seconds(600));
        // Two slots; PostgreSQL claims no further ahead than them.
        let claimed = b.store.claim_due(now, lease, 50, 2, 1).await.unwrap();
        assert_eq!(events_of(&claimed), ids[..2], "{}", b.name);
        let in_flight = || async { b.store.gauges(Utc::now()).await.unwrap().in_flight };
        let store = &b.store;
        let refill = |receipts, limit| async move {
            store
                .record_and_refill(receipts, now, lease, limit)
                .await
                .unwrap()
        };

        let (recorded, refilled) =
            refill(vec![receipt(&claimed[0], AfterAttempt::Succeeded)], 2).await;
        assert_eq!(
            recorded,
            [Recorded::Applied {
                dead_lettered: false
            }],
            "{}: the receipt is recorded either way",
            b.name
        );
        if !b.store.refills() {
            assert!(refilled.is_empty(), "{}: refills nothing", b.name);
            assert_eq!(in_flight().await, 1, "{}", b.name);
            continue;
        }
        assert_eq!(
            events_of(&refilled),
            ids[2..3],
            "{}: the next due delivery",
            b.name
        );
        assert_eq!(in_flight().await, 2, "one ended, one leased in its place");
        let mut held = vec![claimed[1].clone(), refilled[0].clone()];

        // Two slots freed under a limit lowered to one: one refill.
        let (_, refilled) = refill(
            vec![
                receipt(&held[0], AfterAttempt::RetryAt(now + Duration::hours(1))),
                receipt(&held[1], AfterAttempt::Succeeded),
            ],
            1,
        )
        .await;
        assert_eq!(
            events_of(&refilled),
            ids[3..4],
            "the limit of one leaves room for one"
        );
        assert_eq!(in_flight().await, 1);
        held = refilled;

        // A refused receipt frees nothing, so refills nothing.
        let (recorded, refilled) =
            refill(vec![receipt(&claimed[0], AfterAttempt::Succeeded)], 2).await;
        assert_eq!(recorded, [Recorded::Refused]);
        assert!(refilled.is_empty(), "a stale claim frees no slot");
        assert_eq!(in_flight().await, 1);

        // The last one due; the retried delivery is not due for an hour.
        let (_, refilled) = refill(vec![receipt(&held[0], AfterAttempt::Succeeded)], 2).await;
        assert_eq!(events_of(&refilled), ids[4..5]);
        let (_, refilled) = refill(vec![receipt(&refilled[0], AfterAttempt::Succeeded)], 2).await;
        assert!(refilled.is_empty(), "nothing else is due");
        let gauges = b.store.gauges(Utc::now()).await.unwrap();
        assert_eq!(
            (gauges.in_flight, gauges.due, gauges.scheduled),
            (0, 0, 1),
            "only the retry is left, waiting"
        );
    }
}

/// Three nodes claiming and refilling at once from one endpoint never hold
/// more of its deliveries in flight than its limit, counted over all of
/// them, and every delivery is sent once.
#[tokio::test]
async fn claims_and_refills_on_several_nodes_hold_an_endpoints_limit_together() {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let all = backends().await;
    let b = postgres(&all);
    const LIMIT: u32 = 3;
    const EVENTS: usize = 150;
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
    let (done, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicU64::new(0)));
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for node in &nodes {
        let (node, done, most, sent) = (node.clone(), done.clone(), most.clone(), sent.clone());
        workers.push(tokio::spawn(async move {
            let mut held: Vec<Claimed> = Vec::new();
            while done.load(Ordering::SeqCst) < EVENTS {
                let now = Utc::now();
                let lease = now + Duration::seconds(60);
                held = if held.is_empty() {
                    node.claim_due(now, lease, 50, LIMIT, 4).await.unwrap()
                } else {
                    // Every held delivery "answered": its receipt refills.
                    sent.lock().unwrap().extend(held.iter().map(|c| c.id));
                    let receipts = held
                        .iter()
                        .map(|c| receipt(c, AfterAttempt::Succeeded))
                        .collect();
                    let (recorded, refilled) = node
                        .record_and_refill(receipts, now, lease, LIMIT)
                        .await
                        .unwrap();
                    done.fetch_add(recorded.len(), Ordering::SeqCst);
                    refilled
                };
                let in_flight = node.gauges(now).await.unwrap().in_flight;
                most.fetch_max(in_flight, Ordering::SeqCst);
                if held.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
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
    let mut sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), EVENTS, "each delivery sent once");
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), EVENTS, "no delivery sent twice");
    let most = most.load(Ordering::SeqCst);
    assert!(
        most <= u64::from(LIMIT),
        "at most {LIMIT} in flight across the nodes, saw {most}"
    );
    assert!(most >= 1, "the sampling saw the work");
}

/// Each endpoint is served by one live node (its owner): only the owner
/// claims or refills the endpoint's deliveries, and the endpoints spread
/// over the nodes. When a node stops beating, its endpoints move to the
/// others and no other endpoint moves; what the silent node still holds
/// counts against the limit until it ends. When it beats again, the same
/// endpoints come back to it, and the nodes that held them meanwhile no
/// longer refill them.
#[tokio::test]
async fn each_endpoint_is_served_by_one_live_node_and_moves_when_its_owner_stops_beating() {
    use herald_engine::model::EndpointId;
    use herald_engine::store::Heartbeat;
    use std::collections::{BTreeMap, BTreeSet};
    let all = backends().await;
    let b = postgres(&all);
    const ENDPOINTS: usize = 12;
    const LIMIT: u32 = 1;
    let nodes = three_nodes(b).await;
    let t = nodes[0]
        .ensure_tenant(DEFAULT_TENANT, "Default")
        .await
        .unwrap();
    for i in 0..ENDPOINTS {
        let pattern = format!("e{i}.x");
        nodes[0]
            .create_endpoint(
                t.id,
                super::delivery::endpoint(&[pattern.as_str()], Semantics::AtLeastOnce),
                &audit(),
            )
            .await
            .unwrap();
    }
    let publish_round = |at: DateTime<Utc>| {
        let store = nodes[0].clone();
        async move {
            let events = (0..ENDPOINTS)
                .map(|i| event(&format!("e{i}.x"), None))
                .collect();
            store.ingest(t.id, events, at).await.unwrap();
        }
    };
    let beat = |at| Heartbeat {
        version: "test".into(),
        started_at: at,
        now: at,
        in_flight: 0,
    };
    let endpoints_of = |claims: &[Claimed]| -> BTreeSet<EndpointId> {
        claims.iter().map(|c| c.endpoint_id).collect()
    };
    let now = Utc::now();
    publish_round(now).await;
    for node in &nodes {
        node.heartbeat(&beat(now), now - Duration::days(1))
            .await
            .unwrap();
    }
    let lease = now + Duration::seconds(600);
    let mut held = Vec::new();
    let mut owner = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let claimed = node.claim_due(now, lease, 50, LIMIT, 1).await.unwrap();
        for e in endpoints_of(&claimed) {
            assert!(owner.insert(e, i).is_none(), "{e}: claimed by two nodes");
        }
        held.push(claimed);
    }
    assert_eq!(owner.len(), ENDPOINTS, "every endpoint is served");
    let serving: BTreeSet<usize> = owner.values().copied().collect();
    assert!(
        serving.len() >= 2,
        "{ENDPOINTS} endpoints spread over the nodes, not all on one: {owner:?}"
    );

    // A node that serves endpoints goes silent, holding its deliveries.
    let silent = *serving.iter().next().unwrap();
    let later = now + Duration::seconds(30);
    publish_round(later).await;
    for (i, node) in nodes.iter().enumerate() {
        if i != silent {
            node.heartbeat(&beat(later), now - Duration::days(1))
                .await
                .unwrap();
        }
    }
    let lease = later + Duration::seconds(600);
    let mut moved = BTreeMap::new();
    let mut holding: Vec<Vec<Claimed>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        if i == silent {
            continue;
        }
        // The live nodes' receipts refill their own endpoints, as before.
        let refilled = answered(node.as_ref(), &held[i], later, lease, LIMIT).await;
        assert_eq!(
            endpoints_of(&refilled),
            endpoints_of(&held[i]),
            "node {i} keeps its endpoints"
        );
        holding[i] = refilled;
        // The silent node's endpoints are full while it holds their deliveries.
        assert!(
            node.claim_due(later, lease, 50, LIMIT, 1)
                .await
                .unwrap()
                .is_empty(),
            "node {i}: the silent node's deliveries still count against the limit"
        );
    }
    // Its deliveries end (answered before it went silent, or leases run out).
    let receipts = held[silent]
        .iter()
        .map(|c| receipt(c, AfterAttempt::Succeeded))
        .collect();
    nodes[silent].record_attempts(receipts).await.unwrap();
    for (i, node) in nodes.iter().enumerate() {
        if i == silent {
            continue;
        }
        let took = node.claim_due(later, lease, 50, LIMIT, 1).await.unwrap();
        for e in endpoints_of(&took) {
            assert!(moved.insert(e, i).is_none(), "{e}: taken over twice");
        }
        holding[i].extend(took);
    }
    assert_eq!(
        moved.keys().copied().collect::<BTreeSet<_>>(),
        endpoints_of(&held[silent]),
        "exactly the silent node's endpoints move to the live ones"
    );

    // The silent node beats again: its endpoints come back to it. The nodes
    // that took them over refill only their own.
    let again = later + Duration::seconds(1);
    publish_round(again).await;
    for node in &nodes {
        node.heartbeat(&beat(again), now - Duration::days(1))
            .await
            .unwrap();
    }
    for (i, node) in nodes.iter().enumerate() {
        if i == silent {
            continue;
        }
        let refilled = answered(node.as_ref(), &holding[i], again, lease, LIMIT).await;
        assert_eq!(
            endpoints_of(&refilled),
            endpoints_of(&held[i]),
            "node {i} refills its own endpoints and none it took over"
        );
    }
    let back = nodes[silent]
        .claim_due(again, lease, 50, LIMIT, 1)
        .await
        .unwrap();
    assert_eq!(
        endpoints_of(&back),
        endpoints_of(&held[silent]),
        "the node that beats again serves its endpoints again"
    );
}
