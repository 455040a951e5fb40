//! Pull inboxes as every backend keeps them: the dispatcher never claims an
//! inbox's deliveries; consumers lease them, each message to one; a lease's
//! end is an attempt (acknowledged, or failed and due again, or dead); a
//! lease that runs out is found by the sweep and no other reclaim touches it.

use super::delivery::{endpoint, event, tenant_with};
use super::*;
use herald_engine::inbox::{LeaseEnd, lease_outcome};
use herald_engine::model::{DeliveryState, EndpointKind, Semantics};
use herald_engine::retry::RetryPolicy;
use herald_engine::store::{NewEndpoint, Recorded};

fn inbox(max_attempts: u32) -> NewEndpoint {
    NewEndpoint {
        kind: EndpointKind::Inbox,
        url: String::new(),
        retry_policy: RetryPolicy {
            max_attempts,
            ..RetryPolicy::default()
        },
        ..endpoint(&["*"], Semantics::AtLeastOnce)
    }
}

#[tokio::test]
async fn consumers_lease_each_message_once_and_a_lease_ends_as_an_attempt() {
    for b in backends().await {
        let (t, ep) = tenant_with(&b, inbox(2)).await;
        let now = Utc::now();
        b.store
            .ingest(
                t.id,
                (0..5).map(|_| event("job.created", None)).collect(),
                now,
            )
            .await
            .unwrap();
        assert!(
            claim_due_now(&b, now).await.is_empty(),
            "{}: the dispatcher never claims an inbox's deliveries",
            b.name
        );

        let until = now + Duration::seconds(30);
        let a = b
            .store
            .lease_inbox(t.id, ep.id, "a", now, until, 3)
            .await
            .unwrap();
        let c = b
            .store
            .lease_inbox(t.id, ep.id, "b", now, until, 3)
            .await
            .unwrap();
        assert_eq!((a.len(), c.len()), (3, 2), "{}", b.name);
        assert!(
            b.store
                .lease_inbox(t.id, ep.id, "a", now, until, 3)
                .await
                .unwrap()
                .is_empty(),
            "{}: all leased",
            b.name
        );
        let mut ids: Vec<_> = a.iter().chain(&c).map(|m| m.id).collect();
        ids.sort_by_key(ToString::to_string);
        ids.dedup();
        assert_eq!(ids.len(), 5, "{}: each message to one consumer", b.name);

        // No reclaim of dispatcher leases touches an inbox's.
        b.store
            .reclaim_expired(now + Duration::hours(1), now)
            .await
            .unwrap();
        let held = b.store.inbox_leases(t.id, ep.id, &ids).await.unwrap();
        assert_eq!(held.len(), 5, "{}", b.name);
        assert_eq!(
            held[0].1.timestamp_millis(),
            now.timestamp_millis(),
            "{}: when the lease began",
            b.name
        );

        // A's three are acknowledged.
        let acked: Vec<_> = held
            .iter()
            .filter(|(m, _)| a.iter().any(|x| x.id == m.id))
            .map(|(m, at)| lease_outcome(m, *at, LeaseEnd::Acked, Some("a"), now, 0.5))
            .collect();
        let recorded = b.store.record_attempts(acked).await.unwrap();
        assert!(
            recorded
                .iter()
                .all(|r| matches!(r, Recorded::Applied { .. })),
            "{}",
            b.name
        );

        // B's two run out: the sweep finds them, they are visible again.
        let later = now + Duration::seconds(31);
        assert!(
            b.store
                .expired_inbox_leases(now, 100)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            b.name
        );
        let expired = b.store.expired_inbox_leases(later, 100).await.unwrap();
        assert_eq!(expired.len(), 2, "{}", b.name);
        let outcomes = expired
            .iter()
            .map(|(m, at)| lease_outcome(m, *at, LeaseEnd::Expired, None, later, 0.5))
            .collect();
        b.store.record_attempts(outcomes).await.unwrap();
        let state = b.store.inbox_state(t.id, ep.id, later).await.unwrap();
        assert_eq!((state.ready, state.leased), (2, 0), "{}: {state:?}", b.name);
        let names: Vec<&str> = state.consumers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), 2, "{}: {names:?}", b.name);

        // Leased again (attempt 2), they run out again: the policy is spent.
        let again = b
            .store
            .lease_inbox(t.id, ep.id, "a", later, later + Duration::seconds(30), 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 2, "{}", b.name);
        assert!(again.iter().all(|m| m.attempts == 1), "{}", b.name);
        let last = later + Duration::seconds(31);
        let expired = b.store.expired_inbox_leases(last, 100).await.unwrap();
        let outcomes = expired
            .iter()
            .map(|(m, at)| lease_outcome(m, *at, LeaseEnd::Expired, None, last, 0.5))
            .collect();
        let recorded = b.store.record_attempts(outcomes).await.unwrap();
        assert!(
            recorded.iter().all(|r| matches!(
                r,
                Recorded::Applied {
                    dead_lettered: true
                }
            )),
            "{}: {recorded:?}",
            b.name
        );
        let state = b.store.inbox_state(t.id, ep.id, last).await.unwrap();
        assert_eq!(
            (state.ready, state.delayed, state.leased, state.oldest_at),
            (0, 0, 0, None),
            "{}",
            b.name
        );
        let detail = b
            .store
            .event_detail(t.id, again[0].event_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            detail.deliveries[0].state,
            DeliveryState::Dead,
            "{}",
            b.name
        );
        assert_eq!(
            detail.deliveries[0].attempt_log.len(),
            2,
            "{}: one receipt per lease",
            b.name
        );
    }
}

#[tokio::test]
async fn a_late_settlement_of_an_ended_lease_changes_nothing() {
    for b in backends().await {
        let (t, ep) = tenant_with(&b, inbox(5)).await;
        let now = Utc::now();
        b.store
            .ingest(t.id, vec![event("job.created", None)], now)
            .await
            .unwrap();
        let first = b
            .store
            .lease_inbox(t.id, ep.id, "a", now, now + Duration::seconds(5), 1)
            .await
            .unwrap();
        let held = b
            .store
            .inbox_leases(t.id, ep.id, &[first[0].id])
            .await
            .unwrap();
        let later = now + Duration::seconds(6);
        let expired = b.store.expired_inbox_leases(later, 10).await.unwrap();
        b.store
            .record_attempts(vec![lease_outcome(
                &expired[0].0,
                expired[0].1,
                LeaseEnd::Expired,
                None,
                later,
                0.5,
            )])
            .await
            .unwrap();
        let second = b
            .store
            .lease_inbox(t.id, ep.id, "b", later, later + Duration::seconds(5), 1)
            .await
            .unwrap();
        assert_eq!(second.len(), 1, "{}", b.name);
        // A's acknowledgement of its ended lease is refused: B holds it now.
        let late = lease_outcome(
            &held[0].0,
            held[0].1,
            LeaseEnd::Acked,
            Some("a"),
            later,
            0.5,
        );
        assert_eq!(
            b.store.record_attempts(vec![late]).await.unwrap(),
            vec![Recorded::Refused],
            "{}",
            b.name
        );
        assert_eq!(
            b.store
                .inbox_leases(t.id, ep.id, &[second[0].id])
                .await
                .unwrap()
                .len(),
            1,
            "{}",
            b.name
        );
    }
}
