//! Delivery statistics: counts and latency histograms per minute, hour and
//! day, per tenant, endpoint and event type, kept up to date as attempts are
//! recorded. Pure types and arithmetic (they compile to wasm for the console).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EndpointId, ErrorClass};

/// Latencies below this many milliseconds each have a bucket of their own.
const EXACT_BELOW_MS: u64 = 32;
/// Above them, each power of two is split into this many equal buckets
/// (log-linear, as in HdrHistogram): a bucket is at most 1/16 of its lower
/// bound wide, so its midpoint is within 1/32 (3.2 %) of anything in it.
const SUB_BUCKET_BITS: u32 = 4;
/// Latencies from this many milliseconds (2^17, about 131 s; a request times
/// out after at most 60 s) share one last bucket.
pub const LATENCY_OVERFLOW_MS: u64 = 1 << 17;

/// The lower bound (milliseconds) of the latency bucket `latency_ms` falls
/// in: a bucket is named by where it starts.
pub fn latency_bucket(latency_ms: u64) -> u64 {
    if latency_ms < EXACT_BELOW_MS {
        return latency_ms;
    }
    if latency_ms >= LATENCY_OVERFLOW_MS {
        return LATENCY_OVERFLOW_MS;
    }
    let width = latency_bucket_width(latency_ms);
    latency_ms & !(width - 1)
}

/// The width (milliseconds) of the bucket holding `latency_ms`; `None` for
/// the last one, which has no upper bound.
fn latency_bucket_width(latency_ms: u64) -> u64 {
    if latency_ms < EXACT_BELOW_MS {
        return 1;
    }
    let power = 63 - latency_ms.leading_zeros();
    1 << (power - SUB_BUCKET_BITS)
}

/// The value a quantile falling in the bucket starting at `from_ms` is
/// reported as: the bucket's midpoint (the bucket itself below 32 ms);
/// `None` for the last bucket.
fn latency_bucket_value(from_ms: u64) -> Option<u64> {
    if from_ms >= LATENCY_OVERFLOW_MS {
        return None;
    }
    let from = latency_bucket(from_ms);
    Some(from + (latency_bucket_width(from) - 1) / 2)
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
    /// Attempts per latency bucket, by the bucket's lower bound in
    /// milliseconds (only buckets with attempts): each millisecond below
    /// 32 ms, then 16 buckets per power of two (a bucket is at most 1/16 of
    /// its lower bound wide), then one for 131,072 ms and more.
    #[serde(default, deserialize_with = "histogram_keys")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            value_type = BTreeMap<String, u64>,
            example = json!({"96": 4, "100": 11, "248": 1})
        )
    )]
    pub latency_histogram: BTreeMap<u64, u64>,
    pub latency_sum_ms: u64,
}

/// A histogram's keys as JSON writes them (strings), also inside a
/// flattened struct, where serde hands them over as strings only.
fn histogram_keys<'de, D>(deserializer: D) -> Result<BTreeMap<u64, u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    BTreeMap::<String, u64>::deserialize(deserializer)?
        .into_iter()
        .map(|(from, n)| {
            from.parse()
                .map(|from| (from, n))
                .map_err(|_| serde::de::Error::custom(format!("'{from}' is not a latency in ms")))
        })
        .collect()
}

impl Counts {
    /// One attempt's contribution.
    pub fn of_attempt(error: Option<ErrorClass>, latency_ms: u64, dead: bool) -> Counts {
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
            latency_histogram: BTreeMap::from([(latency_bucket(latency_ms), 1)]),
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
        for (from, n) in &other.latency_histogram {
            *self.latency_histogram.entry(*from).or_default() += n;
        }
        self.latency_sum_ms += other.latency_sum_ms;
    }

    /// The latency at quantile `q` (0 < q ≤ 1): the midpoint of the bucket
    /// holding the ⌈q·n⌉-th fastest attempt, within 3.2 % of that attempt's
    /// latency (exact below 32 ms). `None` without attempts, or when that
    /// attempt took 131 s or more.
    pub fn latency_quantile_ms(&self, q: f64) -> Option<u64> {
        let total: u64 = self.latency_histogram.values().sum();
        if total == 0 {
            return None;
        }
        // The rank of the attempt the quantile names, 1-based.
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (from, n) in &self.latency_histogram {
            seen += n;
            if seen >= rank {
                return latency_bucket_value(*from);
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
    fn buckets_are_exact_below_32_ms_then_a_sixteenth_of_their_start_wide() {
        for ms in 0..32 {
            assert_eq!(latency_bucket(ms), ms);
        }
        assert_eq!(latency_bucket(32), 32);
        assert_eq!(latency_bucket(33), 32);
        assert_eq!(latency_bucket(34), 34);
        assert_eq!(latency_bucket(100), 100);
        assert_eq!(latency_bucket(103), 100);
        assert_eq!(latency_bucket(104), 104);
        assert_eq!(latency_bucket(250), 248);
        assert_eq!(latency_bucket(60_000), 59_392);
        assert_eq!(latency_bucket(LATENCY_OVERFLOW_MS - 1), 126_976);
        assert_eq!(latency_bucket(LATENCY_OVERFLOW_MS), LATENCY_OVERFLOW_MS);
        assert_eq!(latency_bucket(u64::MAX), LATENCY_OVERFLOW_MS);
        // Every latency is within 1/32 of its bucket's reported value, and
        // buckets tile the line: each starts where the one before ends.
        let mut previous = 0;
        for ms in 1..LATENCY_OVERFLOW_MS {
            let from = latency_bucket(ms);
            assert!(from <= ms && from >= previous, "{ms}");
            previous = from;
            let value = latency_bucket_value(from).unwrap();
            assert!(value.abs_diff(ms) * 32 <= ms, "{ms} reported as {value}");
        }
        assert_eq!(latency_bucket_value(LATENCY_OVERFLOW_MS), None);
    }

    #[test]
    fn quantiles_are_the_midpoint_of_the_bucket_holding_the_rank() {
        let mut c = Counts::default();
        for ms in [1, 2, 3, 40, 40, 90, 200, 800, 4_000, 140_000] {
            c.add(&Counts::of_attempt(None, ms, false));
        }
        assert_eq!(c.latency_quantile_ms(0.5), Some(40)); // 5th fastest: 40 ms, [40, 42)
        assert_eq!(c.latency_quantile_ms(0.3), Some(3)); // 3rd: 3 ms, exact
        assert_eq!(c.latency_quantile_ms(0.7), Some(203)); // 7th: 200 ms, [200, 208)
        assert_eq!(c.latency_quantile_ms(0.9), Some(4_031)); // 9th: 4 s, [3,968, 4,096)
        assert_eq!(c.latency_quantile_ms(0.99), None); // 10th: beyond 131 s
        assert_eq!(Counts::default().latency_quantile_ms(0.5), None);
    }

    #[test]
    fn a_point_reads_back_what_it_wrote() {
        let mut counts = Counts::of_attempt(None, 250, false);
        counts.add(&Counts::of_attempt(None, 3, false));
        let point = StatsPoint::new(DateTime::<Utc>::UNIX_EPOCH, counts);
        let text = serde_json::to_string(&point).unwrap();
        assert!(
            text.contains(r#""latency_histogram":{"3":1,"248":1}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<StatsPoint>(&text).unwrap(), point);
    }

    #[test]
    fn buckets_start_on_utc_boundaries() {
        let t = 1_795_487_729_123;
        assert_eq!(Granularity::Minute.bucket_start(t) % 60_000, 0);
        assert_eq!(Granularity::Day.bucket_start(t) % 86_400_000, 0);
        assert!(Granularity::Hour.bucket_start(t) <= t);
    }
}
