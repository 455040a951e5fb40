//! The delivery domain's half of the conformance suite: ingest, claims,
//! leases, fencing, receipts and settling in-flight work.

use super::*;
use herald_engine::model::DlqQuery;
use herald_engine::model::Semantics;
use herald_engine::model::{ErrorClass, RetryPolicyId};
use herald_engine::retry::RetryPolicy;
use herald_engine::sign::Secret;
use herald_engine::store::{
    AfterAttempt, AttemptOutcome, Ingested, NewAttempt, NewEndpoint, NewEvent, Settled,
};

/// An at-least-once and an at-most-once endpoint, one event for both,
/// and both its deliveries claimed with a 60 s lease.
pub(crate) async fn one_event_claimed_by_both_semantics(
    b: &Backend,
) -> (
    herald_engine::model::TenantOut,
    chrono::DateTime<Utc>,
    Vec<herald_engine::store::Claimed>,
) {
    let t = default_tenant(b).await;
    for semantics in [Semantics::AtLeastOnce, Semantics::AtMostOnce] {
        b.store
            .create_endpoint(t.id, endpoint(&["*"], semantics), &audit())
            .await
            .unwrap();
    }
    let now = Utc::now();
    b.store
        .ingest(t.id, vec![event("a.b", None)], now)
        .await
        .unwrap();
    let claimed = claim_due_now(b, now).await;
    (t, now, claimed)
}

/// The default tenant with the endpoint `e` made.
pub(crate) async fn tenant_with(
    b: &Backend,
    e: NewEndpoint,
) -> (
    herald_engine::model::TenantOut,
    herald_engine::model::EndpointOut,
) {
    let t = default_tenant(b).await;
    let ep = b.store.create_endpoint(t.id, e, &audit()).await.unwrap();
    (t, ep)
}

/// Applies `patch` to the endpoint.
pub(crate) async fn patch_endpoint(
    b: &Backend,
    (t, ep): (
        &herald_engine::model::TenantOut,
        &herald_engine::model::EndpointOut,
    ),
    patch: herald_engine::model::EndpointPatch,
) -> herald_engine::model::EndpointOut {
    b.store
        .update_endpoint(t.id, ep.id, patch, &audit())
        .await
        .unwrap()
        .unwrap()
}

/// The default tenant with one endpoint for every event type.
pub(crate) async fn tenant_with_endpoint(
    b: &Backend,
    semantics: Semantics,
) -> (
    herald_engine::model::TenantOut,
    herald_engine::model::EndpointOut,
) {
    let t = default_tenant(b).await;
    let ep = b
        .store
        .create_endpoint(t.id, endpoint(&["*"], semantics), &audit())
        .await
        .unwrap();
    (t, ep)
}

/// The default tenant with one at-least-once endpoint for every type, and
/// one event of each of `types` published to it now; and that now.
pub(crate) async fn published(
    b: &Backend,
    types: &[&str],
) -> (
    herald_engine::model::TenantOut,
    herald_engine::model::EndpointOut,
    chrono::DateTime<Utc>,
) {
    let (t, ep) = tenant_with_endpoint(b, Semantics::AtLeastOnce).await;
    let now = Utc::now();
    b.store
        .ingest(t.id, types.iter().map(|ty| event(ty, None)).collect(), now)
        .await
        .unwrap();
    (t, ep, now)
}

/// One event of each of `types` to the tenant's one endpoint, every delivery
/// claimed and abandoned into the DLQ; the entries' ids, newest first.
pub(crate) async fn dead_letters(
    b: &Backend,
    t: &herald_engine::model::TenantOut,
    types: &[&str],
) -> Vec<herald_engine::model::DlqEntryId> {
    let now = Utc::now();
    b.store
        .ingest(t.id, types.iter().map(|ty| event(ty, None)).collect(), now)
        .await
        .unwrap();
    for c in &claim_due_now(b, now).await {
        assert!(b.store.abandon(c.id, c.claim, "gone").await.unwrap());
    }
    b.store
        .dlq_ids(t.id, &DlqQuery::default(), 100)
        .await
        .unwrap()
}

pub(crate) fn receipt(
    claimed: &herald_engine::store::Claimed,
    next: AfterAttempt,
) -> AttemptOutcome {
    AttemptOutcome {
        delivery: claimed.id,
        claim: claimed.claim,
        attempt: NewAttempt {
            trigger: claimed.trigger,
            started_at: Utc::now(),
            latency_ms: 3,
            request_headers: Default::default(),
            response_status: Some(200),
            response_headers: Default::default(),
            response_excerpt: String::new(),
            error_class: None,
            error_message: None,
        },
        next,
        event_type: None,
    }
}

pub(crate) fn endpoint(patterns: &[&str], semantics: Semantics) -> NewEndpoint {
    NewEndpoint {
        id: herald_engine::model::EndpointId::new(),
        kind: Default::default(),
        url: "http://127.0.0.1:9/hook".into(),
        name: String::new(),
        description: String::new(),
        event_types: patterns.iter().map(|p| p.to_string()).collect(),
        filter: None,
        transform: None,
        headers: Default::default(),
        semantics,
        retry_policy: RetryPolicy::default(),
        retry_policy_id: None,
        timeout_ms: 1_000,
        max_in_flight: None,
        ordering: Default::default(),
        on_dead: Default::default(),
        rate_limit: None,
        ack_timeout_secs: 300,
        circuit_breaker: None,
        secret: Secret::generate(),
    }
}

pub(crate) fn event(event_type: &str, key: Option<&str>) -> NewEvent {
    NewEvent {
        event_type: event_type.into(),
        payload: r#"{"n":1}"#.into(),
        idempotency_key: key.map(str::to_owned),
        correlation_id: None,
        entity_id: None,
        ordering_key: None,
        metadata: None,
        only_endpoint: None,
        operational: false,
        ..NewEvent::default()
    }
}

#[tokio::test]
async fn ingest_fans_out_to_matching_endpoints_in_sequence() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        b.store
            .create_endpoint(
                t.id,
                endpoint(&["order.*"], Semantics::AtLeastOnce),
                &audit(),
            )
            .await
            .unwrap();
        b.store
            .create_endpoint(t.id, endpoint(&["*"], Semantics::AtLeastOnce), &audit())
            .await
            .unwrap();
        b.store
            .create_endpoint(
                t.id,
                endpoint(&["user.*"], Semantics::AtLeastOnce),
                &audit(),
            )
            .await
            .unwrap();
        let out = b
            .store
            .ingest(
                t.id,
                vec![
                    event("order.created", Some("k1")),
                    event("user.created", None),
                    // The same event again under its key: a repeat.
                    event("order.created", Some("k1")),
                ],
                Utc::now(),
            )
            .await
            .unwrap();
        let counts: Vec<Option<u32>> = out
            .iter()
            .map(|i| match i {
                Ingested::Created { deliveries, .. } => Some(*deliveries),
                Ingested::Duplicate { .. } => None,
            })
            .collect();
        assert_eq!(counts, [Some(2), Some(2), None], "{}", b.name);
        assert_eq!(
            out[2].event().id,
            out[0].event().id,
            "{}: a repeated key names the original",
            b.name
        );
        assert_eq!(
            (out[0].event().seq, out[1].event().seq),
            (1, 2),
            "{}",
            b.name
        );
    }
}

/// An endpoint's content filter decides at ingest whether an event of its
/// types goes there, over the event's payload, source and metadata; a test
/// event goes where it is addressed whatever the filter. The source is kept.
#[tokio::test]
async fn ingest_honours_content_filters_and_keeps_the_source() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        let mut filtered = endpoint(&["order.*"], Semantics::AtLeastOnce);
        filtered.filter = Some(serde_json::json!({
            "source": "shop",
            "$or": [{"payload.total": {"$gte": 100}}, {"metadata.vip": true}]
        }));
        let filtered = b
            .store
            .create_endpoint(t.id, filtered, &audit())
            .await
            .unwrap();
        let event_of = |payload: &str, source: Option<&str>, metadata| NewEvent {
            source: source.map(str::to_owned),
            metadata,
            payload: payload.to_owned(),
            ..event("order.created", None)
        };
        let out = b
            .store
            .ingest(
                t.id,
                vec![
                    event_of(r#"{"total":150}"#, Some("shop"), None),
                    event_of(r#"{"total":150}"#, Some("till"), None),
                    event_of(r#"{"total":5}"#, Some("shop"), None),
                    event_of(
                        r#"{"total":5}"#,
                        Some("shop"),
                        Some(serde_json::json!({"vip": true})),
                    ),
                    event_of(r#"{"total":5}"#, None, None),
                    NewEvent {
                        only_endpoint: Some(filtered.id),
                        ..event_of(r#"{"total":0}"#, None, None)
                    },
                ],
                Utc::now(),
            )
            .await
            .unwrap();
        let counts: Vec<u32> = out
            .iter()
            .map(|i| match i {
                Ingested::Created { deliveries, .. } => *deliveries,
                Ingested::Duplicate { .. } => panic!("nothing repeats"),
            })
            .collect();
        assert_eq!(counts, [1, 0, 0, 1, 0, 1], "{}", b.name);
        let stored = b
            .store
            .event_detail(t.id, out[1].event().id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.event.source.as_deref(), Some("till"), "{}", b.name);
        let listed = b
            .store
            .list_events(
                t.id,
                &herald_engine::model::EventQuery {
                    source: Some("shop".into()),
                    ..Default::default()
                },
                50,
            )
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 3, "{}", b.name);
    }
}

/// Publish requests written as one group share a transaction (the engine's
/// ingest writer groups them) yet each stands alone: a failing request
/// changes nothing and fails none of its neighbours, sequence numbers stay
/// unique and gap-free, and one idempotency key yields one event.
#[tokio::test]
async fn requests_in_one_group_stay_independent() {
    use herald_engine::model::TenantId;
    use herald_engine::store::Publish;
    for b in backends().await {
        let (t, _) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        // A tenant that does not exist: its writes break a foreign key.
        let ghost = TenantId::new();
        let group = (0..60)
            .map(|i| {
                let (tenant, key) = match i % 3 {
                    0 => (t.id, None),
                    1 => (ghost, None),
                    _ => (t.id, Some("same-key")),
                };
                Publish {
                    tenant,
                    events: vec![event("a.b", key), event("a.c", None)],
                    now: Utc::now(),
                    audit: None,
                    catalog_revision: None,
                }
            })
            .collect();
        let answers = b.store.ingest_group(group).await.unwrap();
        assert_eq!(answers.len(), 60, "{}: one answer per request", b.name);
        let calls = answers;
        let mut seqs = Vec::new();
        let mut keyed = std::collections::BTreeSet::new();
        for (i, result) in calls.into_iter().enumerate() {
            match i % 3 {
                1 => assert!(result.is_err(), "{}: an unknown tenant is refused", b.name),
                _ => {
                    let out = result.unwrap_or_else(|e| panic!("{}: {e}", b.name));
                    if i % 3 == 2 {
                        keyed.insert(out[0].event().id);
                    }
                    for item in &out {
                        if let Ingested::Created { event, deliveries } = item {
                            assert_eq!(*deliveries, 1, "{}", b.name);
                            seqs.push(event.seq);
                        }
                    }
                }
            }
        }
        assert_eq!(keyed.len(), 1, "{}: one event per idempotency key", b.name);
        seqs.sort_unstable();
        // 20 unkeyed requests make 2 events each; 20 keyed ones make one
        // shared keyed event plus one unkeyed event each.
        let expected: Vec<i64> = (1..=61).collect();
        assert_eq!(seqs, expected, "{}: unique, gap-free sequence", b.name);
        let stored = b
            .store
            .list_events(t.id, &Default::default(), 200)
            .await
            .unwrap();
        assert_eq!(
            stored.items.len(),
            61,
            "{}: nothing of the failed requests",
            b.name
        );
    }
}

#[tokio::test]
async fn the_dedup_window_drops_repeats_inside_it_only() {
    use herald_engine::model::TenantPatch;
    use herald_engine::store::DuplicateOf;
    for b in backends().await {
        let t = default_tenant(&b).await;
        b.store
            .update_tenant(
                t.id,
                TenantPatch {
                    payload_dedup_window_secs: Some(Some(60)),
                    ..TenantPatch::default()
                },
                &audit(),
            )
            .await
            .unwrap();
        let start = Utc::now();
        let first = b
            .store
            .ingest(t.id, vec![event("a.b", None)], start)
            .await
            .unwrap();
        let inside = b
            .store
            .ingest(
                t.id,
                vec![event("a.b", None)],
                start + Duration::seconds(59),
            )
            .await
            .unwrap();
        match &inside[0] {
            Ingested::Duplicate { event, why } => {
                assert_eq!(event.id, first[0].event().id, "{}", b.name);
                assert_eq!(*why, DuplicateOf::PayloadWindow, "{}", b.name);
            }
            other => panic!(
                "{}: a repeat inside the window was stored: {other:?}",
                b.name
            ),
        }
        let other_type = b
            .store
            .ingest(t.id, vec![event("a.c", None)], start + Duration::seconds(1))
            .await
            .unwrap();
        assert!(
            matches!(other_type[0], Ingested::Created { .. }),
            "{}",
            b.name
        );
        let after = b
            .store
            .ingest(
                t.id,
                vec![event("a.b", None)],
                start + Duration::seconds(61),
            )
            .await
            .unwrap();
        assert!(
            matches!(after[0], Ingested::Created { .. }),
            "{}: after the window",
            b.name
        );
        assert_eq!(
            b.store
                .tenant_by_slug(DEFAULT_TENANT)
                .await
                .unwrap()
                .unwrap()
                .payload_dedup_window_secs,
            Some(60)
        );
    }
}

#[tokio::test]
async fn named_policies_apply_to_their_endpoints_and_cannot_vanish_under_them() {
    use herald_engine::model::{RetryPolicyIn, RetryPolicyPatch};
    for b in backends().await {
        let t = default_tenant(&b).await;
        let policy = b
            .store
            .create_retry_policy(
                t.id,
                RetryPolicyId::new(),
                RetryPolicyIn {
                    name: "fast".into(),
                    description: String::new(),
                    policy: RetryPolicy::schedule(vec![1, 2]),
                },
                &audit(),
            )
            .await
            .unwrap();
        assert_eq!(policy.schedule_secs, [0, 1, 3], "{}", b.name);
        let dup = b
            .store
            .create_retry_policy(
                t.id,
                RetryPolicyId::new(),
                RetryPolicyIn {
                    name: "fast".into(),
                    description: String::new(),
                    policy: RetryPolicy::default(),
                },
                &audit(),
            )
            .await;
        assert!(
            matches!(dup, Err(EngineError::Conflict { .. })),
            "{}",
            b.name
        );

        let mut e = endpoint(&["*"], Semantics::AtLeastOnce);
        e.retry_policy_id = Some(policy.id);
        let e = b.store.create_endpoint(t.id, e, &audit()).await.unwrap();
        assert_eq!(e.retry_policy.max_attempts, 3, "{}", b.name);
        b.store
            .update_retry_policy(
                t.id,
                policy.id,
                RetryPolicyPatch {
                    policy: Some(RetryPolicy::schedule(vec![5])),
                    ..Default::default()
                },
                &audit(),
            )
            .await
            .unwrap()
            .unwrap();
        let e2 = b.store.get_endpoint(t.id, e.id).await.unwrap().unwrap();
        assert_eq!(
            e2.retry_policy.max_attempts, 2,
            "{}: follows the change",
            b.name
        );
        b.store
            .ingest(t.id, vec![event("x.y", None)], Utc::now())
            .await
            .unwrap();
        let claimed = b
            .store
            .claim_due(Utc::now(), Utc::now() + Duration::seconds(60), 10, 8, 1)
            .await
            .unwrap();
        assert_eq!(
            claimed[0].retry_policy.max_attempts, 2,
            "{}: the dispatcher sees it",
            b.name
        );

        assert!(matches!(
            b.store.delete_retry_policy(t.id, policy.id, &audit()).await,
            Err(EngineError::Conflict { .. })
        ));
        b.store.delete_endpoint(t.id, e.id, &audit()).await.unwrap();
        assert!(
            b.store
                .delete_retry_policy(t.id, policy.id, &audit())
                .await
                .unwrap(),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn claims_lease_and_expired_leases_come_back_due_now() {
    for b in backends().await {
        let (t, now, claimed) = one_event_claimed_by_both_semantics(&b).await;
        assert_eq!(claimed.len(), 2, "{}", b.name);
        assert!(
            claimed
                .iter()
                .all(|c| c.secrets.len() == 1 && c.endpoint_active)
        );
        assert!(
            claim_due_now(&b, now).await.is_empty(),
            "{}: leased",
            b.name
        );

        // Leases still running are left alone.
        assert_eq!(
            b.store.reclaim_expired(now, now).await.unwrap(),
            Settled::default(),
            "{}",
            b.name
        );
        // Past every lease: the at-least-once one is due again at once, the
        // at-most-once one (which may have been sent) is dead instead.
        let later = now + Duration::seconds(61);
        assert_eq!(
            b.store.reclaim_expired(later, now).await.unwrap(),
            Settled {
                requeued: 1,
                dead: 1,
                dead_lettered: 1
            },
            "{}",
            b.name
        );
        let parked = b
            .store
            .list_dlq(t.id, &DlqQuery::default(), 10)
            .await
            .unwrap();
        assert_eq!(parked.items.len(), 1, "{}", b.name);
        assert_eq!(
            parked.items[0].error_class,
            Some(ErrorClass::OutcomeUnknown),
            "{}",
            b.name
        );
        let again = claim_due_now(&b, now).await;
        assert_eq!(again.len(), 1, "{}: due now, not at the cutoff", b.name);
        assert_eq!(again[0].semantics, Semantics::AtLeastOnce);
        assert_eq!(b.store.next_due_at().await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_conflict_in_a_group_fails_its_request_alone() {
    use herald_engine::store::Publish;
    for b in backends().await {
        let (t, _) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let keyed = |payload: &str| NewEvent {
            payload: payload.into(),
            ..event("a.b", Some("k-1"))
        };
        let request = |events| Publish {
            tenant: t.id,
            events,
            now: Utc::now(),
            audit: None,
            catalog_revision: None,
        };
        let answers = b
            .store
            .ingest_group(vec![
                request(vec![keyed(r#"{"n":1}"#)]),
                // The same key with another payload, after an event of its own
                // that must not be stored either.
                request(vec![event("a.c", None), keyed(r#"{"n":2}"#)]),
                // A true repeat of the first request, in the same group.
                request(vec![keyed(r#"{"n":1}"#)]),
                request(vec![event("a.d", None)]),
            ])
            .await
            .unwrap();
        let first = match &answers[0] {
            Ok(out) => out[0].event().id,
            Err(e) => panic!("{}: {e}", b.name),
        };
        assert!(
            matches!(&answers[1], Err(herald_engine::EngineError::IdempotencyConflict { original, .. }) if *original == first),
            "{}: {:?}",
            b.name,
            answers[1]
        );
        assert!(
            matches!(&answers[2], Ok(out) if matches!(&out[0], Ingested::Duplicate { event, .. } if event.id == first)),
            "{}: {:?}",
            b.name,
            answers[2]
        );
        let stored = b
            .store
            .list_events(t.id, &Default::default(), 10)
            .await
            .unwrap();
        let types: Vec<&str> = stored.items.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(
            (types.len(), types.contains(&"a.c")),
            (2, false),
            "{}: the refused request stored nothing: {types:?}",
            b.name
        );
        let seqs: std::collections::BTreeSet<i64> = stored.items.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            [1, 2].into(),
            "{}: no gap from the refused request",
            b.name
        );
    }
}

#[tokio::test]
async fn handing_back_at_shutdown_parks_at_most_once_and_requeues_the_rest() {
    for b in backends().await {
        let (t, now, claimed) = one_event_claimed_by_both_semantics(&b).await;
        let claims: Vec<_> = claimed.iter().map(|c| (c.id, c.claim)).collect();
        let settled = b.store.hand_back(&claims, now).await.unwrap();
        assert_eq!(
            settled,
            Settled {
                requeued: 1,
                dead: 1,
                dead_lettered: 1
            },
            "{}",
            b.name
        );
        let again = claim_due_now(&b, now).await;
        assert_eq!(again.len(), 1, "{}", b.name);
        assert_eq!(again[0].semantics, Semantics::AtLeastOnce);
        let parked = b
            .store
            .list_dlq(t.id, &DlqQuery::default(), 10)
            .await
            .unwrap();
        assert_eq!(
            parked.items[0].error_class,
            Some(ErrorClass::OutcomeUnknown),
            "{}",
            b.name
        );
        // The addition is in the statistics, so the depth chart follows it.
        let stats = b
            .store
            .stats(
                t.id,
                &herald_engine::store::StatsScope {
                    from: now - Duration::hours(1),
                    to: now + Duration::hours(1),
                    granularity: herald_engine::model::Granularity::Hour,
                    group_by: herald_engine::model::GroupBy::None,
                    endpoint_id: None,
                    event_type: None,
                    totals_only: true,
                },
            )
            .await
            .unwrap();
        assert_eq!(stats.total.counts.dlq_added, 1, "{}", b.name);
    }
}
