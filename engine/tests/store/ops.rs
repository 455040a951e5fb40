//! Operational webhooks as the store keeps them: a tenant's operations
//! endpoint, and a dead-letter queue past its threshold told once per
//! crossing, by one asker.

use super::delivery::{dead_letters, tenant_with_endpoint};
use super::*;
use herald_engine::model::{EndpointId, Semantics, TenantPatch};
use herald_engine::store::Actor;

fn actor() -> Actor {
    Actor("support".into())
}

#[tokio::test]
async fn the_operations_endpoint_must_be_the_tenants_own_and_goes_with_its_deletion() {
    for b in backends().await {
        let (t, ep) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        assert_eq!(
            b.store.operations_endpoint(t.id).await.unwrap(),
            None,
            "{}",
            b.name
        );
        let unknown = EndpointId::new();
        let refused = b
            .store
            .update_tenant(
                t.id,
                TenantPatch {
                    operations_endpoint_id: Some(Some(unknown)),
                    dlq_alert_threshold: Some(Some(5)),
                    ..TenantPatch::default()
                },
                &audit(),
            )
            .await
            .expect_err("an endpoint the tenant does not have");
        assert!(
            refused.to_string().contains(&unknown.to_string()),
            "{}: {refused}",
            b.name
        );
        let unchanged = b.store.tenant_by_slug(&t.slug).await.unwrap().unwrap();
        assert_eq!(
            (
                unchanged.operations_endpoint_id,
                unchanged.dlq_alert_threshold
            ),
            (None, None),
            "{}: a refused patch changes nothing",
            b.name
        );

        b.store
            .update_tenant(
                t.id,
                TenantPatch {
                    operations_endpoint_id: Some(Some(ep.id)),
                    ..TenantPatch::default()
                },
                &audit(),
            )
            .await
            .unwrap();
        assert_eq!(
            b.store.operations_endpoint(t.id).await.unwrap(),
            Some(ep.id),
            "{}",
            b.name
        );
        let read = b.store.tenant_by_slug(&t.slug).await.unwrap().unwrap();
        assert_eq!(read.operations_endpoint_id, Some(ep.id), "{}", b.name);

        b.store
            .delete_endpoint(t.id, ep.id, &audit())
            .await
            .unwrap();
        assert_eq!(
            b.store.operations_endpoint(t.id).await.unwrap(),
            None,
            "{}: a deleted endpoint receives nothing",
            b.name
        );
    }
}

#[tokio::test]
async fn a_dlq_past_its_threshold_is_told_once_per_crossing() {
    for b in backends().await {
        let (t, _) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        b.store
            .update_tenant(
                t.id,
                TenantPatch {
                    dlq_alert_threshold: Some(Some(2)),
                    ..TenantPatch::default()
                },
                &audit(),
            )
            .await
            .unwrap();
        dead_letters(&b, &t, &["a.b", "a.b"]).await;
        assert!(
            b.store.dlq_alerts(Utc::now()).await.unwrap().is_empty(),
            "{}: two entries are not more than two",
            b.name
        );
        let entries = dead_letters(&b, &t, &["a.b"]).await;
        let alerts = b.store.dlq_alerts(Utc::now()).await.unwrap();
        assert_eq!(alerts.len(), 1, "{}", b.name);
        assert_eq!(
            (alerts[0].tenant_id, alerts[0].entries, alerts[0].threshold),
            (t.id, 3, 2),
            "{}",
            b.name
        );
        assert!(
            b.store.dlq_alerts(Utc::now()).await.unwrap().is_empty(),
            "{}: one crossing, one alert",
            b.name
        );
        dead_letters(&b, &t, &["a.b"]).await;
        assert!(
            b.store.dlq_alerts(Utc::now()).await.unwrap().is_empty(),
            "{}: still past it, not told again",
            b.name
        );

        // Back under the threshold, then past it again: told again.
        for id in &entries[..2] {
            assert!(
                b.store
                    .discard_dlq(t.id, *id, &actor(), "handled", Utc::now(), &audit())
                    .await
                    .unwrap()
            );
        }
        assert!(
            b.store.dlq_alerts(Utc::now()).await.unwrap().is_empty(),
            "{}",
            b.name
        );
        dead_letters(&b, &t, &["a.b"]).await;
        let again = b.store.dlq_alerts(Utc::now()).await.unwrap();
        assert_eq!(again.len(), 1, "{}: a second crossing", b.name);
        assert_eq!(again[0].entries, 3, "{}", b.name);
    }
}
