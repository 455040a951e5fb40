//! Property test: on randomly generated attempts, the statistics the store
//! keeps (counts per minute, hour and day, latency histograms) answer every
//! query exactly as a direct computation over the raw attempts does.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use herald_engine::model::{
    Counts, EndpointId, ErrorClass, Granularity, GroupBy, LATENCY_OVERFLOW_MS, StatsPoint,
    TenantId, latency_bucket,
};
use herald_engine::store::{StatSample, StatsScope};
use herald_engine::vault::Vault;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One raw attempt as generated.
#[derive(Debug, Clone)]
struct Attempt {
    tenant: TenantId,
    endpoint: EndpointId,
    event_type: &'static str,
    at: DateTime<Utc>,
    error: Option<ErrorClass>,
    latency_ms: u64,
    dead: bool,
}

fn generate(rng: &mut StdRng, tenants: &[TenantId], endpoints: &[EndpointId]) -> Vec<Attempt> {
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
    let n = rng.gen_range(1..400);
    (0..n)
        .map(|_| {
            let error = rng
                .gen_bool(0.35)
                .then(|| ErrorClass::ALL[rng.gen_range(0..ErrorClass::ALL.len())]);
            // Mostly fast, some slow, a few beyond the last bucket.
            let latency_ms = match rng.gen_range(0..10) {
                0..=5 => rng.gen_range(0..120),
                6..=8 => rng.gen_range(0..12_000),
                _ => rng.gen_range(0..200_000),
            };
            Attempt {
                tenant: tenants[rng.gen_range(0..tenants.len())],
                endpoint: endpoints[rng.gen_range(0..endpoints.len())],
                event_type: ["order.created", "order.paid", "user.deleted"][rng.gen_range(0..3)],
                at: start + Duration::milliseconds(rng.gen_range(0..3 * 86_400_000)),
                error,
                latency_ms,
                dead: error.is_some() && rng.gen_bool(0.3),
            }
        })
        .collect()
}

/// The ⌈q·n⌉-th fastest latency, from the raw values.
fn quantile(latencies: &[u64], q: f64) -> Option<u64> {
    if latencies.is_empty() {
        return None;
    }
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// A reported percentile is within 1/32 of the true one, and missing only
/// when the true one is 131 s or more.
fn precise(reported: Option<u64>, latencies: &[u64], q: f64, what: &str) {
    match (reported, quantile(latencies, q)) {
        (None, None) => {}
        (None, Some(exact)) => assert!(
            exact >= LATENCY_OVERFLOW_MS,
            "{what}: p{q} missing for {exact} ms"
        ),
        (Some(got), Some(exact)) => assert!(
            got.abs_diff(exact) * 32 <= exact,
            "{what}: p{q} reported {got} ms, exactly {exact} ms"
        ),
        (Some(got), None) => panic!("{what}: p{q} of nothing reported as {got} ms"),
    }
}

/// What a point must say about these attempts.
fn expect(point: &StatsPoint, attempts: &[&Attempt], what: &str) {
    let c = &point.counts;
    assert_eq!(c.attempts, attempts.len() as u64, "{what}: attempts");
    let ok = attempts.iter().filter(|a| a.error.is_none()).count() as u64;
    assert_eq!(c.succeeded, ok, "{what}: succeeded");
    assert_eq!(c.failed, attempts.len() as u64 - ok, "{what}: failed");
    let dead = attempts.iter().filter(|a| a.dead).count() as u64;
    assert_eq!(c.dlq_added, dead, "{what}: dlq_added");
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for a in attempts {
        if let Some(class) = a.error {
            *errors.entry(class.as_str().to_string()).or_default() += 1;
        }
    }
    assert_eq!(c.errors, errors, "{what}: errors");
    let latencies: Vec<u64> = attempts.iter().map(|a| a.latency_ms).collect();
    assert_eq!(
        c.latency_sum_ms,
        latencies.iter().sum::<u64>(),
        "{what}: sum"
    );
    let mut histogram: BTreeMap<u64, u64> = BTreeMap::new();
    for ms in &latencies {
        *histogram.entry(latency_bucket(*ms)).or_default() += 1;
    }
    assert_eq!(c.latency_histogram, histogram, "{what}: histogram");
    precise(point.latency_p50_ms, &latencies, 0.50, what);
    precise(point.latency_p95_ms, &latencies, 0.95, what);
    precise(point.latency_p99_ms, &latencies, 0.99, what);
}

#[tokio::test]
async fn stats_answer_exactly_what_the_raw_attempts_say() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stats.db").display());
    let store = herald_engine::store::connect(&url, Arc::new(Vault::ephemeral()))
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut all: Vec<Attempt> = Vec::new();
    let mut queries = 0;

    for case in 0..25 {
        // Fresh tenants each case, so every case starts from empty statistics.
        let mut tenants = Vec::new();
        for t in 0..rng.gen_range(1..3) {
            tenants.push(
                store
                    .ensure_tenant(&format!("t{case}-{t}"), "t")
                    .await
                    .unwrap()
                    .id,
            );
        }
        let endpoints: Vec<EndpointId> = (0..rng.gen_range(1..4))
            .map(|_| EndpointId::new())
            .collect();
        let attempts = generate(&mut rng, &tenants, &endpoints);
        let samples: Vec<StatSample> = attempts
            .iter()
            .map(|a| StatSample {
                tenant_id: a.tenant,
                endpoint_id: a.endpoint,
                event_type: a.event_type.to_string(),
                at: a.at,
                counts: Counts::of_attempt(a.error, a.latency_ms, a.dead),
            })
            .collect();
        store.record_stats(samples).await.unwrap();
        all.extend(attempts.iter().cloned());

        for _ in 0..8 {
            let tenant = tenants[rng.gen_range(0..tenants.len())];
            let granularity =
                [Granularity::Minute, Granularity::Hour, Granularity::Day][rng.gen_range(0..3)];
            let span_ms = match granularity {
                Granularity::Minute => rng.gen_range(60_000..86_400_000),
                Granularity::Hour | Granularity::Day => rng.gen_range(3_600_000..4 * 86_400_000),
            };
            let from = Utc.with_ymd_and_hms(2026, 11, 19, 22, 0, 0).unwrap()
                + Duration::milliseconds(rng.gen_range(0..3 * 86_400_000));
            let to = from + Duration::milliseconds(span_ms);
            let group_by =
                [GroupBy::None, GroupBy::Endpoint, GroupBy::EventType][rng.gen_range(0..3)];
            let endpoint_id = rng
                .gen_bool(0.3)
                .then(|| endpoints[rng.gen_range(0..endpoints.len())]);
            let query = StatsScope {
                from,
                to,
                granularity,
                group_by,
                endpoint_id,
                event_type: None,
                totals_only: rng.gen_bool(0.25),
            };
            let out = store.stats(tenant, &query).await.unwrap();
            queries += 1;

            // The attempts the query covers: their bucket overlaps [from, to).
            let first = granularity.bucket_start(from.timestamp_millis());
            let bucket = |a: &Attempt| granularity.bucket_start(a.at.timestamp_millis());
            let covered: Vec<&Attempt> = attempts
                .iter()
                .filter(|a| a.tenant == tenant)
                .filter(|a| endpoint_id.is_none_or(|e| a.endpoint == e))
                .filter(|a| bucket(a) >= first && bucket(a) < to.timestamp_millis())
                .collect();
            expect(
                &out.total,
                &covered,
                &format!("case {case} total {query:?}"),
            );

            let group_of = |a: &Attempt| match group_by {
                GroupBy::None => (None, None),
                GroupBy::Endpoint => (Some(a.endpoint), None),
                GroupBy::EventType => (None, Some(a.event_type.to_string())),
            };
            let mut expected: BTreeMap<_, BTreeMap<i64, Vec<&Attempt>>> = BTreeMap::new();
            for a in &covered {
                expected
                    .entry(group_of(a))
                    .or_default()
                    .entry(bucket(a))
                    .or_default()
                    .push(a);
            }
            let with_attempts =
                |s: &&herald_engine::model::StatsSeries| s.total.counts.attempts > 0;
            let got_groups = out.series.iter().filter(with_attempts).count();
            assert_eq!(got_groups, expected.len(), "case {case}: groups");
            for series in out.series.iter().filter(with_attempts) {
                let key = (series.endpoint_id, series.event_type.clone());
                let buckets = expected
                    .get(&key)
                    .expect("a series for a group that has attempts");
                if query.totals_only {
                    // One total per group, no points, no depth.
                    assert!(
                        series.points.is_empty(),
                        "case {case}: points with totals only"
                    );
                    assert!(
                        out.dlq_depth.is_empty(),
                        "case {case}: depth with totals only"
                    );
                    let whole: Vec<&Attempt> = buckets.values().flatten().copied().collect();
                    expect(
                        &series.total,
                        &whole,
                        &format!("case {case} {key:?} total only"),
                    );
                    continue;
                }
                assert_eq!(
                    series.points.len(),
                    buckets.len(),
                    "case {case}: points of {key:?}"
                );
                let mut whole = Vec::new();
                for point in &series.points {
                    let in_bucket = &buckets[&point.start.timestamp_millis()];
                    expect(
                        point,
                        in_bucket,
                        &format!("case {case} {key:?} at {}", point.start),
                    );
                    whole.extend(in_bucket.iter().copied());
                }
                expect(&series.total, &whole, &format!("case {case} {key:?} total"));
            }
        }
    }
    assert!(
        all.len() > 1_000,
        "enough attempts to mean something: {}",
        all.len()
    );
    assert_eq!(queries, 200);
}

#[tokio::test]
async fn queries_that_cannot_be_answered_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stats.db").display());
    let store = herald_engine::store::connect(&url, Arc::new(Vault::ephemeral()))
        .await
        .unwrap();
    let tenant = store.ensure_tenant("t", "t").await.unwrap().id;
    let now = Utc::now();
    let query = |from, to, granularity| StatsScope {
        from,
        to,
        granularity,
        group_by: GroupBy::None,
        endpoint_id: None,
        event_type: None,
        totals_only: false,
    };
    let err = store
        .stats(
            tenant,
            &query(now, now - Duration::hours(1), Granularity::Minute),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("later than"), "{err}");
    let err = store
        .stats(
            tenant,
            &query(now - Duration::days(30), now, Granularity::Minute),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("coarser granularity"), "{err}");
    // An empty range is one empty series with zero totals.
    let out = store
        .stats(
            tenant,
            &query(now - Duration::hours(1), now, Granularity::Minute),
        )
        .await
        .unwrap();
    assert_eq!(out.series.len(), 1);
    assert!(out.series[0].points.is_empty());
    assert_eq!(out.total.counts.attempts, 0);
    assert_eq!(out.total.latency_p95_ms, None);
}
