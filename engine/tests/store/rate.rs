//! Per-endpoint rate limits: a claim takes no more of an endpoint's
//! deliveries than its token bucket holds (one second's worth at most,
//! refilled at the limit's rate); throttled deliveries stay pending.

use super::delivery::{endpoint, event, patch_endpoint, tenant_with};
use super::*;
use herald_engine::model::{RateLimit, RatePer, Semantics};
use herald_engine::store::NewEndpoint;

async fn limited(
    b: &Backend,
    limit: u32,
    per: RatePer,
) -> (
    herald_engine::model::TenantOut,
    herald_engine::model::EndpointOut,
) {
    let e = NewEndpoint {
        rate_limit: Some(RateLimit { limit, per }),
        ..endpoint(&["*"], Semantics::AtLeastOnce)
    };
    tenant_with(b, e).await
}

async fn taken(b: &Backend, at: chrono::DateTime<Utc>) -> usize {
    b.store
        .claim_due(at, at + Duration::seconds(60), 1_000, 1_000, 1)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_claim_takes_no_more_than_the_endpoints_tokens() {
    for b in backends().await {
        let (t, ep) = limited(&b, 10, RatePer::Second).await;
        assert_eq!(
            ep.rate_limit,
            Some(RateLimit {
                limit: 10,
                per: RatePer::Second
            }),
            "{}",
            b.name
        );
        let t0 = Utc::now();
        b.store
            .ingest(t.id, (0..50).map(|_| event("a.b", None)).collect(), t0)
            .await
            .unwrap();
        assert_eq!(
            taken(&b, t0).await,
            10,
            "{}: a second's worth at once",
            b.name
        );
        assert_eq!(taken(&b, t0).await, 0, "{}: then none", b.name);
        let backlog = b.store.endpoint_backlog(t.id, &[ep.id]).await.unwrap();
        assert!(backlog[&ep.id].throttled, "{}: shown as throttled", b.name);
        let half = t0 + Duration::milliseconds(500);
        assert_eq!(taken(&b, half).await, 5, "{}: refilled at 10/s", b.name);
        assert_eq!(taken(&b, half).await, 0, "{}", b.name);
        // A long pause refills no more than a second's worth.
        let later = t0 + Duration::seconds(30);
        assert_eq!(taken(&b, later).await, 10, "{}", b.name);
    }
}

#[tokio::test]
async fn a_per_minute_limit_spreads_its_deliveries_over_the_minute() {
    for b in backends().await {
        let (t, ep) = limited(&b, 120, RatePer::Minute).await;
        let t0 = Utc::now();
        b.store
            .ingest(t.id, (0..20).map(|_| event("a.b", None)).collect(), t0)
            .await
            .unwrap();
        assert_eq!(taken(&b, t0).await, 2, "{}: 2 a second", b.name);
        assert_eq!(taken(&b, t0 + Duration::seconds(1)).await, 2, "{}", b.name);
        // Lifting the limit lets the rest go at once.
        let patch = herald_engine::model::EndpointPatch {
            rate_limit: Some(None),
            ..Default::default()
        };
        let changed = patch_endpoint(&b, (&t, &ep), patch).await;
        assert_eq!(changed.rate_limit, None, "{}", b.name);
        assert_eq!(taken(&b, t0 + Duration::seconds(1)).await, 16, "{}", b.name);
    }
}
