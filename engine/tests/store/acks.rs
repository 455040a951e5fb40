//! Receiver acknowledgements ("effectively once"): a 2xx leaves the delivery
//! awaiting the receiver's acknowledgement, which ends it; none by the
//! deadline makes it due again as an `ack_timeout` attempt; an ordered
//! stream waits for it; the statistics count both.

use super::delivery::{endpoint, event, receipt, tenant_with};
use super::*;
use herald_engine::model::{
    DeliveryState, Granularity, GroupBy, OnDead, OrderingMode, Semantics, Trigger,
};
use herald_engine::store::{Acked, AfterAttempt, AttemptOutcome, Claimed, NewEndpoint, StatsScope};

async fn effectively_once(
    b: &Backend,
    ordering: OrderingMode,
) -> (
    herald_engine::model::TenantOut,
    herald_engine::model::EndpointOut,
) {
    let e = NewEndpoint {
        ordering,
        on_dead: OnDead::Block,
        ack_timeout_secs: 60,
        ..endpoint(&["*"], Semantics::EffectivelyOnce)
    };
    tenant_with(b, e).await
}

/// The receipt of an attempt at `claimed`, under the trigger the dispatcher
/// gives it.
fn attempted(claimed: &Claimed, next: AfterAttempt) -> AttemptOutcome {
    let mut outcome = receipt(claimed, next);
    outcome.attempt.trigger = claimed.attempt_trigger();
    outcome
}

async fn record(b: &Backend, outcome: AttemptOutcome) {
    let done = b.store.record_attempts(vec![outcome]).await.unwrap();
    assert!(
        matches!(done[0], herald_engine::store::Recorded::Applied { .. }),
        "{}: the receipt counts",
        b.name
    );
}

/// The one delivery of the tenant's only event, as the event page shows it.
async fn the_delivery(
    b: &Backend,
    t: &herald_engine::model::TenantOut,
    claimed: &Claimed,
) -> herald_engine::model::DeliveryOut {
    let detail = b
        .store
        .event_detail(t.id, claimed.event_id)
        .await
        .unwrap()
        .unwrap();
    detail
        .deliveries
        .into_iter()
        .find(|d| d.id == claimed.id)
        .unwrap()
}

/// The tenant's acknowledged deliveries and acknowledgements not made in
/// time, over the minutes around now (the scenarios' clocks run a few
/// minutes ahead).
async fn ack_counts(b: &Backend, t: &herald_engine::model::TenantOut) -> (u64, u64) {
    let out = b
        .store
        .stats(
            t.id,
            &StatsScope {
                from: Utc::now() - Duration::minutes(5),
                to: Utc::now() + Duration::minutes(10),
                granularity: Granularity::Minute,
                group_by: GroupBy::None,
                endpoint_id: None,
                event_type: None,
                totals_only: true,
            },
        )
        .await
        .unwrap();
    (out.total.counts.acked, out.total.counts.ack_timeouts)
}

#[tokio::test]
async fn a_2xx_awaits_the_acknowledgement_and_the_acknowledgement_ends_the_delivery() {
    for b in backends().await {
        let (t, ep) = effectively_once(&b, OrderingMode::None).await;
        let now = Utc::now();
        b.store
            .ingest(t.id, vec![event("a.b", None)], now)
            .await
            .unwrap();
        let claimed = claim_due_now(&b, now).await;
        assert_eq!(claimed.len(), 1, "{}", b.name);
        let c = &claimed[0];
        assert_eq!(
            (c.semantics, c.ack_timeout_secs),
            (Semantics::EffectivelyOnce, 60),
            "{}: the claim carries what the dispatcher needs",
            b.name
        );
        let deadline = now + Duration::seconds(60);
        record(&b, attempted(c, AfterAttempt::AwaitAck(deadline))).await;

        let d = the_delivery(&b, &t, c).await;
        assert_eq!(d.state, DeliveryState::AwaitingAck, "{}", b.name);
        assert_eq!(
            d.next_attempt_at.map(|at| at.timestamp_millis()),
            Some(deadline.timestamp_millis()),
            "{}: due again at the deadline",
            b.name
        );
        assert_eq!(d.acked_at, None, "{}", b.name);
        assert!(
            claim_due_now(&b, now + Duration::seconds(30))
                .await
                .is_empty(),
            "{}: not claimed while it awaits its acknowledgement",
            b.name
        );
        assert_eq!(
            b.store
                .expire_acks(now + Duration::seconds(30))
                .await
                .unwrap(),
            0,
            "{}: its deadline has not passed",
            b.name
        );
        let backlog = b.store.endpoint_backlog(t.id, &[ep.id]).await.unwrap();
        assert_eq!(backlog[&ep.id].awaiting_ack, 1, "{}", b.name);
        assert_eq!(
            b.store.gauges(now).await.unwrap().awaiting_ack,
            1,
            "{}",
            b.name
        );

        let target = b.store.ack_target(c.id, now).await.unwrap().unwrap();
        assert_eq!(
            (target.tenant_id, target.endpoint_id),
            (t.id, ep.id),
            "{}",
            b.name
        );
        assert_eq!(
            target.secrets, c.secrets,
            "{}: verified with the secrets it was signed with",
            b.name
        );

        assert_eq!(
            b.store.acknowledge(c.id, now).await.unwrap(),
            Acked::Acked,
            "{}",
            b.name
        );
        assert_eq!(
            b.store.acknowledge(c.id, now).await.unwrap(),
            Acked::AlreadyAcked,
            "{}: twice is harmless",
            b.name
        );
        let d = the_delivery(&b, &t, c).await;
        assert_eq!(d.state, DeliveryState::Succeeded, "{}", b.name);
        assert_eq!(
            d.acked_at.map(|at| at.timestamp_millis()),
            Some(now.timestamp_millis()),
            "{}",
            b.name
        );
        assert_eq!(
            b.store.gauges(now).await.unwrap().awaiting_ack,
            0,
            "{}",
            b.name
        );
        assert_eq!(ack_counts(&b, &t).await, (1, 0), "{}", b.name);
        assert!(
            claim_due_now(&b, now + Duration::seconds(600))
                .await
                .is_empty(),
            "{}: never sent again",
            b.name
        );
    }
}

#[tokio::test]
async fn no_acknowledgement_by_the_deadline_sends_it_again_as_an_ack_timeout_attempt() {
    for b in backends().await {
        let (t, _) = effectively_once(&b, OrderingMode::None).await;
        let now = Utc::now();
        b.store
            .ingest(t.id, vec![event("a.b", None)], now)
            .await
            .unwrap();
        let first = claim_due_now(&b, now).await.remove(0);
        assert!(!first.ack_timed_out, "{}", b.name);
        record(
            &b,
            attempted(&first, AfterAttempt::AwaitAck(now + Duration::seconds(60))),
        )
        .await;

        let later = now + Duration::seconds(61);
        assert_eq!(b.store.expire_acks(later).await.unwrap(), 1, "{}", b.name);
        assert_eq!(
            b.store.expire_acks(later).await.unwrap(),
            0,
            "{}: once",
            b.name
        );
        let again = claim_due_now(&b, later).await;
        assert_eq!(again.len(), 1, "{}: due again at once", b.name);
        let again = &again[0];
        assert_eq!(again.id, first.id, "{}: the same webhook-id", b.name);
        assert!(again.ack_timed_out, "{}", b.name);
        assert_eq!(again.attempt_trigger(), Trigger::AckTimeout, "{}", b.name);
        assert_eq!(again.chain_attempts, 1, "{}: the policy counts it", b.name);
        record(
            &b,
            attempted(again, AfterAttempt::AwaitAck(later + Duration::seconds(60))),
        )
        .await;
        let d = the_delivery(&b, &t, again).await;
        let triggers: Vec<Trigger> = d.attempt_log.iter().map(|a| a.trigger).collect();
        assert_eq!(
            triggers,
            [Trigger::Scheduled, Trigger::AckTimeout],
            "{}: the receipts say why each attempt was made",
            b.name
        );
        assert_eq!(d.state, DeliveryState::AwaitingAck, "{}", b.name);
        assert_eq!(ack_counts(&b, &t).await, (0, 1), "{}", b.name);

        // Acknowledged late, while being sent once more: it ends succeeded
        // when that attempt's receipt comes, whatever the answer.
        let third_at = later + Duration::seconds(61);
        assert_eq!(
            b.store.expire_acks(third_at).await.unwrap(),
            1,
            "{}",
            b.name
        );
        let third = claim_due_now(&b, third_at).await.remove(0);
        assert_eq!(
            b.store.acknowledge(third.id, third_at).await.unwrap(),
            Acked::Acked,
            "{}",
            b.name
        );
        assert_eq!(
            the_delivery(&b, &t, &third).await.state,
            DeliveryState::InFlight,
            "{}: its attempt is still out",
            b.name
        );
        record(
            &b,
            attempted(
                &third,
                AfterAttempt::RetryAt(third_at + Duration::seconds(10)),
            ),
        )
        .await;
        let d = the_delivery(&b, &t, &third).await;
        assert_eq!(d.state, DeliveryState::Succeeded, "{}", b.name);
        assert!(d.acked_at.is_some(), "{}", b.name);
        assert_eq!(d.attempt_log.len(), 3, "{}: every receipt kept", b.name);
        assert_eq!(ack_counts(&b, &t).await, (1, 2), "{}", b.name);
    }
}

#[tokio::test]
async fn an_ordered_stream_waits_for_the_acknowledgement() {
    for b in backends().await {
        let (t, _) = effectively_once(&b, OrderingMode::Endpoint).await;
        let now = Utc::now();
        b.store
            .ingest(t.id, vec![event("a.one", None), event("a.two", None)], now)
            .await
            .unwrap();
        let first = claim_due_now(&b, now).await;
        assert_eq!(first.len(), 1, "{}", b.name);
        assert_eq!(first[0].event_type, "a.one", "{}", b.name);
        record(
            &b,
            attempted(
                &first[0],
                AfterAttempt::AwaitAck(now + Duration::seconds(60)),
            ),
        )
        .await;
        assert!(
            claim_due_now(&b, now).await.is_empty(),
            "{}: the next waits while the first awaits its acknowledgement",
            b.name
        );
        assert_eq!(
            b.store.advance_stalled_streams(None, now).await.unwrap(),
            0,
            "{}: the sweep does not let it go either",
            b.name
        );
        b.store.acknowledge(first[0].id, now).await.unwrap();
        let second = claim_due_now(&b, now).await;
        assert_eq!(second.len(), 1, "{}", b.name);
        assert_eq!(second[0].event_type, "a.two", "{}", b.name);
    }
}

#[tokio::test]
async fn a_delivery_that_awaits_nothing_takes_no_acknowledgement() {
    for b in backends().await {
        let e = endpoint(&["*"], Semantics::AtLeastOnce);
        let (t, _) = tenant_with(&b, e).await;
        let now = Utc::now();
        b.store
            .ingest(t.id, vec![event("a.b", None)], now)
            .await
            .unwrap();
        let c = claim_due_now(&b, now).await.remove(0);
        record(&b, attempted(&c, AfterAttempt::Succeeded)).await;
        assert_eq!(
            b.store.acknowledge(c.id, now).await.unwrap(),
            Acked::NotAwaiting(DeliveryState::Succeeded),
            "{}",
            b.name
        );
        assert_eq!(
            the_delivery(&b, &t, &c).await.acked_at,
            None,
            "{}: nothing changed",
            b.name
        );
        let unknown = herald_engine::model::DeliveryId::new();
        assert!(
            b.store.ack_target(unknown, now).await.unwrap().is_none(),
            "{}",
            b.name
        );
        assert_eq!(
            b.store.acknowledge(unknown, now).await.unwrap(),
            Acked::Unknown,
            "{}",
            b.name
        );
        assert_eq!(ack_counts(&b, &t).await, (0, 0), "{}", b.name);
    }
}
