//! Circuit breakers: failures over the window open an endpoint's breaker,
//! its due deliveries then wait without attempts, one probe goes out per
//! cool-down, and the probe's outcome closes it, opens it again for longer,
//! or disables the endpoint.

use super::delivery::{endpoint, event, receipt, tenant_with};
use super::*;
use herald_engine::model::{
    AuditQuery, BreakerChange, BreakerSettings, BreakerState, Granularity, GroupBy, Semantics,
};
use herald_engine::store::{AfterAttempt, BreakerObservation, Claimed, NewEndpoint, StatsScope};

fn settings() -> BreakerSettings {
    BreakerSettings {
        min_attempts: 4,
        window_secs: 60,
        cooldown_secs: 30,
        ..BreakerSettings::default()
    }
}

async fn guarded(
    b: &Backend,
    s: BreakerSettings,
) -> (
    herald_engine::model::TenantOut,
    herald_engine::model::EndpointOut,
) {
    let e = NewEndpoint {
        circuit_breaker: Some(s),
        max_in_flight: Some(16),
        ..endpoint(&["*"], Semantics::AtLeastOnce)
    };
    tenant_with(b, e).await
}

/// Records each claimed attempt as a failure due again at `due`, and what
/// the breakers see of them.
async fn fail_all(
    b: &Backend,
    claimed: &[Claimed],
    due: chrono::DateTime<Utc>,
) -> Vec<BreakerObservation> {
    let mut seen = Vec::new();
    for c in claimed {
        let mut failed = receipt(c, AfterAttempt::RetryAt(due));
        failed.attempt.response_status = Some(503);
        failed.attempt.error_class = Some(herald_engine::model::ErrorClass::HttpStatus);
        b.store.record_attempts(vec![failed]).await.unwrap();
        seen.push(BreakerObservation {
            endpoint_id: c.endpoint_id,
            failed: true,
            probe: c.breaker_probe,
        });
    }
    seen
}

fn probe(c: &Claimed, failed: bool) -> BreakerObservation {
    assert!(c.breaker_probe, "claimed as its breaker's probe");
    BreakerObservation {
        endpoint_id: c.endpoint_id,
        failed,
        probe: true,
    }
}

async fn breaker(
    b: &Backend,
    t: &herald_engine::model::TenantOut,
    ep: &herald_engine::model::EndpointOut,
) -> herald_engine::model::BreakerOut {
    b.store
        .get_endpoint(t.id, ep.id)
        .await
        .unwrap()
        .unwrap()
        .breaker
}

#[tokio::test]
async fn failures_open_the_breaker_one_probe_goes_per_cool_down_and_success_closes_it() {
    for b in backends().await {
        let (t, ep) = guarded(&b, settings()).await;
        let now = Utc::now();
        b.store
            .ingest(t.id, (0..6).map(|_| event("a.b", None)).collect(), now)
            .await
            .unwrap();
        let claimed = claim_due_now(&b, now).await;
        assert_eq!(claimed.len(), 6, "{}", b.name);
        assert!(!claimed[0].breaker_probe, "{}", b.name);
        let seen = fail_all(&b, &claimed, now).await;
        // Three failures of four attempts would do; one observation alone
        // says nothing while the window holds fewer than the minimum.
        let changed = b.store.observe_breakers(&seen, now).await.unwrap();
        assert_eq!(changed.len(), 1, "{}", b.name);
        assert_eq!(changed[0].change, BreakerChange::Opened, "{}", b.name);
        assert!(
            changed[0].reason.contains("6 of 6 attempts failed"),
            "{}: {}",
            b.name,
            changed[0].reason
        );
        let open = breaker(&b, &t, &ep).await;
        assert_eq!(
            (open.state, open.trips),
            (BreakerState::Open, 1),
            "{}",
            b.name
        );
        assert!(
            b.store
                .observe_breakers(&seen, now)
                .await
                .unwrap()
                .is_empty(),
            "{}: the attempts made before it opened are no probes",
            b.name
        );

        assert!(
            claim_due_now(&b, now + Duration::seconds(10))
                .await
                .is_empty(),
            "{}: six due, none attempted while it is open",
            b.name
        );
        let probe_at = now + Duration::seconds(31);
        let first = claim_due_now(&b, probe_at).await;
        assert_eq!(first.len(), 1, "{}: half-open, one probe", b.name);
        assert!(first[0].breaker_probe, "{}", b.name);
        assert!(
            claim_due_now(&b, probe_at).await.is_empty(),
            "{}: never two probes at once",
            b.name
        );
        fail_all(&b, &first, probe_at).await;
        let changed = b
            .store
            .observe_breakers(&[probe(&first[0], true)], probe_at)
            .await
            .unwrap();
        assert_eq!(changed[0].change, BreakerChange::Opened, "{}", b.name);
        assert_eq!(
            changed[0].probe_at.map(|p| p.timestamp_millis()),
            Some((probe_at + Duration::seconds(60)).timestamp_millis()),
            "{}: the cool-down doubled",
            b.name
        );
        assert!(
            claim_due_now(&b, probe_at + Duration::seconds(59))
                .await
                .is_empty(),
            "{}",
            b.name
        );

        let later = probe_at + Duration::seconds(61);
        let second = claim_due_now(&b, later).await;
        assert_eq!(second.len(), 1, "{}", b.name);
        b.store
            .record_attempts(vec![receipt(&second[0], AfterAttempt::Succeeded)])
            .await
            .unwrap();
        let changed = b
            .store
            .observe_breakers(&[probe(&second[0], false)], later)
            .await
            .unwrap();
        assert_eq!(changed[0].change, BreakerChange::Closed, "{}", b.name);
        assert_eq!(
            breaker(&b, &t, &ep).await.state,
            BreakerState::Closed,
            "{}",
            b.name
        );
        assert_eq!(
            claim_due_now(&b, later).await.len(),
            5,
            "{}: the rest go out at once",
            b.name
        );

        let stats = b
            .store
            .stats(
                t.id,
                &StatsScope {
                    from: now - Duration::minutes(5),
                    to: now + Duration::minutes(10),
                    granularity: Granularity::Minute,
                    group_by: GroupBy::None,
                    endpoint_id: Some(ep.id),
                    event_type: None,
                    totals_only: true,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            stats.total.counts.breaker_held,
            6 + 5,
            "{}: six due when the first probe failed, five when the second succeeded",
            b.name
        );
        let audit = b
            .store
            .list_audit(Some(t.id), &AuditQuery::default(), 50)
            .await
            .unwrap();
        let actions: Vec<&str> = audit
            .items
            .iter()
            .filter(|a| a.target == ep.id.to_string() && a.action.starts_with("endpoint.circuit"))
            .map(|a| a.action.as_str())
            .collect();
        assert_eq!(
            actions,
            [
                "endpoint.circuit_closed",
                "endpoint.circuit_opened",
                "endpoint.circuit_opened"
            ],
            "{}: every transition audited, newest first",
            b.name
        );
    }
}

#[tokio::test]
async fn a_breaker_that_keeps_tripping_disables_its_endpoint() {
    for b in backends().await {
        let s = BreakerSettings {
            disable_after_trips: Some(2),
            ..settings()
        };
        let (t, ep) = guarded(&b, s).await;
        let now = Utc::now();
        b.store
            .ingest(t.id, (0..4).map(|_| event("a.b", None)).collect(), now)
            .await
            .unwrap();
        let claimed = claim_due_now(&b, now).await;
        let seen = fail_all(&b, &claimed, now).await;
        b.store.observe_breakers(&seen, now).await.unwrap();
        let at = now + Duration::seconds(31);
        let p = claim_due_now(&b, at).await;
        assert_eq!(p.len(), 1, "{}", b.name);
        fail_all(&b, &p, at).await;
        let changed = b
            .store
            .observe_breakers(&[probe(&p[0], true)], at)
            .await
            .unwrap();
        assert_eq!(changed[0].change, BreakerChange::Disabled, "{}", b.name);
        let out = b.store.get_endpoint(t.id, ep.id).await.unwrap().unwrap();
        assert!(!out.enabled, "{}", b.name);
        assert_eq!(
            out.disabled_reason.as_deref(),
            Some("circuit breaker: 2 trips in a row without a successful probe"),
            "{}",
            b.name
        );
        assert_eq!(
            out.breaker.state,
            BreakerState::Closed,
            "{}: enabling starts afresh",
            b.name
        );
        assert!(
            claim_due_now(&b, at + Duration::seconds(600))
                .await
                .is_empty(),
            "{}: disabled, its deliveries wait",
            b.name
        );
    }
}

#[tokio::test]
async fn a_breaker_turned_off_never_opens() {
    for b in backends().await {
        let (t, ep) = guarded(
            &b,
            BreakerSettings {
                enabled: false,
                ..settings()
            },
        )
        .await;
        let now = Utc::now();
        b.store
            .ingest(t.id, (0..6).map(|_| event("a.b", None)).collect(), now)
            .await
            .unwrap();
        let claimed = claim_due_now(&b, now).await;
        let seen = fail_all(&b, &claimed, now).await;
        assert!(
            b.store
                .observe_breakers(&seen, now)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            b.name
        );
        assert_eq!(
            breaker(&b, &t, &ep).await.state,
            BreakerState::Closed,
            "{}",
            b.name
        );
        assert_eq!(claim_due_now(&b, now).await.len(), 6, "{}", b.name);
    }
}
