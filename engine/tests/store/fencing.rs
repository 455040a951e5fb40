//! Claims that are no longer held and a publish that fails part way: what
//! every backend refuses or undoes.

use super::*;
use herald_engine::model::{DlqQuery, EventQuery, Semantics};
use herald_engine::store::{AfterAttempt, Recorded, Settled};

use super::delivery::{event, published, receipt, tenant_with_endpoint};

#[tokio::test]
async fn a_receipt_from_a_claim_no_longer_held_is_refused() {
    for b in backends().await {
        let (t, _, now) = published(&b, &["a.b"]).await;
        let lease = now + Duration::seconds(60);
        // The first worker's lease runs out mid-request; a second worker
        // claims the delivery again and succeeds.
        let stale = claim_due_now(&b, now).await.remove(0);
        let settled = b
            .store
            .reclaim_expired(lease + Duration::seconds(1), now)
            .await
            .unwrap();
        assert_eq!(settled.requeued, 1, "{}", b.name);
        let fresh = claim_due_now(&b, now).await.remove(0);
        assert_eq!(fresh.id, stale.id);
        assert_ne!(
            fresh.claim, stale.claim,
            "{}: a new claim, a new token",
            b.name
        );
        let recorded = b
            .store
            .record_attempts(vec![receipt(&fresh, AfterAttempt::Succeeded)])
            .await
            .unwrap();
        assert_eq!(
            recorded,
            vec![Recorded::Applied {
                dead_lettered: false
            }]
        );

        // The first worker finally reports a failure that would park the
        // delivery in the DLQ: refused, and the success stands.
        let late = receipt(
            &stale,
            AfterAttempt::Dead {
                reason: "late".into(),
            },
        );
        let recorded = b.store.record_attempts(vec![late]).await.unwrap();
        assert_eq!(recorded, vec![Recorded::Refused], "{}", b.name);
        let detail = b
            .store
            .event_detail(t.id, fresh.event_id)
            .await
            .unwrap()
            .unwrap();
        let delivery = &detail.deliveries[0];
        assert_eq!(
            delivery.state,
            herald_engine::model::DeliveryState::Succeeded,
            "{}",
            b.name
        );
        assert_eq!(delivery.attempt_log.len(), 1, "{}: one receipt", b.name);
        assert_eq!(
            b.store.dlq_count(t.id, &DlqQuery::default()).await.unwrap(),
            0,
            "{}",
            b.name
        );
        // Nor can the stale worker abandon or hand back what it no longer holds.
        assert!(
            !b.store
                .abandon(stale.id, stale.claim, "late")
                .await
                .unwrap(),
            "{}",
            b.name
        );
        assert_eq!(
            b.store
                .hand_back(&[(stale.id, stale.claim)], now)
                .await
                .unwrap(),
            Settled::default(),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn a_lone_publish_that_fails_part_way_changes_nothing() {
    for b in backends().await {
        let (t, _) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        // The failure is injected into the last write of the request,
        // after its events and deliveries are written.
        b.refuse_inserts("event_type_stats", Some("boom.fail"))
            .await;
        let now = Utc::now();
        let failed = b
            .store
            .ingest(
                t.id,
                vec![event("ok.first", None), event("boom.fail", None)],
                now,
            )
            .await;
        assert!(failed.is_err(), "{}: the injected failure surfaces", b.name);
        let stored = b
            .store
            .list_events(t.id, &EventQuery::default(), 10)
            .await
            .unwrap();
        assert!(stored.items.is_empty(), "{}: nothing kept", b.name);

        // The tenant's sequence was not left behind its events: later
        // publishes go through and number from 1.
        let out = b
            .store
            .ingest(t.id, vec![event("ok.second", None)], now)
            .await
            .expect("the next publish is not blocked");
        assert_eq!(out[0].event().seq, 1, "{}", b.name);
    }
}
