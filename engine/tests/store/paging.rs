//! Every paged list, walked with its cursor, on every backend.

use super::*;
use herald_engine::model::Semantics;
use herald_engine::model::{DlqQuery, EventQuery};
use herald_engine::retry::RetryPolicy;

use super::delivery::{endpoint, event};

/// Walks a list two items at a time from its first page; the ids in the
/// order the pages gave them. Fails on a page over the limit or a cursor
/// that never runs out.
async fn walk<T, C, Fut>(
    mut page: impl FnMut(Option<C>) -> Fut,
    id: impl Fn(&T) -> String,
) -> Vec<String>
where
    Fut: std::future::Future<Output = herald_engine::model::Page<T>>,
    C: std::str::FromStr,
    C::Err: std::fmt::Debug,
{
    let mut ids = Vec::new();
    let mut cursor = None;
    for _ in 0..50 {
        let page = page(cursor.take()).await;
        assert!(page.items.len() <= 2, "a page holds more than its limit");
        ids.extend(page.items.iter().map(&id));
        match page.next_cursor {
            Some(next) => cursor = Some(next.parse().expect("a cursor parses as its id")),
            None => return ids,
        }
    }
    panic!("the cursor never ran out");
}

/// Every paged list, walked two at a time with its cursor, yields each item
/// once, in id order (ascending for `after` cursors, descending for `before`).
#[tokio::test]
async fn every_list_pages_through_everything_once_in_order() {
    use herald_engine::model::{
        AuditQuery, CheckpointIn, ReplayFilter, ReplayId, RetryPolicyId, RetryPolicyIn,
    };
    use herald_engine::store::{Actor, NewApiKey, NewReplay};
    const N: usize = 5;
    for b in backends().await {
        let t = default_tenant(&b).await;
        let (mut endpoints, mut keys, mut policies) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..N {
            let ep = b
                .store
                .create_endpoint(t.id, endpoint(&["*"], Semantics::AtLeastOnce), &audit())
                .await
                .unwrap();
            endpoints.push(ep.id.to_string());
            let secret = herald_engine::auth::generate_api_key();
            let key = NewApiKey {
                id: herald_engine::model::ApiKeyId::new(),
                tenant_id: t.id,
                name: format!("key {i}"),
                display_prefix: secret.display_prefix,
                key_digest: secret.digest,
                scope: herald_engine::model::Scope::Read,
                endpoint_id: None,
                default_source: None,
            };
            keys.push(
                b.store
                    .create_api_key(key, &audit())
                    .await
                    .unwrap()
                    .id
                    .to_string(),
            );
            let policy = RetryPolicyIn {
                name: format!("policy {i}"),
                description: String::new(),
                policy: RetryPolicy::default(),
            };
            let id = RetryPolicyId::new();
            b.store
                .create_retry_policy(t.id, id, policy, &audit())
                .await
                .unwrap();
            policies.push(id.to_string());
        }
        let now = Utc::now();
        let events: Vec<String> = b
            .store
            .ingest(t.id, (0..N).map(|_| event("a.b", None)).collect(), now)
            .await
            .unwrap()
            .iter()
            .map(|i| i.event().id.to_string())
            .collect();
        // Five of the deliveries end in the DLQ.
        let claimed = b
            .store
            .claim_due(now, now + Duration::seconds(60), N as u32, 8, 1)
            .await
            .unwrap();
        assert_eq!(claimed.len(), N, "{}", b.name);
        for c in &claimed {
            assert!(b.store.abandon(c.id, c.claim, "gone").await.unwrap());
        }
        let (mut replays, mut checkpoints) = (Vec::new(), Vec::new());
        for i in 0..N {
            let replay = NewReplay {
                id: ReplayId::new(),
                filter: ReplayFilter::default(),
                rate_per_second: 10.0,
                max_events: None,
                reason: String::new(),
                actor: Actor("suite".into()),
                transform: None,
            };
            replays.push(replay.id.to_string());
            b.store
                .create_replay(t.id, replay, now, &|_| Some(audit()))
                .await
                .unwrap();
            let input = CheckpointIn {
                name: format!("checkpoint {i}"),
                ..Default::default()
            };
            let made = b
                .store
                .create_checkpoint(
                    t.id,
                    &input,
                    &Actor("suite".into()),
                    now,
                    &|_| Some(audit()),
                )
                .await
                .unwrap();
            checkpoints.push(made.id.to_string());
        }

        let s = &b.store;
        let check = |list: &str, walked: Vec<String>, mut made: Vec<String>, ascending: bool| {
            let mut in_order = walked.clone();
            in_order.sort();
            if !ascending {
                in_order.reverse();
            }
            assert_eq!(walked, in_order, "{}: {list} out of order", b.name);
            made.sort();
            let mut seen = walked;
            seen.sort();
            assert_eq!(seen, made, "{}: {list} paged to other items", b.name);
        };
        let walked = walk(
            |c| async move { s.list_endpoints(t.id, c, 2).await.unwrap() },
            |e| e.id.to_string(),
        );
        check("endpoints", walked.await, endpoints, true);
        let walked = walk(
            |c| async move { s.list_api_keys(t.id, c, 2).await.unwrap() },
            |k| k.id.to_string(),
        );
        check("API keys", walked.await, keys, true);
        let walked = walk(
            |c| async move { s.list_retry_policies(t.id, c, 2).await.unwrap() },
            |p| p.id.to_string(),
        );
        check("retry policies", walked.await, policies, true);
        let walked = walk(
            |before| async move {
                let filter = EventQuery {
                    cursor: before,
                    ..Default::default()
                };
                s.list_events(t.id, &filter, 2).await.unwrap()
            },
            |e| e.id.to_string(),
        );
        check("events", walked.await, events, false);
        let dlq = s
            .dlq_ids(t.id, &DlqQuery::default(), 100)
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        let walked = walk(
            |before| async move {
                let filter = DlqQuery {
                    cursor: before,
                    ..Default::default()
                };
                s.list_dlq(t.id, &filter, 2).await.unwrap()
            },
            |e| e.id.to_string(),
        );
        check("the DLQ", walked.await, dlq, false);
        let walked = walk(
            |c| async move { s.list_replays(t.id, c, 2).await.unwrap() },
            |r| r.id.to_string(),
        );
        check("replays", walked.await, replays, false);
        let walked = walk(
            |c| async move { s.page_checkpoints(t.id, c, 2).await.unwrap() },
            |c| c.id.to_string(),
        );
        check("checkpoints", walked.await, checkpoints, false);
        let audit_ids = s
            .list_audit(None, &AuditQuery::default(), 200)
            .await
            .unwrap()
            .items
            .iter()
            .map(|a| a.id.to_string())
            .collect::<Vec<_>>();
        assert_eq!(audit_ids.len(), 5 * N, "{}: one entry per change", b.name);
        let walked = walk(
            |c| async move {
                let filter = AuditQuery {
                    cursor: c,
                    ..Default::default()
                };
                s.list_audit(None, &filter, 2).await.unwrap()
            },
            |a| a.id.to_string(),
        );
        check("the audit log", walked.await, audit_ids, false);
    }
}
