//! Retention as the store does it: pruning removes exactly the expired
//! events whose deliveries are all over (with their receipts), never one
//! still pending, in flight, awaiting acknowledgement or dead-lettered; and
//! expunging erases an event's payload everywhere it was kept.

use super::delivery::{event, receipt, tenant_with_endpoint};
use super::*;
use herald_engine::model::{DlqQuery, EventId, Semantics, TenantPatch};
use herald_engine::store::{Actor, AfterAttempt, Expunged, Ingested};

fn actor() -> Actor {
    Actor("privacy officer".into())
}

/// Publishes one event now and returns its id.
async fn publish(b: &Backend, tenant: herald_engine::model::TenantId, ty: &str) -> EventId {
    let out = b
        .store
        .ingest(tenant, vec![event(ty, None)], Utc::now())
        .await
        .unwrap();
    match &out[0] {
        Ingested::Created { event, .. } => event.id,
        other => panic!("{}: not a new event: {other:?}", b.name),
    }
}

/// Claims what is due now (the one event just published).
async fn claim_now(b: &Backend) -> Vec<herald_engine::store::Claimed> {
    claim_due_now(b, Utc::now() + Duration::milliseconds(5)).await
}

#[tokio::test]
async fn pruning_removes_expired_events_whose_deliveries_are_over_and_keeps_the_rest() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        // No endpoint yet: an event with no deliveries at all.
        let no_deliveries = publish(&b, t.id, "a.none").await;
        let (_, _ep) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;

        let delivered = publish(&b, t.id, "a.delivered").await;
        let c = claim_now(&b).await;
        assert_eq!(c.len(), 1, "{}", b.name);
        b.store
            .record_attempts(vec![receipt(&c[0], AfterAttempt::Succeeded)])
            .await
            .unwrap();

        let discarded = publish(&b, t.id, "a.discarded").await;
        let c = claim_now(&b).await;
        assert!(b.store.abandon(c[0].id, c[0].claim, "gone").await.unwrap());
        let entry = b
            .store
            .dlq_ids(t.id, &DlqQuery::default(), 10)
            .await
            .unwrap()[0];
        assert!(
            b.store
                .discard_dlq(t.id, entry, &actor(), "", Utc::now(), &audit())
                .await
                .unwrap()
        );

        let dead_lettered = publish(&b, t.id, "a.dlq").await;
        let c = claim_now(&b).await;
        assert!(b.store.abandon(c[0].id, c[0].claim, "gone").await.unwrap());

        let awaiting_ack = publish(&b, t.id, "a.ack").await;
        let c = claim_now(&b).await;
        b.store
            .record_attempts(vec![receipt(
                &c[0],
                AfterAttempt::AwaitAck(Utc::now() + Duration::hours(1)),
            )])
            .await
            .unwrap();

        let in_flight = publish(&b, t.id, "a.flight").await;
        assert_eq!(claim_now(&b).await.len(), 1, "{}", b.name);

        let pending = publish(&b, t.id, "a.pending").await;

        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let cutoff = Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let recent = publish(&b, t.id, "a.recent").await;

        // Batches of two, each starting where the last one stopped.
        let (mut removed, mut held, mut cursor, mut batches) = (0, 0, None::<String>, 0);
        loop {
            let batch = b
                .store
                .prune_events(t.id, cutoff, cursor.as_deref(), 2)
                .await
                .unwrap();
            removed += batch.removed;
            held += batch.held;
            batches += 1;
            match batch.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!((removed, held), (3, 4), "{}", b.name);
        assert_eq!(
            batches, 5,
            "{}: 7 expired events in batches of 2, then an empty one",
            b.name
        );

        for gone in [no_deliveries, delivered, discarded] {
            assert!(
                b.store.event_detail(t.id, gone).await.unwrap().is_none(),
                "{}: {gone} should be pruned",
                b.name
            );
        }
        for kept in [dead_lettered, awaiting_ack, in_flight, pending, recent] {
            let detail = b.store.event_detail(t.id, kept).await.unwrap();
            assert!(detail.is_some(), "{}: {kept} should be kept", b.name);
        }
        // The dead-lettered event's entry and receipt are whole.
        let entries = b
            .store
            .dlq_ids(t.id, &DlqQuery::default(), 10)
            .await
            .unwrap();
        assert_eq!(entries.len(), 1, "{}", b.name);
        let entry = b.store.dlq_entry(t.id, entries[0]).await.unwrap().unwrap();
        assert_eq!(entry.entry.event_id, dead_lettered, "{}", b.name);

        // A second pass finds nothing more to remove.
        let again = b.store.prune_events(t.id, cutoff, None, 100).await.unwrap();
        assert_eq!((again.removed, again.held), (0, 4), "{}", b.name);
    }
}

#[tokio::test]
async fn statistics_older_than_the_cutoff_are_pruned_in_batches() {
    for b in backends().await {
        let (t, _ep) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        publish(&b, t.id, "s.one").await;
        let c = claim_now(&b).await;
        b.store
            .record_attempts(vec![receipt(&c[0], AfterAttempt::Succeeded)])
            .await
            .unwrap();
        // One attempt makes a minute, an hour and a day row, and as many
        // latency rows.
        let earlier = Utc::now() - Duration::days(2);
        assert_eq!(
            b.store.prune_stats(t.id, earlier, 10).await.unwrap(),
            0,
            "{}",
            b.name
        );
        let later = Utc::now() + Duration::days(2);
        assert_eq!(
            b.store.prune_stats(t.id, later, 2).await.unwrap(),
            2,
            "{}",
            b.name
        );
        for _ in 0..2 {
            assert_eq!(
                b.store.prune_stats(t.id, later, 2).await.unwrap(),
                2,
                "{}",
                b.name
            );
        }
        assert_eq!(
            b.store.prune_stats(t.id, later, 2).await.unwrap(),
            0,
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn retention_settings_default_for_new_tenants_and_can_be_turned_off() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        assert_eq!(
            (t.event_retention_days, t.stats_retention_days),
            (Some(30), Some(400)),
            "{}: a new tenant's defaults",
            b.name
        );
        let listed = b.store.retentions().await.unwrap();
        assert!(listed.iter().any(|r| r.tenant_id == t.id), "{}", b.name);
        b.store
            .update_tenant(
                t.id,
                TenantPatch {
                    event_retention_days: Some(None),
                    stats_retention_days: Some(None),
                    ..TenantPatch::default()
                },
                &audit(),
            )
            .await
            .unwrap();
        let read = b.store.tenant_by_slug(&t.slug).await.unwrap().unwrap();
        assert_eq!(
            (read.event_retention_days, read.stats_retention_days),
            (None, None)
        );
        let listed = b.store.retentions().await.unwrap();
        assert!(
            !listed.iter().any(|r| r.tenant_id == t.id),
            "{}: a tenant that keeps everything is not pruned",
            b.name
        );
    }
}

#[tokio::test]
async fn expunging_erases_the_payload_receipts_and_dlq_entry_and_ends_waiting_deliveries() {
    for b in backends().await {
        let (t, _ep) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let (_, second) = (
            (),
            b.store
                .create_endpoint(
                    t.id,
                    super::delivery::endpoint(&["*"], Semantics::AtLeastOnce),
                    &audit(),
                )
                .await
                .unwrap(),
        );
        let ingested = b
            .store
            .ingest(
                t.id,
                vec![herald_engine::store::NewEvent {
                    metadata: Some(r#"{"customer":"c-1"}"#.into()),
                    payload: r#"{"email":"someone@example.com"}"#.into(),
                    ..event("p.personal", None)
                }],
                Utc::now(),
            )
            .await
            .unwrap();
        let Ingested::Created { event: e, .. } = &ingested[0] else {
            panic!("{}", b.name)
        };
        let event_id = e.id;
        // One delivery fails into the DLQ with the receiver's answer kept;
        // the other stays pending, due later.
        let claimed = claim_now(&b).await;
        assert_eq!(claimed.len(), 2, "{}", b.name);
        let (to_dlq, to_wait) = if claimed[0].endpoint_id == second.id {
            (&claimed[1], &claimed[0])
        } else {
            (&claimed[0], &claimed[1])
        };
        let mut dead = receipt(
            to_dlq,
            AfterAttempt::Dead {
                reason: "exhausted".into(),
            },
        );
        dead.attempt.response_status = Some(500);
        dead.attempt.response_excerpt = "no such user someone@example.com".into();
        dead.attempt
            .response_headers
            .insert("x-user".into(), "someone@example.com".into());
        let mut retry = receipt(
            to_wait,
            AfterAttempt::RetryAt(Utc::now() + Duration::hours(1)),
        );
        retry.attempt.response_status = Some(503);
        retry.attempt.response_excerpt = "busy, someone@example.com".into();
        b.store.record_attempts(vec![dead, retry]).await.unwrap();

        let refused = b
            .store
            .expunge_event(
                t.id,
                EventId::new(),
                &actor(),
                "request 1",
                Utc::now(),
                &|_| None,
            )
            .await
            .expect_err("an unknown event");
        assert!(
            refused.to_string().contains("not found"),
            "{}: {refused}",
            b.name
        );

        let mut audited = audit();
        audited.action = herald_engine::model::AuditAction::EventExpunge;
        audited.tenant_id = Some(t.id);
        audited.target = event_id.to_string();
        let done = b
            .store
            .expunge_event(
                t.id,
                event_id,
                &actor(),
                "request 1",
                Utc::now(),
                &|_: &Expunged| Some(audited.clone()),
            )
            .await
            .unwrap();
        assert_eq!(
            (done.receipts, done.deliveries_ended, done.dlq_removed),
            (2, 1, 1),
            "{}",
            b.name
        );

        let detail = b.store.event_detail(t.id, event_id).await.unwrap().unwrap();
        assert!(detail.event.expunged_at.is_some(), "{}", b.name);
        assert_eq!(detail.event.payload, serde_json::Value::Null, "{}", b.name);
        assert_eq!(detail.event.metadata, None, "{}", b.name);
        assert_eq!(
            detail.event.event_type, "p.personal",
            "{}: that it existed is kept",
            b.name
        );
        let text = serde_json::to_string(&detail).unwrap();
        assert!(!text.contains("someone@example.com"), "{}: {text}", b.name);
        assert!(!text.contains("c-1"), "{}: {text}", b.name);
        for d in &detail.deliveries {
            assert_eq!(
                d.state,
                herald_engine::model::DeliveryState::Dead,
                "{}: nothing left to send",
                b.name
            );
            assert!(
                d.actions.iter().any(|a| a.reason.contains("request 1")),
                "{}: {:?}",
                b.name,
                d.actions
            );
        }
        assert!(
            b.store
                .dlq_ids(t.id, &DlqQuery::default(), 10)
                .await
                .unwrap()
                .is_empty(),
            "{}: its DLQ entry is gone",
            b.name
        );
        assert!(
            claim_due_now(&b, Utc::now() + Duration::hours(2))
                .await
                .is_empty(),
            "{}: the waiting delivery never comes due",
            b.name
        );
        let log = b
            .store
            .list_audit(Some(t.id), &Default::default(), 50)
            .await
            .unwrap();
        assert!(
            log.items
                .iter()
                .any(|a| a.action == "event.expunge" && a.target == event_id.to_string()),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn an_event_with_a_delivery_in_flight_is_not_expunged_yet() {
    for b in backends().await {
        let (t, _ep) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let event_id = publish(&b, t.id, "p.flight").await;
        assert_eq!(claim_now(&b).await.len(), 1, "{}", b.name);
        let refused = b
            .store
            .expunge_event(t.id, event_id, &actor(), "request 2", Utc::now(), &|_| None)
            .await
            .expect_err("in flight");
        assert!(
            refused.to_string().contains("in flight"),
            "{}: {refused}",
            b.name
        );
        let detail = b.store.event_detail(t.id, event_id).await.unwrap().unwrap();
        assert_eq!(
            detail.event.expunged_at, None,
            "{}: a refusal changes nothing",
            b.name
        );
        assert_ne!(detail.event.payload, serde_json::Value::Null, "{}", b.name);
    }
}
