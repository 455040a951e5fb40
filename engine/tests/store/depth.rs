//! What the DLQ's lists, its depth chart and the `/metrics` gauges count, as
//! every backend must count it.

use super::*;
use herald_engine::model::{DlqQuery, EndpointId, Granularity, GroupBy, Semantics};
use herald_engine::store::{Actor, StatsScope};

use super::delivery::{dead_letters, tenant_with_endpoint};

/// The DLQ's size at the end of the first bucket of the minutes around
/// `since` (before anything was dead) and of the last one, and the entries
/// added and removed in the range.
async fn depth(
    b: &Backend,
    t: &herald_engine::model::TenantOut,
    since: DateTime,
) -> (u64, u64, u64, u64) {
    let out = b
        .store
        .stats(
            t.id,
            &StatsScope {
                from: since - Duration::minutes(5),
                to: Utc::now() + Duration::minutes(1),
                granularity: Granularity::Minute,
                group_by: GroupBy::None,
                endpoint_id: None,
                event_type: None,
                totals_only: false,
            },
        )
        .await
        .unwrap();
    let first = out.dlq_depth.first().expect("a depth point per bucket");
    let last = out.dlq_depth.last().expect("a depth point per bucket");
    let counts = &out.total.counts;
    (
        first.depth,
        last.depth,
        counts.dlq_added,
        counts.dlq_removed,
    )
}

type DateTime = chrono::DateTime<Utc>;

/// Three dead deliveries (two of one type, one of another) are found by every
/// filter that matches them and by none that does not; the depth chart and
/// the gauges count them, and follow a reprocess out of the queue.
#[tokio::test]
async fn the_dlq_filters_and_its_depth_follow_what_is_waiting() {
    for b in backends().await {
        let (t, ep) = tenant_with_endpoint(&b, Semantics::AtLeastOnce).await;
        let start = Utc::now();
        let dead = dead_letters(&b, &t, &["a.b", "a.b", "c.d"]).await;
        assert_eq!(dead.len(), 3, "{}", b.name);

        let count = |q: DlqQuery| {
            let store = b.store.clone();
            let tenant = t.id;
            async move { store.dlq_count(tenant, &q).await.unwrap() }
        };
        assert_eq!(count(DlqQuery::default()).await, 3, "{}", b.name);
        let of_type = |t: &str| DlqQuery {
            event_type: Some(t.into()),
            ..DlqQuery::default()
        };
        assert_eq!(count(of_type("a.b")).await, 2, "{}: by type", b.name);
        assert_eq!(count(of_type("c.d")).await, 1, "{}: by type", b.name);
        assert_eq!(
            count(of_type("a")).await,
            0,
            "{}: types match exactly",
            b.name
        );
        let at = |id: EndpointId| DlqQuery {
            endpoint_id: Some(id),
            ..DlqQuery::default()
        };
        assert_eq!(count(at(ep.id)).await, 3, "{}: by endpoint", b.name);
        assert_eq!(
            count(at(EndpointId::new())).await,
            0,
            "{}: another endpoint",
            b.name
        );
        let between = |from: Option<DateTime>, to: Option<DateTime>| DlqQuery {
            from,
            to,
            ..DlqQuery::default()
        };
        let (before, after) = (
            start - Duration::minutes(1),
            Utc::now() + Duration::minutes(1),
        );
        assert_eq!(
            count(between(Some(before), Some(after))).await,
            3,
            "{}",
            b.name
        );
        assert_eq!(
            count(between(Some(after), None)).await,
            0,
            "{}: from",
            b.name
        );
        assert_eq!(
            count(between(None, Some(before))).await,
            0,
            "{}: to",
            b.name
        );
        let listed = b.store.list_dlq(t.id, &of_type("a.b"), 10).await.unwrap();
        assert_eq!(listed.items.len(), 2, "{}", b.name);
        assert!(
            listed.items.iter().all(|e| e.event_type == "a.b"),
            "{}",
            b.name
        );
        let ids = b.store.dlq_ids(t.id, &of_type("c.d"), 10).await.unwrap();
        assert_eq!(ids.len(), 1, "{}: ids take the same filter", b.name);
        // Another tenant's queue is empty.
        let other = b.store.ensure_tenant("other", "Other").await.unwrap();
        assert_eq!(
            b.store
                .dlq_count(other.id, &DlqQuery::default())
                .await
                .unwrap(),
            0,
            "{}",
            b.name
        );

        assert_eq!(
            depth(&b, &t, start).await,
            (0, 3, 3, 0),
            "{}: depth",
            b.name
        );
        let gauges = b.store.gauges(Utc::now()).await.unwrap();
        assert_eq!(gauges.dlq_depth, 3, "{}", b.name);
        assert_eq!(gauges.in_flight, 0, "{}", b.name);
        assert_eq!(gauges.due, 0, "{}", b.name);
        assert_eq!(gauges.endpoints_enabled, 1, "{}", b.name);

        let out = b
            .store
            .reprocess_dlq(
                t.id,
                &ids,
                &Actor("suite".into()),
                "fixed",
                Utc::now(),
                &|_| None,
            )
            .await
            .unwrap();
        assert_eq!(out.reprocessed, ids, "{}", b.name);
        assert_eq!(
            depth(&b, &t, start).await,
            (0, 2, 3, 1),
            "{}: depth after reprocess",
            b.name
        );
        let gauges = b
            .store
            .gauges(Utc::now() + Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(gauges.dlq_depth, 2, "{}", b.name);
        assert_eq!(gauges.due, 1, "{}: the reprocessed delivery is due", b.name);
    }
}
