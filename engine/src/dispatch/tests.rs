//! The dispatcher against a real store and local receivers.

use chrono::DateTime;

use super::attempt::later_by_ms;
use super::*;
use crate::model::Semantics;

#[tokio::test]
async fn idle_endpoint_slots_are_dropped_and_busy_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let store = crate::store::connect(&url, Arc::new(crate::vault::Vault::ephemeral()))
        .await
        .unwrap();
    let dispatcher = Dispatcher::new(
        store,
        DispatcherConfig::default(),
        Default::default(),
        Default::default(),
        crate::ops::Notices::detached(),
    );
    let busy_endpoint = EndpointId::new();
    let held = dispatcher
        .endpoint_slot(busy_endpoint, None)
        .try_acquire_owned()
        .unwrap();
    for _ in 0..2_500 {
        drop(dispatcher.endpoint_slot(EndpointId::new(), None));
    }
    let slots = dispatcher.endpoint_slots.lock().unwrap();
    assert!(slots.len() <= SLOT_PRUNE_AT, "{} slots kept", slots.len());
    let busy = slots.get(&busy_endpoint).expect("a slot in use is kept");
    assert_eq!(
        busy.1.available_permits(),
        DispatcherConfig::default().per_endpoint - 1
    );
    drop(slots);
    drop(held);
}

/// A receiver that answers every request with `answer` (a whole HTTP/1.1
/// response) and counts the requests.
async fn receiver(answer: &'static str) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let mut read = Vec::new();
                let mut buf = [0u8; 4096];
                while !read.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read.extend_from_slice(&buf[..n]),
                    }
                }
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, seen)
}

/// Runs a dispatcher (allowed to reach loopback) with one endpoint at `url`
/// under `policy`, publishes one event, and returns what is needed to follow it.
async fn one_delivery(
    url: &str,
    policy: crate::retry::RetryPolicy,
) -> (
    tempfile::TempDir,
    Arc<dyn Store>,
    crate::model::TenantId,
    crate::model::EventId,
    watch::Sender<bool>,
) {
    let (dir, store, tenant) = with_endpoint(url, policy, EndpointId::new()).await;
    let (event, stop) = publish_one(&store, tenant, vec!["127.0.0.0/8".parse().unwrap()]).await;
    (dir, store, tenant, event, stop)
}

/// A store with one tenant and one endpoint (`id`) at `url` under `policy`.
async fn with_endpoint(
    url: &str,
    policy: crate::retry::RetryPolicy,
    id: EndpointId,
) -> (tempfile::TempDir, Arc<dyn Store>, crate::model::TenantId) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("d.db").display());
    let store = crate::store::connect(&db, Arc::new(crate::vault::Vault::ephemeral()))
        .await
        .unwrap();
    let tenant = store.ensure_tenant("default", "Default").await.unwrap();
    store
        .create_endpoint(
            tenant.id,
            crate::store::NewEndpoint {
                id,
                kind: Default::default(),
                url: url.into(),
                name: String::new(),
                description: String::new(),
                event_types: vec!["*".into()],
                filter: None,
                transform: None,
                headers: Default::default(),
                semantics: Semantics::AtLeastOnce,
                // Stored as it is: the store does not validate, so a policy
                // from before a bound existed reaches the dispatcher too.
                retry_policy: policy,
                retry_policy_id: None,
                timeout_ms: 2_000,
                max_in_flight: None,
                ordering: Default::default(),
                on_dead: Default::default(),
                rate_limit: None,
                ack_timeout_secs: 300,
                circuit_breaker: None,
                secret: crate::sign::Secret::generate(),
            },
            &crate::store::NewAudit {
                tenant_id: Some(tenant.id),
                actor: "test".into(),
                role: "-".into(),
                action: crate::model::AuditAction::EndpointCreate,
                target: "-".into(),
                summary: "-".into(),
                correlation_id: None,
            },
        )
        .await
        .unwrap();
    (dir, store, tenant.id)
}

/// Runs a dispatcher whose guard lets `allow` through and publishes one
/// event of type `a.b` with payload `{"n":1}`.
async fn publish_one(
    store: &Arc<dyn Store>,
    tenant: crate::model::TenantId,
    allow: Vec<ipnet::IpNet>,
) -> (crate::model::EventId, watch::Sender<bool>) {
    let config = DispatcherConfig {
        guard: guard::DestinationGuard::new(allow),
        ..DispatcherConfig::default()
    };
    let dispatcher = Dispatcher::new(
        store.clone(),
        config,
        Default::default(),
        Default::default(),
        crate::ops::Notices::detached(),
    );
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(dispatcher.clone().run(stopped));
    let ingested = store
        .ingest(
            tenant,
            vec![crate::store::NewEvent {
                event_type: "a.b".into(),
                payload: r#"{"n":1}"#.into(),
                idempotency_key: None,
                correlation_id: None,
                entity_id: None,
                ordering_key: None,
                metadata: None,
                source: None,
                only_endpoint: None,
                operational: false,
                schema_version: None,
                schema_problems: Vec::new(),
            }],
            Utc::now(),
        )
        .await
        .unwrap();
    dispatcher.wake();
    (ingested[0].event().id, stop)
}

/// Waits (up to 10 s) until the event's one delivery has `n` receipts.
async fn receipts(
    store: &Arc<dyn Store>,
    tenant: crate::model::TenantId,
    event: crate::model::EventId,
    n: usize,
) -> crate::model::DeliveryOut {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let detail = store.event_detail(tenant, event).await.unwrap().unwrap();
        let delivery = detail.deliveries[0].clone();
        if delivery.attempt_log.len() >= n && delivery.state != DeliveryState::InFlight {
            return delivery;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {n} receipt(s) after 10 s: {delivery:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_huge_retry_after_under_an_unbounded_cap_is_a_receipt_and_a_retry() {
    let (url, _) = receiver(
        "HTTP/1.1 429 Too Many Requests\r\nretry-after: 18446744073709551615\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await;
    let policy = crate::retry::RetryPolicy {
        retry_after_cap_secs: u64::MAX,
        give_up_on: Default::default(),
        ..crate::retry::RetryPolicy::schedule(vec![1])
    };
    let (_dir, store, tenant, event, _stop) = one_delivery(&url, policy).await;
    let delivery = receipts(&store, tenant, event, 1).await;
    assert_eq!(delivery.state, DeliveryState::Pending);
    assert_eq!(delivery.attempt_log[0].response_status, Some(429));
    let next = delivery.next_attempt_at.expect("a retry is planned");
    let wait = next - Utc::now();
    assert!(
        wait <= chrono::Duration::days(7) && wait > chrono::Duration::days(6),
        "the retry waits the bounded cap (7 days), not {wait}"
    );
}

#[tokio::test]
async fn a_fault_inside_an_attempt_is_an_internal_receipt_that_follows_the_policy() {
    // Nothing listens there: the injected fault fires before any request.
    let policy = crate::retry::RetryPolicy::schedule(vec![0]).with_max_attempts(2);
    let (_dir, store, tenant, event, _stop) =
        one_delivery("http://fault.invalid/hook", policy).await;
    let delivery = receipts(&store, tenant, event, 2).await;
    assert_eq!(delivery.state, DeliveryState::Dead, "{delivery:?}");
    assert_eq!(delivery.attempts, 2);
    for (i, attempt) in delivery.attempt_log.iter().enumerate() {
        assert_eq!(attempt.attempt, i as u32 + 1, "attempts are numbered on");
        assert_eq!(attempt.error_class, Some(ErrorClass::Internal));
        assert!(
            attempt
                .error_message
                .as_deref()
                .is_some_and(|m| m.contains("a fault injected by a test")),
            "{attempt:?}"
        );
    }
    let dlq = store
        .list_dlq(tenant, &crate::model::DlqQuery::default(), 10)
        .await
        .unwrap();
    assert_eq!(dlq.items.len(), 1, "retries exhausted: one DLQ entry");
}

/// The port of a receiver's URL (`http://127.0.0.1:PORT/hook`).
fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/hook")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_delivery_to_a_play_inbox_stays_in_the_process_and_its_signature_verifies() {
    // A real receiver listens where the URL points, and the guard lets
    // nothing through: the delivery succeeds only by never leaving Herald.
    let (hook, seen) = receiver("HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n").await;
    let inbox = crate::model::PlayInboxId::new();
    let url = format!("http://127.0.0.1:{}/play/{inbox}", port_of(&hook));
    let endpoint = EndpointId::new();
    let (_dir, store, tenant) =
        with_endpoint(&url, crate::retry::RetryPolicy::schedule(vec![1]), endpoint).await;
    store
        .create_play_inbox(tenant, inbox, endpoint, Utc::now())
        .await
        .unwrap();
    let (event, _stop) = publish_one(&store, tenant, Vec::new()).await;
    let delivery = receipts(&store, tenant, event, 1).await;
    assert_eq!(delivery.state, DeliveryState::Succeeded, "{delivery:?}");
    assert_eq!(delivery.attempt_log[0].response_status, Some(200));
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing went over the network"
    );
    let kept = store.play_requests(tenant, inbox, 100).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let request = &kept[0];
    assert!(request.in_process);
    assert!(request.verified, "{}", request.verification);
    assert_eq!(request.body, r#"{"n":1}"#);
    assert_eq!(
        request.headers.get("webhook-id"),
        Some(&delivery.id.to_string())
    );
    assert_eq!(
        request.headers.get("herald-event-type").map(String::as_str),
        Some("a.b")
    );
}

#[tokio::test]
async fn an_ordinary_endpoint_still_cannot_reach_loopback() {
    // The same receiver, a URL that is no play inbox's (one path a little
    // off, one not a play id): the guard refuses both, nothing is sent.
    let (hook, seen) = receiver("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
    let port = port_of(&hook);
    let inbox = crate::model::PlayInboxId::new();
    for url in [
        hook.clone(),
        format!("http://127.0.0.1:{port}/play/ply_notaninbox"),
        format!("http://127.0.0.1:{port}/play/{inbox}/more"),
    ] {
        let (_dir, store, tenant) = with_endpoint(
            &url,
            crate::retry::RetryPolicy::schedule(Vec::new()),
            EndpointId::new(),
        )
        .await;
        let (event, _stop) = publish_one(&store, tenant, Vec::new()).await;
        let delivery = receipts(&store, tenant, event, 1).await;
        assert_eq!(
            delivery.attempt_log[0].error_class,
            Some(ErrorClass::BlockedDestination),
            "{url}: {delivery:?}"
        );
    }
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_tenant_cannot_deliver_into_another_tenants_play_inbox() {
    let inbox = crate::model::PlayInboxId::new();
    let url = format!("http://127.0.0.1:9/play/{inbox}");
    let (_dir, store, tenant) = with_endpoint(
        &url,
        crate::retry::RetryPolicy::schedule(Vec::new()),
        EndpointId::new(),
    )
    .await;
    let other = store.ensure_tenant("other", "Other").await.unwrap().id;
    store
        .create_play_inbox(other, inbox, EndpointId::new(), Utc::now())
        .await
        .unwrap();
    let (event, _stop) = publish_one(&store, tenant, Vec::new()).await;
    let delivery = receipts(&store, tenant, event, 1).await;
    assert_eq!(
        delivery.attempt_log[0].response_status,
        Some(404),
        "{delivery:?}"
    );
    assert!(
        store
            .play_requests(other, inbox, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn time_arithmetic_saturates() {
    let now = Utc::now();
    assert_eq!(later_by_ms(now, u64::MAX), DateTime::<Utc>::MAX_UTC);
    assert_eq!(
        later_by_ms(DateTime::<Utc>::MAX_UTC, 1),
        DateTime::<Utc>::MAX_UTC
    );
    assert_eq!(later_by_ms(now, 1_000), now + chrono::Duration::seconds(1));
}
