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

        // Twice each endpoint's concurrency (its own 2, else the default 3)
        // on the one SQLite node; on PostgreSQL, where the limit holds across
        // nodes, never more than the limit itself.
        let claimed = b.store.claim_due(now, lease, 100, 3, 2).await.unwrap();
        let to = |id| claimed.iter().filter(|c| c.endpoint_id == id).count();
        let ahead = if b.store.capabilities().single_node {
            2
        } else {
            1
        };
        assert_eq!(
            (to(own.id), to(default.id)),
            (2 * ahead, 3 * ahead),
            "{}",
            b.name
        );
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

#[tokio::test]
async fn a_claim_takes_turns_and_reads_an_endpoints_backlog_as_far_as_its_turns_reach() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        let mut made = Vec::new();
        for pattern in ["long.*", "one.*", "other.*"] {
            made.push(
                b.store
                    .create_endpoint(t.id, endpoint(&[pattern], Semantics::AtLeastOnce), &audit())
                    .await
                    .unwrap(),
            );
        }
        // All due at the same millisecond: the order within it is the order
        // of ingest, and reading on past the first rows of the long backlog
        // has to continue within that same due time.
        let now = Utc::now();
        let events = (0..10)
            .map(|_| event("long.x", None))
            .chain([event("one.x", None), event("other.x", None)])
            .collect();
        let ingested = b.store.ingest(t.id, events, now).await.unwrap();
        let long_events: Vec<_> = ingested[..10].iter().map(|i| i.event().id).collect();
        let lease = now + Duration::seconds(60);

        let claimed = b.store.claim_due(now, lease, 8, 100, 1).await.unwrap();
        let to = |i: usize| {
            claimed
                .iter()
                .filter(|c| c.endpoint_id == made[i].id)
                .count()
        };
        assert_eq!(
            (to(0), to(1), to(2), claimed.len()),
            (6, 1, 1, 8),
            "{}: one each in the first turn, then the long backlog alone",
            b.name
        );
        let taken: Vec<_> = claimed
            .iter()
            .filter(|c| c.endpoint_id == made[0].id)
            .map(|c| c.event_id)
            .collect();
        assert_eq!(
            taken,
            long_events[..6],
            "{}: the oldest six, oldest first, none twice",
            b.name
        );
        let rest = b.store.claim_due(now, lease, 8, 100, 1).await.unwrap();
        assert_eq!(
            rest.iter().map(|c| c.event_id).collect::<Vec<_>>(),
            long_events[6..],
            "{}: the next claim goes on where this one stopped",
            b.name
        );
    }
}
