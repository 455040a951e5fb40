//! Ordered delivery: within a stream a delivery is claimable only once the
//! one before it succeeded or ended; streams do not wait for each other; a
//! dead delivery blocks its stream or is skipped, as the endpoint says.

use super::delivery::{endpoint, event, patch_endpoint, receipt, tenant_with};
use super::*;
use herald_engine::model::{DlqQuery, EndpointPatch, OnDead, OrderingMode, Semantics};
use herald_engine::store::{Actor, AfterAttempt, Claimed, NewEvent};

fn actor() -> Actor {
    Actor("suite".into())
}

/// The default tenant with one endpoint ordered as `ordering`.
async fn ordered(
    b: &Backend,
    ordering: OrderingMode,
    on_dead: OnDead,
) -> (
    herald_engine::model::TenantOut,
    herald_engine::model::EndpointOut,
) {
    let e = herald_engine::store::NewEndpoint {
        ordering,
        on_dead,
        ..endpoint(&["*"], Semantics::AtLeastOnce)
    };
    tenant_with(b, e).await
}

/// An event named by its payload's `n`, in the stream of `key`.
fn keyed(key: Option<&str>, n: u32) -> NewEvent {
    NewEvent {
        payload: format!(r#"{{"n":{n}}}"#),
        ordering_key: key.map(str::to_owned),
        ..event("a.b", None)
    }
}

/// What a claim took, each delivery named by its event's `n`, in order.
fn names(claimed: &[Claimed]) -> Vec<String> {
    let mut n: Vec<String> = claimed
        .iter()
        .map(|c| {
            let v: serde_json::Value = serde_json::from_str(&c.payload).unwrap();
            v["n"].to_string()
        })
        .collect();
    n.sort();
    n
}

async fn settle(b: &Backend, claimed: &Claimed, next: AfterAttempt) {
    let done = b
        .store
        .record_attempts(vec![receipt(claimed, next)])
        .await
        .unwrap();
    assert!(
        matches!(done[0], herald_engine::store::Recorded::Applied { .. }),
        "{}: the receipt counts",
        b.name
    );
}

fn find<'a>(claimed: &'a [Claimed], n: &str) -> &'a Claimed {
    claimed
        .iter()
        .find(|c| c.payload.contains(&format!(r#""n":{n}"#)))
        .unwrap_or_else(|| panic!("event {n} was not claimed"))
}

#[tokio::test]
async fn a_key_stream_sends_one_delivery_at_a_time_and_keys_do_not_wait_for_each_other() {
    for b in backends().await {
        let (t, _) = ordered(&b, OrderingMode::Key, OnDead::Block).await;
        let now = Utc::now();
        let events = vec![
            keyed(Some("A"), 1),
            keyed(Some("B"), 2),
            keyed(Some("A"), 3),
            keyed(Some("A"), 4),
            keyed(Some("B"), 5),
            // No key: not ordered at all.
            keyed(None, 6),
        ];
        b.store.ingest(t.id, events, now).await.unwrap();
        let first = claim_due_now(&b, Utc::now()).await;
        assert_eq!(
            names(&first),
            ["1", "2", "6"],
            "{}: each stream's first, and the unordered one",
            b.name
        );
        // A's first fails and is retried later: nothing of A moves meanwhile.
        let later = now + Duration::seconds(30);
        settle(&b, find(&first, "1"), AfterAttempt::RetryAt(later)).await;
        settle(&b, find(&first, "2"), AfterAttempt::Succeeded).await;
        let during = claim_due_now(&b, now + Duration::seconds(1)).await;
        assert_eq!(
            names(&during),
            ["5"],
            "{}: B goes on while A waits for its retry",
            b.name
        );
        settle(&b, &during[0], AfterAttempt::Succeeded).await;
        let retry = claim_due_now(&b, later).await;
        assert_eq!(names(&retry), ["1"], "{}: A's first, retried", b.name);
        settle(&b, &retry[0], AfterAttempt::Succeeded).await;
        let next = claim_due_now(&b, later).await;
        assert_eq!(names(&next), ["3"], "{}: then A's second", b.name);
        settle(&b, &next[0], AfterAttempt::Succeeded).await;
        let last = claim_due_now(&b, later).await;
        assert_eq!(names(&last), ["4"], "{}: then A's third", b.name);
    }
}

#[tokio::test]
async fn an_endpoint_stream_orders_every_event_and_the_entity_is_the_default_key() {
    for b in backends().await {
        let (t, ep) = ordered(&b, OrderingMode::Endpoint, OnDead::Block).await;
        let now = Utc::now();
        let events = vec![keyed(Some("A"), 1), keyed(Some("B"), 2), keyed(None, 3)];
        b.store.ingest(t.id, events, now).await.unwrap();
        for n in ["1", "2", "3"] {
            let one = claim_due_now(&b, Utc::now()).await;
            assert_eq!(names(&one), [n], "{}: one at a time, in order", b.name);
            settle(&b, &one[0], AfterAttempt::Succeeded).await;
        }
        assert!(claim_due_now(&b, Utc::now()).await.is_empty(), "{}", b.name);

        // Ordered by key, an event without a key falls back to its entity.
        let patch = EndpointPatch {
            ordering: Some(OrderingMode::Key),
            ..Default::default()
        };
        patch_endpoint(&b, (&t, &ep), patch).await;
        let by_entity = |n: u32| NewEvent {
            entity_id: Some("order-7".into()),
            ..keyed(None, n)
        };
        b.store
            .ingest(t.id, vec![by_entity(10), by_entity(11)], now)
            .await
            .unwrap();
        let one = claim_due_now(&b, Utc::now()).await;
        assert_eq!(names(&one), ["10"], "{}: the entity is the key", b.name);
        let detail = b
            .store
            .event_detail(t.id, one[0].event_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            detail.deliveries[0].stream.as_deref(),
            Some("order-7"),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn a_dead_delivery_blocks_its_stream_until_its_entry_is_discarded() {
    for b in backends().await {
        let (t, ep) = ordered(&b, OrderingMode::Key, OnDead::Block).await;
        let now = Utc::now();
        let events = vec![
            keyed(Some("A"), 1),
            keyed(Some("A"), 2),
            keyed(Some("B"), 3),
            keyed(Some("B"), 4),
        ];
        b.store.ingest(t.id, events, now).await.unwrap();
        let first = claim_due_now(&b, Utc::now()).await;
        assert_eq!(names(&first), ["1", "3"], "{}", b.name);
        let dead = AfterAttempt::Dead {
            reason: "gave up".into(),
        };
        settle(&b, find(&first, "1"), dead).await;
        settle(&b, find(&first, "3"), AfterAttempt::Succeeded).await;
        let blocked = claim_due_now(&b, Utc::now()).await;
        assert_eq!(names(&blocked), ["4"], "{}: A is blocked, B is not", b.name);
        settle(&b, &blocked[0], AfterAttempt::Succeeded).await;
        // The sweep does not unblock it either.
        assert_eq!(
            b.store.advance_stalled_streams(None, now).await.unwrap(),
            0,
            "{}",
            b.name
        );
        assert!(claim_due_now(&b, Utc::now()).await.is_empty(), "{}", b.name);

        let entries = b
            .store
            .dlq_ids(t.id, &DlqQuery::default(), 10)
            .await
            .unwrap();
        assert_eq!(entries.len(), 1, "{}", b.name);
        let held = b.store.blocked_streams(t.id, ep.id, 10).await.unwrap();
        assert_eq!(held.len(), 1, "{}", b.name);
        assert_eq!(
            (
                held[0].stream.as_str(),
                held[0].dlq_entry_id,
                held[0].waiting
            ),
            ("A", entries[0], 1),
            "{}: the entry that holds A, and what waits behind it",
            b.name
        );
        let backlog = b.store.endpoint_backlog(t.id, &[ep.id]).await.unwrap();
        assert_eq!(backlog[&ep.id].waiting, 1, "{}", b.name);
        assert!(
            b.store
                .discard_dlq(t.id, entries[0], &actor(), "not needed", now, &audit())
                .await
                .unwrap(),
            "{}",
            b.name
        );
        let after = claim_due_now(&b, Utc::now()).await;
        assert_eq!(
            names(&after),
            ["2"],
            "{}: discarding the entry lets A go on",
            b.name
        );
        assert!(
            b.store
                .blocked_streams(t.id, ep.id, 10)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn a_reprocessed_blocking_delivery_goes_first_and_skip_lets_the_stream_go_on() {
    for b in backends().await {
        let (t, ep) = ordered(&b, OrderingMode::Endpoint, OnDead::Block).await;
        let now = Utc::now();
        let events = (1..=3).map(|n| keyed(None, n)).collect();
        b.store.ingest(t.id, events, now).await.unwrap();
        let first = claim_due_now(&b, Utc::now()).await;
        let dead = || AfterAttempt::Dead {
            reason: "gave up".into(),
        };
        settle(&b, &first[0], dead()).await;
        assert!(claim_due_now(&b, Utc::now()).await.is_empty(), "{}", b.name);
        let entries = b
            .store
            .dlq_ids(t.id, &DlqQuery::default(), 10)
            .await
            .unwrap();
        let out = b
            .store
            .reprocess_dlq(t.id, &entries, &actor(), "fixed", now, &|_| None)
            .await
            .unwrap();
        assert_eq!(out.reprocessed.len(), 1, "{}", b.name);
        let again = claim_due_now(&b, Utc::now()).await;
        assert_eq!(
            names(&again),
            ["1"],
            "{}: the reprocessed one first",
            b.name
        );

        // It dies again; the endpoint now skips dead deliveries: the stream
        // goes on (the endpoint's change arms it).
        settle(&b, &again[0], dead()).await;
        assert!(claim_due_now(&b, Utc::now()).await.is_empty(), "{}", b.name);
        let patch = EndpointPatch {
            on_dead: Some(OnDead::Skip),
            ..Default::default()
        };
        patch_endpoint(&b, (&t, &ep), patch).await;
        assert_eq!(
            b.store
                .advance_stalled_streams(Some(ep.id), now)
                .await
                .unwrap(),
            1,
            "{}",
            b.name
        );
        let next = claim_due_now(&b, Utc::now()).await;
        assert_eq!(names(&next), ["2"], "{}", b.name);
        // Skipping: a dead delivery no longer holds anything back.
        settle(&b, &next[0], dead()).await;
        let last = claim_due_now(&b, Utc::now()).await;
        assert_eq!(names(&last), ["3"], "{}", b.name);
    }
}

#[tokio::test]
async fn replayed_deliveries_take_their_place_in_the_stream_by_sequence() {
    for b in backends().await {
        let (t, ep) = ordered(&b, OrderingMode::Endpoint, OnDead::Block).await;
        let now = Utc::now();
        let ids: Vec<_> = b
            .store
            .ingest(t.id, (1..=4).map(|n| keyed(None, n)).collect(), now)
            .await
            .unwrap()
            .iter()
            .map(|i| i.event().id)
            .collect();
        for _ in 0..3 {
            let one = claim_due_now(&b, Utc::now()).await;
            settle(&b, &one[0], AfterAttempt::Succeeded).await;
        }
        // The fourth is on the wire while the first three are sent again,
        // last first: they wait behind it, then go in the events' order.
        let fourth = claim_due_now(&b, Utc::now()).await;
        assert_eq!(names(&fourth), ["4"], "{}", b.name);
        for id in ids[..3].iter().rev() {
            b.store
                .replay_event(t.id, *id, Some(&[ep.id]), &actor(), "resend", now, &|_| {
                    None
                })
                .await
                .unwrap()
                .unwrap();
        }
        assert!(
            claim_due_now(&b, Utc::now()).await.is_empty(),
            "{}: nothing passes the one on the wire",
            b.name
        );
        settle(&b, &fourth[0], AfterAttempt::Succeeded).await;
        for n in ["1", "2", "3"] {
            let one = claim_due_now(&b, Utc::now()).await;
            assert_eq!(names(&one), [n], "{}: replayed in order", b.name);
            settle(&b, &one[0], AfterAttempt::Succeeded).await;
        }
    }
}
