//! The DLQ, replays, checkpoints, secrets and the audit log, as every backend
//! must keep them.

use super::*;
use herald_engine::model::DlqQuery;
use herald_engine::model::{
    AuditAction, AuditQuery, CheckpointIn, DeliveryState, ReplayFilter, ReplayId, ReplayState,
    Semantics, Trigger,
};
use herald_engine::sign::Secret;
use herald_engine::store::{Actor, NewReplay};

use super::delivery::{dead_letters, event, published, tenant_with_endpoint};

fn actor() -> Actor {
    Actor("suite".into())
}

/// Reprocessing takes entries out of the DLQ and makes their deliveries due
/// again as a manual chain, recording who and why; an id not in the queue is
/// skipped with a reason. Discarding removes an entry and leaves its delivery
/// dead.
#[tokio::test]
async fn the_dlq_reprocesses_and_discards_entries() {
    for b in backends().await {
        let (t, _) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let entries = dead_letters(&b, &t, &["a.b"; 3]).await;
        assert_eq!(entries.len(), 3, "{}", b.name);
        assert_eq!(
            b.store.dlq_count(t.id, &DlqQuery::default()).await.unwrap(),
            3
        );
        let unknown = herald_engine::model::DlqEntryId::new();
        let now = Utc::now();
        let out = b
            .store
            .reprocess_dlq(
                t.id,
                &[entries[0], entries[1], unknown],
                &actor(),
                "fixed",
                now,
                &|_| None,
            )
            .await
            .unwrap();
        assert_eq!(out.reprocessed, vec![entries[0], entries[1]], "{}", b.name);
        assert_eq!(out.skipped.len(), 1, "{}", b.name);
        assert_eq!(out.skipped[0].id, unknown, "{}", b.name);
        assert_eq!(
            b.store.dlq_count(t.id, &DlqQuery::default()).await.unwrap(),
            1,
            "{}",
            b.name
        );
        // Again: the two are no longer in the queue.
        let again = b
            .store
            .reprocess_dlq(t.id, &entries[..2], &actor(), "twice", now, &|_| None)
            .await
            .unwrap();
        assert!(again.reprocessed.is_empty(), "{}", b.name);
        assert_eq!(again.skipped.len(), 2, "{}", b.name);

        let due = claim_due_now(&b, now).await;
        assert_eq!(
            due.len(),
            2,
            "{}: the reprocessed deliveries are due",
            b.name
        );
        assert!(
            due.iter().all(|c| c.trigger == Trigger::Manual),
            "{}",
            b.name
        );
        assert!(due.iter().all(|c| c.chain_attempts == 0), "{}", b.name);

        let last = entries[2];
        let detail = b.store.dlq_entry(t.id, last).await.unwrap().expect("entry");
        assert!(
            b.store
                .discard_dlq(t.id, last, &actor(), "not needed", now, &audit())
                .await
                .unwrap(),
            "{}",
            b.name
        );
        assert!(
            b.store.dlq_entry(t.id, last).await.unwrap().is_none(),
            "{}",
            b.name
        );
        let event = b
            .store
            .event_detail(t.id, detail.event.id)
            .await
            .unwrap()
            .unwrap();
        let delivery = &event.deliveries[0];
        assert_eq!(delivery.state, DeliveryState::Dead, "{}", b.name);
        let actions: Vec<&str> = delivery.actions.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["discard"], "{}", b.name);
        assert_eq!(delivery.actions[0].reason, "not needed", "{}", b.name);
        // Another tenant's entry is not found.
        let other = b.store.ensure_tenant("other", "Other").await.unwrap();
        assert!(
            !b.store
                .discard_dlq(other.id, last, &actor(), "x", now, &audit())
                .await
                .unwrap(),
            "{}",
            b.name
        );
    }
}

/// A single-event replay re-arms the event's deliveries as a replay chain; a
/// replay job takes its range a step at a time, saving its cursor, until the
/// scan is done, and arms nothing while it is not running.
#[tokio::test]
async fn replays_rearm_deliveries_a_step_at_a_time() {
    for b in backends().await {
        let (t, _) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let now = Utc::now();
        let ingested = b
            .store
            .ingest(t.id, (0..5).map(|_| event("a.b", None)).collect(), now)
            .await
            .unwrap();
        // Settle the first deliveries so the replays' are the only ones due.
        for c in claim_due_now(&b, now).await {
            assert!(b.store.abandon(c.id, c.claim, "settled").await.unwrap());
        }

        let first = ingested[0].event().id;
        let replayed = b
            .store
            .replay_event(t.id, first, None, &actor(), "again", now, &|_| None)
            .await
            .unwrap()
            .expect("the tenant's event");
        assert_eq!(replayed.len(), 1, "{}", b.name);
        let other = b.store.ensure_tenant("other", "Other").await.unwrap();
        assert!(
            b.store
                .replay_event(other.id, first, None, &actor(), "x", now, &|_| None)
                .await
                .unwrap()
                .is_none(),
            "{}: another tenant's event",
            b.name
        );
        let due = claim_due_now(&b, now).await;
        assert_eq!(due.len(), 1, "{}", b.name);
        assert_eq!(due[0].trigger, Trigger::Replay, "{}", b.name);
        assert_eq!(due[0].reason.as_deref(), Some("again"), "{}", b.name);
        assert!(
            b.store
                .abandon(due[0].id, due[0].claim, "settled")
                .await
                .unwrap()
        );

        let job = b
            .store
            .create_replay(
                t.id,
                NewReplay {
                    id: ReplayId::new(),
                    filter: ReplayFilter::default(),
                    rate_per_second: 100.0,
                    max_events: None,
                    reason: "backfill".into(),
                    actor: actor(),
                    transform: None,
                },
                now,
                &|_| None,
            )
            .await
            .unwrap();
        assert_eq!(
            (job.state, job.total),
            (ReplayState::Pending, 5),
            "{}",
            b.name
        );
        let step = b.store.replay_step(job.id, 2, now).await.unwrap();
        assert!(!step.running, "{}: a pending job arms nothing", b.name);
        assert!(
            b.store
                .set_replay_state(
                    None,
                    job.id,
                    &[ReplayState::Pending],
                    ReplayState::Running,
                    None,
                    now,
                    None
                )
                .await
                .unwrap()
        );
        let step = b.store.replay_step(job.id, 2, now).await.unwrap();
        assert!(
            !step.running && step.events == 0,
            "{}: a job nobody leases is not stepped",
            b.name
        );
        let leased = b
            .store
            .lease_replays(now, now + Duration::seconds(60))
            .await
            .unwrap();
        assert_eq!(leased, [(job.id, ReplayState::Running)], "{}", b.name);
        let mut steps = Vec::new();
        loop {
            let step = b.store.replay_step(job.id, 2, now).await.unwrap();
            assert!(step.running, "{}", b.name);
            steps.push(step.events);
            if step.scan_done {
                break;
            }
            assert!(steps.len() < 10, "{}: the scan never ends", b.name);
        }
        assert_eq!(steps.iter().sum::<u32>(), 5, "{}: {steps:?}", b.name);
        assert!(steps.iter().all(|n| *n <= 2), "{}: {steps:?}", b.name);
        let after = b
            .store
            .get_replay(Some(t.id), job.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.dispatched, 5, "{}", b.name);
        let due = claim_due_now(&b, now).await;
        assert_eq!(due.len(), 5, "{}", b.name);
        assert!(
            due.iter().all(|c| c.trigger == Trigger::Replay),
            "{}",
            b.name
        );
        // A job can be cancelled from running, not finished twice.
        assert!(
            b.store
                .set_replay_state(
                    Some(t.id),
                    job.id,
                    &[ReplayState::Running],
                    ReplayState::Cancelled,
                    None,
                    now,
                    None
                )
                .await
                .unwrap()
        );
        assert!(
            !b.store
                .set_replay_state(
                    Some(t.id),
                    job.id,
                    &[ReplayState::Running],
                    ReplayState::Cancelled,
                    None,
                    now,
                    None
                )
                .await
                .unwrap(),
            "{}",
            b.name
        );
        assert!(
            b.store.active_replays().await.unwrap().is_empty(),
            "{}",
            b.name
        );
    }
}

/// A checkpoint marks the newest sequence number unless given one, cannot
/// be ahead of it, and names are unique in a tenant.
#[tokio::test]
async fn checkpoints_mark_positions_that_exist() {
    for b in backends().await {
        let (t, _, now) = published(&b, &["a.b"; 3]).await;
        let named = |name: &str, seq: Option<i64>| CheckpointIn {
            name: name.into(),
            seq,
            ..Default::default()
        };
        let newest = b
            .store
            .create_checkpoint(t.id, &named("newest", None), &actor(), now, &|_| None)
            .await
            .unwrap();
        assert_eq!(newest.seq, 3, "{}", b.name);
        let early = b
            .store
            .create_checkpoint(t.id, &named("early", Some(1)), &actor(), now, &|_| None)
            .await
            .unwrap();
        assert_eq!(early.seq, 1, "{}", b.name);
        let ahead = b
            .store
            .create_checkpoint(t.id, &named("ahead", Some(4)), &actor(), now, &|_| None)
            .await;
        assert!(
            matches!(ahead, Err(EngineError::Conflict { .. })),
            "{}: {ahead:?}",
            b.name
        );
        let twice = b
            .store
            .create_checkpoint(t.id, &named("early", Some(2)), &actor(), now, &|_| None)
            .await;
        assert!(
            matches!(twice, Err(EngineError::Conflict { .. })),
            "{}: {twice:?}",
            b.name
        );
        let listed: Vec<i64> = b
            .store
            .list_checkpoints(t.id, None)
            .await
            .unwrap()
            .iter()
            .map(|c| c.seq)
            .collect();
        assert_eq!(listed, [3, 1], "{}: newest position first", b.name);
        let one = b
            .store
            .list_checkpoints(t.id, Some(early.id))
            .await
            .unwrap();
        assert_eq!(one.len(), 1, "{}", b.name);
        assert_eq!(one[0].name, "early", "{}", b.name);
    }
}

/// A rotated-out secret keeps signing beside the new one until its grace
/// period ends, then only the new one signs.
#[tokio::test]
async fn a_rotated_secret_signs_until_its_grace_period_ends() {
    for b in backends().await {
        let (t, ep) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let now = Utc::now();
        let secrets_at = |at: chrono::DateTime<Utc>| {
            let store = b.store.clone();
            async move {
                store
                    .ingest(t.id, vec![event("a.b", None)], at)
                    .await
                    .unwrap();
                let claimed = store
                    .claim_due(at, at + Duration::seconds(60), 10, 10, 1)
                    .await
                    .unwrap();
                assert_eq!(claimed.len(), 1);
                assert!(
                    store
                        .abandon(claimed[0].id, claimed[0].claim, "x")
                        .await
                        .unwrap()
                );
                claimed[0].secrets.clone()
            }
        };
        let before = secrets_at(now).await;
        assert_eq!(before.len(), 1, "{}", b.name);
        let new = Secret::generate();
        assert!(
            b.store
                .rotate_secret(t.id, ep.id, new.clone(), now + Duration::hours(1), &audit())
                .await
                .unwrap()
        );
        let during = secrets_at(now).await;
        assert_eq!(
            during.len(),
            2,
            "{}: both sign during the grace period",
            b.name
        );
        assert_eq!(during[0], new, "{}: the new secret first", b.name);
        assert_eq!(during[1], before[0], "{}", b.name);
        let later = secrets_at(now + Duration::hours(2)).await;
        assert_eq!(later, vec![new], "{}: the old secret expired", b.name);
    }
}

/// The audit log filters by exact action or by area prefix, by part of the
/// actor and by exact target; a tenant sees its own entries only.
#[tokio::test]
async fn the_audit_log_filters_by_action_actor_and_target() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        let other = b.store.ensure_tenant("other", "Other").await.unwrap();
        let entry = |tenant, actor: &str, action, target: &str| NewAudit {
            tenant_id: Some(tenant),
            actor: actor.into(),
            role: "admin".into(),
            action,
            target: target.into(),
            summary: "-".into(),
            correlation_id: None,
        };
        for e in [
            entry(
                t.id,
                "user ops@example.com",
                AuditAction::EndpointCreate,
                "ep_1",
            ),
            entry(
                t.id,
                "user ops@example.com",
                AuditAction::EndpointUpdate,
                "ep_1",
            ),
            entry(t.id, "api key key_9", AuditAction::DlqDiscard, "dlq_1"),
            entry(
                other.id,
                "user ops@example.com",
                AuditAction::EndpointCreate,
                "ep_2",
            ),
        ] {
            b.store.append_audit(e).await.unwrap();
        }
        let find = |tenant: Option<herald_engine::model::TenantId>, filter: AuditQuery| {
            let store = b.store.clone();
            async move {
                store
                    .list_audit(tenant, &filter, 50)
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|a| (a.action, a.target))
                    .collect::<Vec<_>>()
            }
        };
        let pair = |a: &str, t: &str| (a.to_string(), t.to_string());
        let exact = AuditQuery {
            action: Some("endpoint.update".into()),
            ..Default::default()
        };
        assert_eq!(
            find(Some(t.id), exact).await,
            [pair("endpoint.update", "ep_1")],
            "{}",
            b.name
        );
        let area = AuditQuery {
            action: Some("endpoint.".into()),
            ..Default::default()
        };
        assert_eq!(
            find(Some(t.id), area.clone()).await,
            [
                pair("endpoint.update", "ep_1"),
                pair("endpoint.create", "ep_1")
            ],
            "{}: newest first, this tenant only",
            b.name
        );
        assert_eq!(find(None, area).await.len(), 3, "{}: every tenant", b.name);
        let by_actor = AuditQuery {
            actor: Some("key_9".into()),
            ..Default::default()
        };
        assert_eq!(
            find(Some(t.id), by_actor).await,
            [pair("dlq.discard", "dlq_1")],
            "{}",
            b.name
        );
        let by_target = AuditQuery {
            target: Some("ep_1".into()),
            ..Default::default()
        };
        assert_eq!(find(Some(t.id), by_target).await.len(), 2, "{}", b.name);
        // `_` and `%` in a prefix are text, not wildcards.
        let wild = AuditQuery {
            action: Some("end_oint.".into()),
            ..Default::default()
        };
        assert!(find(None, wild).await.is_empty(), "{}", b.name);
    }
}
