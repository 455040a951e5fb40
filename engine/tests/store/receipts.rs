//! Receipts and what they do to a delivery, handing claims back, statistics
//! and ordered replays, as every backend must keep them.

use super::*;
use herald_engine::model::{
    Counts, DeliveryState, DlqQuery, ErrorClass, Granularity, GroupBy, ReplayFilter, ReplayId,
    Semantics,
};
use herald_engine::store::{
    AfterAttempt, AttemptOutcome, Claimed, NewReplay, Recorded, StatSample, StatsScope,
};

use super::delivery::{event, published, receipt, tenant_with_endpoint};

async fn claim_one(b: &Backend, now: chrono::DateTime<Utc>) -> Claimed {
    let mut claimed = claim_due_now(b, now).await;
    assert_eq!(claimed.len(), 1, "{}: one delivery due", b.name);
    claimed.remove(0)
}

/// The receipt of an attempt answered with an HTTP error `status`, then `next`.
fn failure(claimed: &Claimed, status: u16, next: AfterAttempt) -> AttemptOutcome {
    let mut outcome = receipt(claimed, next);
    outcome.attempt.response_status = Some(status);
    outcome.attempt.error_class = Some(ErrorClass::HttpStatus);
    outcome
}

#[tokio::test]
async fn receipts_move_a_delivery_from_retry_to_the_dlq() {
    for b in backends().await {
        let (t, _) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let now = Utc::now();
        let event_id = b
            .store
            .ingest(t.id, vec![event("a.b", None)], now)
            .await
            .unwrap()[0]
            .event()
            .id;

        // A failed attempt with a retry: pending again, due at the retry.
        let retry_at = now + Duration::seconds(30);
        let first = claim_one(&b, now).await;
        let failed = failure(&first, 503, AfterAttempt::RetryAt(retry_at));
        let recorded = b.store.record_attempts(vec![failed]).await.unwrap();
        assert_eq!(
            recorded,
            vec![Recorded::Applied {
                dead_lettered: false
            }],
            "{}",
            b.name
        );
        let detail = b.store.event_detail(t.id, event_id).await.unwrap().unwrap();
        let delivery = &detail.deliveries[0];
        assert_eq!(delivery.state, DeliveryState::Pending, "{}", b.name);
        assert_eq!(delivery.attempts, 1, "{}", b.name);
        assert_eq!(
            delivery.next_attempt_at.map(|t| t.timestamp_millis()),
            Some(retry_at.timestamp_millis()),
            "{}",
            b.name
        );
        assert_eq!(
            b.store
                .next_due_at()
                .await
                .unwrap()
                .map(|t| t.timestamp_millis()),
            Some(retry_at.timestamp_millis()),
            "{}: the next wake-up is the retry",
            b.name
        );
        assert!(
            claim_due_now(&b, now).await.is_empty(),
            "{}: not due before its retry",
            b.name
        );

        // The retry fails for good: dead, one DLQ entry, two receipts in order.
        let second = claim_one(&b, retry_at).await;
        let dead = failure(
            &second,
            500,
            AfterAttempt::Dead {
                reason: "retries exhausted".into(),
            },
        );
        let recorded = b.store.record_attempts(vec![dead]).await.unwrap();
        assert_eq!(
            recorded,
            vec![Recorded::Applied {
                dead_lettered: true
            }],
            "{}",
            b.name
        );
        let detail = b.store.event_detail(t.id, event_id).await.unwrap().unwrap();
        let delivery = &detail.deliveries[0];
        assert_eq!(delivery.state, DeliveryState::Dead, "{}", b.name);
        assert_eq!(delivery.attempts, 2, "{}", b.name);
        let statuses: Vec<_> = delivery
            .attempt_log
            .iter()
            .map(|a| (a.attempt, a.response_status))
            .collect();
        assert_eq!(
            statuses,
            vec![(1, Some(503)), (2, Some(500))],
            "{}: receipts in order",
            b.name
        );
        let dlq = b
            .store
            .list_dlq(t.id, &DlqQuery::default(), 10)
            .await
            .unwrap();
        assert_eq!(dlq.items.len(), 1, "{}", b.name);
        assert_eq!(
            dlq.items[0].error_class,
            Some(ErrorClass::HttpStatus),
            "{}",
            b.name
        );
        assert_eq!(dlq.items[0].reason, "retries exhausted", "{}", b.name);
    }
}

#[tokio::test]
async fn released_claims_come_back_and_abandoned_ones_are_dead() {
    for b in backends().await {
        let (t, _, now) = published(&b, &["a.b"]).await;

        // Released (a worker that could not start it): due again at the given
        // time, and the old claim writes nothing.
        let claimed = claim_one(&b, now).await;
        let later = now + Duration::seconds(5);
        b.store
            .release(&[(claimed.id, claimed.claim)], later)
            .await
            .unwrap();
        assert!(
            claim_due_now(&b, now).await.is_empty(),
            "{}: not due before the release time",
            b.name
        );
        let again = claim_one(&b, later).await;
        assert_eq!(again.id, claimed.id, "{}", b.name);
        assert_eq!(
            b.store
                .record_attempts(vec![receipt(&claimed, AfterAttempt::Succeeded)])
                .await
                .unwrap(),
            vec![Recorded::Refused],
            "{}: a released claim is no longer held",
            b.name
        );

        // Abandoned by its holder: dead with the reason, in the DLQ.
        assert!(
            b.store
                .abandon(again.id, again.claim, "endpoint deleted")
                .await
                .unwrap(),
            "{}",
            b.name
        );
        let detail = b
            .store
            .event_detail(t.id, again.event_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            detail.deliveries[0].state,
            DeliveryState::Dead,
            "{}",
            b.name
        );
        let dlq = b
            .store
            .list_dlq(t.id, &DlqQuery::default(), 10)
            .await
            .unwrap();
        assert_eq!(dlq.items.len(), 1, "{}", b.name);
        assert_eq!(dlq.items[0].reason, "endpoint deleted", "{}", b.name);
        assert!(
            claim_due_now(&b, later).await.is_empty(),
            "{}: a dead delivery is never due",
            b.name
        );
    }
}

#[tokio::test]
async fn statistics_sum_samples_into_buckets_and_series() {
    for b in backends().await {
        let (t, ep) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let hour = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 30, 9, 0, 0).unwrap();
        // Attempts with these latencies, the first `failed` of them timed out.
        let counts = |latencies: &[u64], failed: usize, dlq_added: u64| {
            let mut c = Counts::default();
            for (i, ms) in latencies.iter().enumerate() {
                let error = (i < failed).then_some(ErrorClass::Timeout);
                c.add(&Counts::of_attempt(error, *ms, false));
            }
            c.dlq_added = dlq_added;
            c
        };
        let sample = |event_type: &str, minutes: i64, c: Counts| StatSample {
            tenant_id: t.id,
            endpoint_id: ep.id,
            event_type: event_type.into(),
            at: hour + Duration::minutes(minutes),
            counts: c,
        };
        b.store
            .record_stats(vec![
                sample("a.b", 5, counts(&[12, 250, 251], 1, 0)),
                sample("a.b", 10, counts(&[40, 1_000], 0, 0)),
                sample("c.d", 70, counts(&[3, 3, 90, 5_000], 2, 1)),
            ])
            .await
            .unwrap();
        let scope = |group_by| StatsScope {
            from: hour,
            to: hour + Duration::hours(2),
            granularity: Granularity::Hour,
            group_by,
            endpoint_id: None,
            event_type: None,
            totals_only: false,
        };

        let all = b.store.stats(t.id, &scope(GroupBy::None)).await.unwrap();
        assert_eq!(all.total.counts.attempts, 9, "{}", b.name);
        assert_eq!(all.total.counts.failed, 3, "{}", b.name);
        assert_eq!(
            all.total.counts.errors.get("timeout"),
            Some(&3),
            "{}",
            b.name
        );
        let points: Vec<(i64, u64)> = all.series[0]
            .points
            .iter()
            .map(|p| ((p.start - hour).num_hours(), p.counts.attempts))
            .collect();
        assert_eq!(
            points,
            vec![(0, 5), (1, 4)],
            "{}: one point per hour",
            b.name
        );
        assert_eq!(all.total.counts.dlq_added, 1, "{}", b.name);
        // The latency histogram: each latency in its bucket, named by where
        // the bucket starts (250 and 251 ms share [248, 256)).
        let histogram: std::collections::BTreeMap<u64, u64> = [
            (3, 2),
            (12, 1),
            (40, 1),
            (88, 1),
            (248, 2),
            (992, 1),
            (4_864, 1),
        ]
        .into();
        assert_eq!(all.total.counts.latency_histogram, histogram, "{}", b.name);
        let p99: Vec<Option<u64>> = all.series[0]
            .points
            .iter()
            .map(|p| p.latency_p99_ms)
            .collect();
        assert_eq!(p99, [Some(1_007), Some(4_991)], "{}", b.name);
        let totals_only = b
            .store
            .stats(
                t.id,
                &StatsScope {
                    totals_only: true,
                    ..scope(GroupBy::None)
                },
            )
            .await
            .unwrap();
        assert_eq!(
            totals_only.total.counts.latency_histogram, histogram,
            "{}: totals only",
            b.name
        );

        let by_type = b
            .store
            .stats(t.id, &scope(GroupBy::EventType))
            .await
            .unwrap();
        let mut per_type: Vec<(Option<String>, u64)> = by_type
            .series
            .iter()
            .map(|s| (s.event_type.clone(), s.total.counts.attempts))
            .collect();
        per_type.sort();
        assert_eq!(
            per_type,
            vec![(Some("a.b".into()), 5), (Some("c.d".into()), 4)],
            "{}",
            b.name
        );
        let narrowed = b
            .store
            .stats(
                t.id,
                &StatsScope {
                    event_type: Some("c.d".into()),
                    ..scope(GroupBy::None)
                },
            )
            .await
            .unwrap();
        assert_eq!(narrowed.total.counts.attempts, 4, "{}", b.name);
        let elsewhere = b.store.ensure_tenant("other", "Other").await.unwrap();
        let none = b
            .store
            .stats(elsewhere.id, &scope(GroupBy::None))
            .await
            .unwrap();
        assert_eq!(
            none.total.counts.attempts, 0,
            "{}: another tenant's",
            b.name
        );
    }
}

#[tokio::test]
async fn a_replay_of_one_entity_or_correlation_is_ordered() {
    for b in backends().await {
        let (t, _) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let now = Utc::now();
        let job = |filter: ReplayFilter| NewReplay {
            id: ReplayId::new(),
            filter,
            rate_per_second: 10.0,
            max_events: None,
            reason: "r".into(),
            actor: herald_engine::store::Actor("ops".into()),
            transform: None,
        };
        for (filter, ordered) in [
            (ReplayFilter::default(), false),
            (
                ReplayFilter {
                    entity_id: Some("order-1".into()),
                    ..ReplayFilter::default()
                },
                true,
            ),
            (
                ReplayFilter {
                    correlation_id: Some("req-1".into()),
                    ..ReplayFilter::default()
                },
                true,
            ),
        ] {
            let made = b
                .store
                .create_replay(t.id, job(filter.clone()), now, &|_| None)
                .await
                .unwrap();
            assert_eq!(made.ordered, ordered, "{}: {filter:?}", b.name);
        }
    }
}

/// An event's page is read at one moment: while receipts are written, its
/// deliveries and their attempt logs always agree (a page read statement by
/// statement could show a delivery from before an attempt beside the attempt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_page_is_read_at_one_moment_while_receipts_are_written() {
    for b in backends().await {
        let (t, _) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let event_id = b
            .store
            .ingest(t.id, vec![event("a.b", None)], Utc::now())
            .await
            .unwrap()[0]
            .event()
            .id;
        let store = b.store.clone();
        let writer = tokio::spawn(async move {
            for _ in 0..200 {
                let now = Utc::now();
                let claimed = store
                    .claim_due(now, now + Duration::seconds(60), 1, 1, 1)
                    .await
                    .unwrap();
                assert_eq!(claimed.len(), 1, "the delivery is due again at once");
                let retry = failure(&claimed[0], 503, AfterAttempt::RetryAt(Utc::now()));
                store.record_attempts(vec![retry]).await.unwrap();
            }
        });
        let mut reads = 0;
        while !writer.is_finished() {
            let detail = b.store.event_detail(t.id, event_id).await.unwrap().unwrap();
            let delivery = &detail.deliveries[0];
            assert_eq!(
                delivery.attempts as usize,
                delivery.attempt_log.len(),
                "{}: read {reads}: the delivery's count and its log disagree",
                b.name
            );
            reads += 1;
        }
        writer.await.unwrap();
        assert!(
            reads > 0,
            "{}: the page was read during the receipts",
            b.name
        );
    }
}
