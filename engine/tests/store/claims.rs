//! Claims: how many deliveries of each endpoint one claim may take.

use super::delivery::{endpoint, event};
use super::*;
use herald_engine::model::Semantics;
use herald_engine::store::NewEndpoint;

#[tokio::test]
async fn a_claim_never_exceeds_an_endpoints_concurrency() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        let busy = b
            .store
            .create_endpoint(
                t.id,
                endpoint(&["busy.*"], Semantics::AtLeastOnce),
                &audit(),
            )
            .await
            .unwrap();
        b.store
            .create_endpoint(
                t.id,
                endpoint(&["calm.*"], Semantics::AtLeastOnce),
                &audit(),
            )
            .await
            .unwrap();
        let now = Utc::now();
        let events = (0..10)
            .map(|_| event("busy.x", None))
            .chain((0..2).map(|_| event("calm.x", None)))
            .collect();
        b.store.ingest(t.id, events, now).await.unwrap();
        let lease = now + Duration::seconds(60);

        let first = b.store.claim_due(now, lease, 100, 3, 1).await.unwrap();
        let to_busy = first.iter().filter(|c| c.endpoint_id == busy.id).count();
        assert_eq!(
            (to_busy, first.len()),
            (3, 5),
            "{}: 3 for the busy endpoint, both calm ones",
            b.name
        );
        // Its three are still in flight: no more for it until they finish.
        assert!(
            b.store
                .claim_due(now, lease, 100, 3, 1)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn a_claim_takes_ahead_by_each_endpoints_own_limit() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        let own = b
            .store
            .create_endpoint(
                t.id,
                NewEndpoint {
                    max_in_flight: Some(2),
                    ..endpoint(&["own.*"], Semantics::AtLeastOnce)
                },
                &audit(),
            )
            .await
            .unwrap();
        let default = b
            .store
            .create_endpoint(
                t.id,
                endpoint(&["default.*"], Semantics::AtLeastOnce),
                &audit(),
            )
            .await
            .unwrap();
        assert_eq!(own.max_in_flight, Some(2), "{}: the limit is shown", b.name);
        assert_eq!(default.max_in_flight, None, "{}", b.name);
        let now = Utc::now();
        let events = (0..20)
            .map(|_| event("own.x", None))
            .chain((0..20).map(|_| event("default.x", None)))
            .collect();
        b.store.ingest(t.id, events, now).await.unwrap();
        let lease = now + Duration::seconds(60);

        // Twice each endpoint's concurrency: its own 2, else the default 3.
        let claimed = b.store.claim_due(now, lease, 100, 3, 2).await.unwrap();
        let to = |id| claimed.iter().filter(|c| c.endpoint_id == id).count();
        assert_eq!((to(own.id), to(default.id)), (4, 6), "{}", b.name);
        assert!(
            claimed
                .iter()
                .all(|c| c.max_in_flight == (c.endpoint_id == own.id).then_some(2)),
            "{}: each claim carries its endpoint's limit",
            b.name
        );
        assert!(
            b.store
                .claim_due(now, lease, 100, 3, 2)
                .await
                .unwrap()
                .is_empty(),
            "{}: both are full until some finish",
            b.name
        );
    }
}
