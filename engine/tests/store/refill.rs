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

        let (recorded, refilled) = b
            .store
            .record_and_refill(
                vec![receipt(&claimed[0], AfterAttempt::Succeeded)],
                now,
                lease,
                2,
            )
            .await
            .unwrap();
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
        let (_, refilled) = b
            .store
            .record_and_refill(
                vec![
                    receipt(&held[0], AfterAttempt::RetryAt(now + Duration::hours(1))),
                    receipt(&held[1], AfterAttempt::Succeeded),
                ],
                now,
                lease,
                1,
            )
            .await
            .unwrap();
        assert_eq!(
            events_of(&refilled),
            ids[3..4],
            "the limit of one leaves room for one"
        );
        assert_eq!(in_flight().await, 1);
        held = refilled;

        // A refused receipt frees nothing, so refills nothing.
        let (recorded, refilled) = b
            .store
            .record_and_refill(
                vec![receipt(&claimed[0], AfterAttempt::Succeeded)],
                now,
                lease,
                2,
            )
            .await
            .unwrap();
        assert_eq!(recorded, [Recorded::Refused]);
        assert!(refilled.is_empty(), "a stale claim frees no slot");
        assert_eq!(in_flight().await, 1);

        // The last one due; the retried delivery is not due for an hour.
        let (_, refilled) = b
            .store
            .record_and_refill(
                vec![receipt(&held[0], AfterAttempt::Succeeded)],
                now,
                lease,
                2,
            )
            .await
            .unwrap();
        assert_eq!(events_of(&refilled), ids[4..5]);
        let (_, refilled) = b
            .store
            .record_and_refill(
                vec![receipt(&refilled[0], AfterAttempt::Succeeded)],
                now,
                lease,
                2,
            )
            .await
            .unwrap();
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

/// A node takes no more than its share of an endpoint's slots (the limit
/// over the live nodes, rounded up), by claim or by refill, so the
/// endpoint's work spreads over the nodes; when nodes stop beating, the
/// shares of the live ones grow.
#[tokio::test]
async fn an_endpoints_slots_are_shared_among_the_live_nodes() {
    use herald_engine::store::Heartbeat;
    let all = backends().await;
    let b = postgres(&all);
    const LIMIT: u32 = 6;
    let nodes = three_nodes(b).await;
    let t = tenant_subscribed_to_all(nodes[0].as_ref()).await;
    let now = Utc::now();
    nodes[0]
        .ingest(t.id, (0..20).map(|_| event("a.b", None)).collect(), now)
        .await
        .unwrap();
    let beat = |at| Heartbeat {
        version: "test".into(),
        started_at: at,
        now: at,
        in_flight: 0,
    };
    for node in &nodes {
        node.heartbeat(&beat(now), now - Duration::days(1))
            .await
            .unwrap();
    }
    let lease = now + Duration::seconds(600);
    let mut held = Vec::new();
    for node in &nodes {
        let claimed = node.claim_due(now, lease, 50, LIMIT, 1).await.unwrap();
        assert_eq!(claimed.len(), 2, "{}: a third of the slots", node.node());
        held.push(claimed);
    }
    assert!(
        nodes[0]
            .claim_due(now, lease, 50, LIMIT, 1)
            .await
            .unwrap()
            .is_empty(),
        "the limit is full"
    );
    // node_a's receipts refill its own share, no more.
    let receipts = held[0]
        .iter()
        .map(|c| receipt(c, AfterAttempt::Succeeded))
        .collect();
    let (_, refilled) = nodes[0]
        .record_and_refill(receipts, now, lease, LIMIT)
        .await
        .unwrap();
    assert_eq!(refilled.len(), 2);
    held[0] = refilled;

    // node_b and node_c go quiet and their deliveries end: node_a, the only
    // live node, may hold the whole limit.
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let receipts = held[i]
            .iter()
            .map(|c| receipt(c, AfterAttempt::Succeeded))
            .collect();
        node.record_attempts(receipts).await.unwrap();
    }
    let later = now + Duration::seconds(30);
    nodes[0]
        .heartbeat(&beat(later), now - Duration::days(1))
        .await
        .unwrap();
    let claimed = nodes[0]
        .claim_due(later, lease, 50, LIMIT, 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4, "node_a takes the rest of the limit");
}
