//! Every change and its audit entry commit together, on every backend: with
//! the audit insert refused, no change goes through.

use super::*;
use herald_engine::model::Semantics;
use herald_engine::model::{AuditQuery, RetryPolicyId};
use herald_engine::model::{DlqQuery, EventQuery};
use herald_engine::retry::RetryPolicy;
use herald_engine::sign::Secret;
use herald_engine::store::Ingested;

use super::delivery::{endpoint, event, one_event_claimed_by_both_semantics};

/// A change and its audit entry commit together: when the entry cannot be
/// written, the change (to an endpoint or a named retry policy) is not made
/// either, and with it in place each change leaves exactly one entry.
#[tokio::test]
async fn a_change_and_its_audit_entry_commit_together() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        let entries = |b: &Backend| {
            let store = b.store.clone();
            async move {
                store
                    .list_audit(None, &AuditQuery::default(), 200)
                    .await
                    .unwrap()
                    .items
                    .len()
            }
        };
        let kept = b
            .store
            .create_endpoint(t.id, endpoint(&["*"], Semantics::AtLeastOnce), &audit())
            .await
            .unwrap();
        assert_eq!(entries(&b).await, 1, "{}: one change, one entry", b.name);

        b.refuse_inserts("audit_log", None).await;
        let refused = endpoint(&["*"], Semantics::AtLeastOnce);
        let refused_id = refused.id;
        assert!(
            b.store
                .create_endpoint(t.id, refused, &audit())
                .await
                .is_err(),
            "{}",
            b.name
        );
        assert!(
            b.store
                .get_endpoint(t.id, refused_id)
                .await
                .unwrap()
                .is_none(),
            "{}: an endpoint was created without its audit entry",
            b.name
        );
        let patch = herald_engine::model::EndpointPatch {
            description: Some("changed".into()),
            ..Default::default()
        };
        let refused = |what: &str, failed: bool| assert!(failed, "{}: {what} went through", b.name);
        refused(
            "an update",
            b.store
                .update_endpoint(t.id, kept.id, patch, &audit())
                .await
                .is_err(),
        );
        refused(
            "a disable",
            b.store
                .set_endpoint_enabled(t.id, kept.id, false, Some("off"), Some(&audit()))
                .await
                .is_err(),
        );
        refused(
            "a rotation",
            b.store
                .rotate_secret(t.id, kept.id, Secret::generate(), Utc::now(), &audit())
                .await
                .is_err(),
        );
        refused(
            "a delete",
            b.store
                .delete_endpoint(t.id, kept.id, &audit())
                .await
                .is_err(),
        );
        let policy = RetryPolicyId::new();
        let input = herald_engine::model::RetryPolicyIn {
            name: "refused".into(),
            description: String::new(),
            policy: RetryPolicy::default(),
        };
        refused(
            "a new policy",
            b.store
                .create_retry_policy(t.id, policy, input, &audit())
                .await
                .is_err(),
        );
        assert!(
            b.store
                .get_retry_policy(t.id, policy)
                .await
                .unwrap()
                .is_none(),
            "{}: a policy was created without its audit entry",
            b.name
        );
        let after = b.store.get_endpoint(t.id, kept.id).await.unwrap();
        let after = after.unwrap_or_else(|| panic!("{}: deleted without an entry", b.name));
        assert_eq!(after, kept, "{}: changed without an entry", b.name);
        assert_eq!(entries(&b).await, 1, "{}", b.name);
    }
}

/// With the audit insert refused, no recovery change goes through: a DLQ
/// reprocess, a single-event replay, a replay job, its pause, a checkpoint,
/// a tenant setting and a test event all fail and leave everything as it was.
#[tokio::test]
async fn a_recovery_change_and_its_audit_entry_commit_together() {
    use herald_engine::model::{CheckpointIn, ReplayFilter, ReplayId, ReplayState, TenantPatch};
    use herald_engine::store::{Actor, NewReplay};
    for b in backends().await {
        let (t, now, claimed) = one_event_claimed_by_both_semantics(&b).await;
        let first = &claimed[0];
        assert!(
            b.store
                .abandon(first.id, first.claim, "gone")
                .await
                .unwrap()
        );
        let entries = b
            .store
            .dlq_ids(t.id, &DlqQuery::default(), 10)
            .await
            .unwrap();
        assert_eq!(entries.len(), 1, "{}", b.name);
        let actor = Actor("store test".into());
        let new_replay = || NewReplay {
            id: ReplayId::new(),
            filter: ReplayFilter::default(),
            rate_per_second: 10.0,
            max_events: None,
            reason: "suite".into(),
            actor: actor.clone(),
            transform: None,
        };
        let job = b
            .store
            .create_replay(t.id, new_replay(), now, &|_| Some(audit()))
            .await
            .unwrap();
        let detail = || b.store.event_detail(t.id, first.event_id);
        let event_before = detail().await.unwrap();

        b.refuse_inserts("audit_log", None).await;
        let refused = |what: &str, failed: bool| assert!(failed, "{}: {what} went through", b.name);
        refused(
            "a DLQ reprocess",
            b.store
                .reprocess_dlq(t.id, &entries, &actor, "fixed", now, &|_| Some(audit()))
                .await
                .is_err(),
        );
        refused(
            "a single-event replay",
            b.store
                .replay_event(t.id, first.event_id, None, &actor, "again", now, &|_| {
                    Some(audit())
                })
                .await
                .is_err(),
        );
        refused(
            "a replay job",
            b.store
                .create_replay(t.id, new_replay(), now, &|_| Some(audit()))
                .await
                .is_err(),
        );
        refused(
            "a replay pause",
            b.store
                .set_replay_state(
                    Some(t.id),
                    job.id,
                    &[ReplayState::Pending],
                    ReplayState::Paused,
                    None,
                    now,
                    Some(&audit()),
                )
                .await
                .is_err(),
        );
        let checkpoint = CheckpointIn {
            name: "refused".into(),
            ..Default::default()
        };
        refused(
            "a checkpoint",
            b.store
                .create_checkpoint(t.id, &checkpoint, &actor, now, &|_| Some(audit()))
                .await
                .is_err(),
        );
        let patch = TenantPatch {
            payload_dedup_window_secs: Some(Some(60)),
            ..TenantPatch::default()
        };
        refused(
            "a tenant setting",
            b.store.update_tenant(t.id, patch, &audit()).await.is_err(),
        );

        let unchanged = |what: &str, same: bool| assert!(same, "{}: {what} changed", b.name);
        unchanged(
            "the DLQ",
            b.store
                .dlq_ids(t.id, &DlqQuery::default(), 10)
                .await
                .unwrap()
                == entries,
        );
        unchanged(
            "the event's deliveries",
            detail().await.unwrap() == event_before,
        );
        let replays = b.store.list_replays(t.id, None, 10).await.unwrap().items;
        unchanged("the replay jobs", replays.len() == 1);
        unchanged("the job's state", replays[0].state == ReplayState::Pending);
        unchanged(
            "the checkpoints",
            b.store
                .list_checkpoints(t.id, None)
                .await
                .unwrap()
                .is_empty(),
        );
        let tenant = b.store.tenant_by_slug(&t.slug).await.unwrap().unwrap();
        unchanged("the tenant", tenant == t);

        // A test event is an ingest with an entry: refused, it stores nothing,
        // and a publish (which has no entry) is not held up by it.
        let all = EventQuery::default();
        let events = || b.store.list_events(t.id, &all, 50);
        let before = events().await.unwrap().items.len();
        refused(
            "an audited publish",
            b.store
                .ingest_group(vec![herald_engine::store::Publish {
                    tenant: t.id,
                    events: vec![event("test.ping", None)],
                    now,
                    audit: Some(Box::new(|_: &Vec<Ingested>| Some(audit()))),
                    catalog_revision: None,
                }])
                .await
                .unwrap()[0]
                .is_err(),
        );
        unchanged("the events", events().await.unwrap().items.len() == before);
        b.store
            .ingest(t.id, vec![event("a.b", None)], now)
            .await
            .unwrap();
        assert_eq!(
            events().await.unwrap().items.len(),
            before + 1,
            "{}",
            b.name
        );
    }
}
