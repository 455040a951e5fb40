//! A disabled endpoint pauses: its deliveries, those made while it is
//! disabled included, wait without attempts until it is enabled again, or
//! until its backlog is discarded.

use super::delivery::{endpoint, event, receipt};
use super::*;
use herald_engine::model::{OnDead, OrderingMode, Semantics};
use herald_engine::store::{AfterAttempt, Ingested, NewEndpoint};

fn created(out: &[Ingested]) -> Vec<u32> {
    out.iter()
        .map(|i| match i {
            Ingested::Created { deliveries, .. } => *deliveries,
            Ingested::Duplicate { .. } => 0,
        })
        .collect()
}

#[tokio::test]
async fn a_disabled_endpoint_holds_its_deliveries_and_enabling_sends_them_in_order() {
    for b in backends().await {
        let e = NewEndpoint {
            ordering: OrderingMode::Endpoint,
            on_dead: OnDead::Block,
            ..endpoint(&["*"], Semantics::AtLeastOnce)
        };
        let (t, ep) = super::delivery::tenant_with(&b, e).await;
        b.store
            .ingest(t.id, vec![event("a.one", None)], Utc::now())
            .await
            .unwrap();
        assert!(
            b.store
                .set_endpoint_enabled(t.id, ep.id, false, Some("maintenance"), Some(&audit()))
                .await
                .unwrap()
        );
        // Published while it is disabled: still made, and held.
        let out = b
            .store
            .ingest(
                t.id,
                vec![event("a.two", None), event("a.three", None)],
                Utc::now(),
            )
            .await
            .unwrap();
        assert_eq!(created(&out), [1, 1], "{}: made while disabled", b.name);
        assert!(
            claim_due_now(&b, Utc::now() + Duration::seconds(60))
                .await
                .is_empty(),
            "{}: nothing is claimed while it is disabled",
            b.name
        );
        let backlog = b.store.endpoint_backlog(t.id, &[ep.id]).await.unwrap();
        let held = &backlog[&ep.id];
        assert_eq!(
            (held.pending, held.waiting, held.dead),
            (1, 2, 0),
            "{}: one due, two waiting behind it, none dead",
            b.name
        );
        let gauges = b.store.gauges(Utc::now()).await.unwrap();
        assert_eq!(
            (gauges.due, gauges.waiting),
            (1, 2),
            "{}: the metrics count them the same",
            b.name
        );

        b.store
            .set_endpoint_enabled(t.id, ep.id, true, None, Some(&audit()))
            .await
            .unwrap();
        for ty in ["a.one", "a.two", "a.three"] {
            let one = claim_due_now(&b, Utc::now()).await;
            assert_eq!(one.len(), 1, "{}", b.name);
            assert_eq!(one[0].event_type, ty, "{}: the backlog in order", b.name);
            b.store
                .record_attempts(vec![receipt(&one[0], AfterAttempt::Succeeded)])
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn disabling_may_discard_the_backlog_instead() {
    for b in backends().await {
        let (t, ep) = super::delivery::tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        b.store
            .set_endpoint_enabled(t.id, ep.id, false, Some("moving"), Some(&audit()))
            .await
            .unwrap();
        b.store
            .ingest(
                t.id,
                (0..5).map(|_| event("a.b", None)).collect(),
                Utc::now(),
            )
            .await
            .unwrap();
        assert_eq!(
            b.store
                .discard_backlog(t.id, ep.id, &|_| Some(audit()))
                .await
                .unwrap(),
            5,
            "{}",
            b.name
        );
        b.store
            .set_endpoint_enabled(t.id, ep.id, true, None, Some(&audit()))
            .await
            .unwrap();
        assert!(
            claim_due_now(&b, Utc::now()).await.is_empty(),
            "{}: nothing left to send",
            b.name
        );
        let backlog = b.store.endpoint_backlog(t.id, &[ep.id]).await.unwrap();
        assert_eq!(backlog[&ep.id].dead, 5, "{}", b.name);
        assert!(
            b.store
                .dlq_ids(t.id, &herald_engine::model::DlqQuery::default(), 10)
                .await
                .unwrap()
                .is_empty(),
            "{}: discarded, not dead-lettered",
            b.name
        );
    }
}
