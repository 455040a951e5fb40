//! Delivery statistics: counts and latency histograms per minute, hour and
//! day, per tenant, endpoint and event type, kept up to date as attempts are
//! recorded. Pure types and arithmetic (they compile to wasm for the console).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EndpointId, ErrorClass};

/// Upper bounds (milliseconds) of the latency buckets; one more bucket holds
/// everything slower. The same bounds as the `/metrics` histogram.
pub const LATENCY_BOUNDS_MS: [u64; 12] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
];
/// Buckets per histogram: one per bound and the overflow.
pub const LATENCY_SLOTS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// The bucket a latency falls in.
pub fn latency_slot(latency_ms: u64) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|bound| latency_ms <= *bound)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub const ALL: [Granularity; 3] = [Granularity::Minute, Granularity::Hour, Granularity::Day];

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }

    pub fn millis(self) -> i64 {
        match self {
            Granularity::Minute => 60_000,
            Granularity::Hour => 3_600_000,
            Granularity::Day => 86_400_000,
        }
    }

    /// The start (unix ms, UTC) of the bucket holding `at_ms`.
    pub fn bucket_start(self, at_ms: i64) -> i64 {
        at_ms.div_euclid(self.millis()) * self.millis()
    }

    /// The granularity that gives a readable chart for a range: minutes up to
    /// 6 hours, hours up to 14 days, days beyond. Each stays within its
    /// `max_buckets` over the ranges it is chosen for, days aside.
    pub fn for_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Granularity {
        let span = to - from;
        if span <= chrono::Duration::hours(6) {
            Granularity::Minute
        } else if span <= chrono::Duration::days(14) {
            Granularity::Hour
        } else {
            Granularity::Day
        }
    }

    /// The most buckets one query may span at this granularity.
    pub fn max_buckets(self) -> i64 {
        match self {
            Granularity::Minute => 24 * 60,
            Granularity::Hour => 90 * 24,
            Granularity::Day => 3 * 366,
        }
    }
}

/// How the series of a stats answer are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One series for everything that matches.
    #[default]
    None,
    Endpoint,
    EventType,
}

impl GroupBy {
    pub const ALL: [GroupBy; 3] = [GroupBy::None, GroupBy::Endpoint, GroupBy::EventType];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::None => "none",
            GroupBy::Endpoint => "endpoint",
            GroupBy::EventType => "event_type",
        }
    }
}

str_enum!(Granularity, "granularity");
str_enum!(GroupBy, "grouping");

/// Counts for one bucket (or a sum of buckets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counts {
    pub attempts: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Deliveries that ended dead (entered the DLQ).
    pub dlq_added: u64,
    /// DLQ entries that left it: reprocessed, discarded or replayed.
    #[serde(default)]
    pub dlq_removed: u64,
    /// Deliveries their receivers acknowledged (effectively-once endpoints).
    #[serde(default)]
    pub acked: u64,
    /// Acknowledgements that did not come within the endpoint's ack timeout.
    #[serde(default)]
    pub ack_timeouts: u64,
    /// Deliveries an open circuit breaker held back: each was due while it
    /// was open, and would have been attempted at least once.
    #[serde(default)]
    pub breaker_held: u64,
    /// Failed attempts by error class.
    pub errors: BTreeMap<String, u64>,
    /// Attempts per latency bucket (`LATENCY_BOUNDS_MS`, then the overflow).
    pub latency_buckets: Vec<u64>,
    pub latency_sum_ms: u64,
}

impl Counts {
    /// One attempt's contribution.
    pub fn of_attempt(error: Option<ErrorClass>, latency_ms: u64, dead: bool) -> Counts {
        let mut latency_buckets = vec![0; LATENCY_SLOTS];
        latency_buckets[latency_slot(latency_ms)] = 1;
        let mut errors = BTreeMap::new();
        if let Some(class) = error {
            errors.insert(class.as_str().to_string(), 1);
        }
        Counts {
            attempts: 1,
            succeeded: u64::from(error.is_none()),
            failed: u64::from(error.is_some()),
            dlq_added: u64::from(dead),
            dlq_removed: 0,
            acked: 0,
            ack_timeouts: 0,
            breaker_held: 0,
            errors,
            latency_buckets,
            latency_sum_ms: latency_ms,
        }
    }

    pub fn add(&mut self, other: &Counts) {
        self.attempts += other.attempts;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.dlq_added += other.dlq_added;
        self.dlq_removed += other.dlq_removed;
        self.acked += other.acked;
        self.ack_timeouts += other.ack_timeouts;
        self.breaker_held += other.breaker_held;
        for (class, n) in &other.errors {
            *self.errors.entry(class.clone()).or_default() += n;
        }
        if self.latency_buckets.len() < LATENCY_SLOTS {
            self.latency_buckets.resize(LATENCY_SLOTS, 0);
        }
        for (mine, theirs) in self.latency_buckets.iter_mut().zip(&other.latency_buckets) {
            *mine += theirs;
        }
        self.latency_sum_ms += other.latency_sum_ms;
    }

    /// The latency at quantile `q` (0 < q ≤ 1) to the histogram's resolution:
    /// the upper bound of the bucket holding the ⌈q·n⌉-th fastest attempt.
    /// `None` without attempts, or when that attempt took longer than the last
    /// bound (30 s).
    pub fn latency_quantile_ms(&self, q: f64) -> Option<u64> {
        let total: u64 = self.latency_buckets.iter().sum();
        if total == 0 {
            return None;
        }
        // The rank of the attempt the quantile names, 1-based.
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (slot, n) in self.latency_buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return LATENCY_BOUNDS_MS.get(slot).copied();
            }
        }
        None
    }

    /// Succeeded attempts as a fraction of all attempts.
    pub fn success_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.succeeded as f64 / self.attempts as f64)
    }
}

/// One bucket of a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsPoint {
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub counts: Counts,
    pub latency_p50_ms: Option<u64>,
    pub latency_p95_ms: Option<u64>,
    pub latency_p99_ms: Option<u64>,
}

impl StatsPoint {
    pub fn new(start: DateTime<Utc>, counts: Counts) -> Self {
        Self {
            start,
            latency_p50_ms: counts.latency_quantile_ms(0.50),
            latency_p95_ms: counts.latency_quantile_ms(0.95),
            latency_p99_ms: counts.latency_quantile_ms(0.99),
            counts,
        }
    }
}

/// The buckets of one group (all of them when not grouped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsSeries {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<EndpointId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Buckets that had attempts, oldest first.
    pub points: Vec<StatsPoint>,
    /// The whole range for this group.
    pub total: StatsPoint,
}

/// The dead-letter queue's size at the end of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DepthPoint {
    /// The end of the bucket (the start of the next one; for the last bucket, at most now).
    pub end: DateTime<Utc>,
    pub depth: u64,
}

/// The answer to a stats query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsOut {
    pub granularity: Granularity,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: GroupBy,
    pub series: Vec<StatsSeries>,
    /// Everything in range, every group together.
    pub total: StatsPoint,
    /// The DLQ's size (for the endpoint and event type asked for) at the end
    /// of every bucket in range, oldest first; empty buckets included.
    #[serde(default)]
    pub dlq_depth: Vec<DepthPoint>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_picks_minutes_hours_or_days() {
        let at = |h: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(h);
        assert_eq!(Granularity::for_range(at(0), at(6)), Granularity::Minute);
        assert_eq!(
            Granularity::for_range(at(0), at(6) + chrono::Duration::seconds(1)),
            Granularity::Hour
        );
        assert_eq!(
            Granularity::for_range(at(0), at(14 * 24)),
            Granularity::Hour
        );
        assert_eq!(
            Granularity::for_range(at(0), at(14 * 24 + 1)),
            Granularity::Day
        );
        // Chosen for its range, minutes and hours stay within their limits.
        assert!(6 * 60 <= Granularity::Minute.max_buckets());
        assert!(14 * 24 <= Granularity::Hour.max_buckets());
    }

    #[test]
    fn buckets_hold_latencies_up_to_their_bound() {
        assert_eq!(latency_slot(0), 0);
        assert_eq!(latency_slot(5), 0);
        assert_eq!(latency_slot(6), 1);
        assert_eq!(latency_slot(30_000), 11);
        assert_eq!(latency_slot(30_001), 12);
    }

    #[test]
    fn quantiles_are_the_bound_of_the_bucket_holding_the_rank() {
        let mut c = Counts::default();
        for ms in [1, 2, 3, 40, 40, 90, 200, 800, 4_000, 40_000] {
            c.add(&Counts::of_attempt(None, ms, false));
        }
        assert_eq!(c.latency_quantile_ms(0.5), Some(50)); // 5th fastest: 40 ms
        assert_eq!(c.latency_quantile_ms(0.3), Some(5)); // 3rd: 3 ms
        assert_eq!(c.latency_quantile_ms(0.9), Some(5_000)); // 9th: 4 s
        assert_eq!(c.latency_quantile_ms(0.99), None); // 10th: beyond 30 s
        assert_eq!(Counts::default().latency_quantile_ms(0.5), None);
    }

    #[test]
    fn buckets_start_on_utc_boundaries() {
        let t = 1_795_487_729_123;
        assert_eq!(Granularity::Minute.bucket_start(t) % 60_000, 0);
        assert_eq!(Granularity::Day.bucket_start(t) % 86_400_000, 0);
        assert!(Granularity::Hour.bucket_start(t) <= t);
    }
}
