//! What a statistics query decides apart from the SQL, for every backend to
//! call: the buckets a range covers (and whether there are too many), how
//! summed rows become series and totals, which stored rows tell the DLQ's
//! change after the range, and the DLQ's depth drawn back from its size now.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::model::{
    Counts, DepthPoint, EndpointId, Granularity, GroupBy, StatsOut, StatsPoint, StatsSeries,
};
use crate::store::{StatsScope, from_millis, to_millis};
use crate::{EngineError, Result};

/// The buckets a query reads: `[from, to)` in milliseconds, `from` floored
/// to its bucket, and how many buckets the asked range spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: i64,
    pub to: i64,
    pub buckets: i64,
}

impl Range {
    /// The query's range, or why it cannot be answered in one query.
    pub fn of(q: &StatsScope) -> Result<Range> {
        let g = q.granularity;
        let from = g.bucket_start(to_millis(q.from));
        let to = to_millis(q.to);
        if to <= from {
            return Err(EngineError::invalid("to", "must be later than from"));
        }
        // The limit is on the range asked for: flooring `from` to its bucket
        // adds one partial bucket (24 hours by minute touch 1,441 of them).
        let asked = to_millis(q.from).max(from);
        let limited = (to - asked + g.millis() - 1) / g.millis();
        if limited > g.max_buckets() {
            return Err(EngineError::invalid(
                "granularity",
                format!(
                    "{} buckets of a {} are too many for one query (at most {}); choose a coarser granularity or a shorter range",
                    limited,
                    g.as_str(),
                    g.max_buckets()
                ),
            ));
        }
        // Every bucket the range touches, the partial ones at both ends
        // included: the last is where the DLQ's depth is now.
        let buckets = (to - from + g.millis() - 1) / g.millis();
        Ok(Range { from, to, buckets })
    }

    /// Where the last bucket ends.
    pub fn end(&self, g: Granularity) -> i64 {
        self.from + self.buckets * g.millis()
    }
}

/// What a statistics request asks the store, once its defaults are filled in
/// and its range clipped to the years Herald keeps statistics for (1970 to
/// 9999); `Empty` when nothing is left to read, already shaped as the store
/// answers a range without attempts.
#[derive(Debug, Clone)]
pub enum Asked {
    Read(StatsScope),
    Empty(StatsOut),
}

/// Fills in a request's defaults: `to` is now, `from` the day before `to`,
/// the granularity by the range ([`Granularity::for_range`]), no grouping.
pub fn resolve(q: &crate::model::StatsQuery, now: DateTime<Utc>) -> Asked {
    let asked_to = q.to.unwrap_or(now);
    let asked_from = q.from.unwrap_or_else(|| {
        asked_to
            .checked_sub_signed(chrono::Duration::hours(24))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    });
    let to = asked_to.min(stats_end());
    let from = asked_from.max(DateTime::UNIX_EPOCH);
    let granularity = q
        .granularity
        .unwrap_or_else(|| Granularity::for_range(from, to));
    let group_by = q.group_by.unwrap_or_default();
    // (Without `from`, the range is the day before `to`, however early.)
    if (q.from.is_none() || asked_from < asked_to) && to <= from {
        let total = StatsPoint::new(asked_from, Counts::default());
        let series = match group_by {
            GroupBy::None => vec![StatsSeries {
                endpoint_id: None,
                event_type: None,
                points: Vec::new(),
                total: total.clone(),
            }],
            GroupBy::Endpoint | GroupBy::EventType => Vec::new(),
        };
        return Asked::Empty(StatsOut {
            granularity,
            from: asked_from,
            to: asked_to,
            group_by,
            series,
            total,
            dlq_depth: Vec::new(),
        });
    }
    Asked::Read(StatsScope {
        from,
        to,
        granularity,
        group_by,
        endpoint_id: q.endpoint_id,
        event_type: q.event_type.clone(),
        totals_only: false,
    })
}

/// The last moment Herald keeps statistics for.
fn stats_end() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
}

/// One summed row: a bucket's start, its group (an endpoint id, an event
/// type, or empty when not grouped) and its counts.
pub type SummedRow = (i64, String, Counts);

/// Series, per-group and overall totals from summed rows, and each bucket's
/// DLQ additions minus removals (every group together) for the depth.
pub fn assemble(
    q: &StatsScope,
    range: Range,
    rows: Vec<SummedRow>,
) -> Result<(StatsOut, BTreeMap<i64, i64>)> {
    type GroupKey = (Option<EndpointId>, Option<String>);
    let mut groups: BTreeMap<GroupKey, BTreeMap<i64, Counts>> = BTreeMap::new();
    let mut total = Counts::default();
    let mut dlq_net: BTreeMap<i64, i64> = BTreeMap::new();
    for (start, group, counts) in rows {
        let key = match q.group_by {
            GroupBy::None => (None, None),
            GroupBy::Endpoint => (Some(crate::store::stored_id(&group)?), None),
            GroupBy::EventType => (None, Some(group)),
        };
        total.add(&counts);
        *dlq_net.entry(start).or_default() += counts.dlq_added as i64 - counts.dlq_removed as i64;
        groups
            .entry(key)
            .or_default()
            .entry(start)
            .or_default()
            .add(&counts);
    }
    if q.group_by == GroupBy::None && groups.is_empty() {
        groups.insert((None, None), BTreeMap::new());
    }
    let series = groups
        .into_iter()
        .map(|((endpoint_id, event_type), points)| {
            let mut sum = Counts::default();
            let points = points
                .into_iter()
                .map(|(start, counts)| {
                    sum.add(&counts);
                    StatsPoint::new(from_millis(start), counts)
                })
                .collect();
            StatsSeries {
                endpoint_id,
                event_type,
                points: if q.totals_only { Vec::new() } else { points },
                total: StatsPoint::new(from_millis(range.from), sum),
            }
        })
        .collect();
    let out = StatsOut {
        granularity: q.granularity,
        from: from_millis(range.from),
        to: q.to,
        group_by: q.group_by,
        series,
        total: StatsPoint::new(from_millis(range.from), total),
        dlq_depth: Vec::new(),
    };
    Ok((out, dlq_net))
}

/// The stored rows that hold the DLQ's change after `end`, coarsest that
/// fit: minutes up to the next hour, hours up to the next day, then days.
/// Each is (granularity, first bucket, end of the range or open).
pub fn after_ranges(g: Granularity, end: i64) -> [(Granularity, i64, Option<i64>); 3] {
    let ceil = |at: i64, to: Granularity| to.bucket_start(at + to.millis() - 1);
    let (minutes_end, hours_end) = match g {
        Granularity::Minute => (ceil(end, Granularity::Hour), ceil(end, Granularity::Day)),
        Granularity::Hour => (end, ceil(end, Granularity::Day)),
        Granularity::Day => (end, end),
    };
    [
        (Granularity::Minute, end, Some(minutes_end)),
        (Granularity::Hour, minutes_end, Some(hours_end)),
        (Granularity::Day, hours_end, None),
    ]
}

/// The DLQ's depth at the end of each bucket, drawn back from its size now:
/// the depth at a time is today's minus what was added since, plus what was
/// removed since. `after` is the net change after the range; `net` each
/// bucket's. A bucket that ends in the future ends now.
pub fn dlq_depth(
    g: Granularity,
    range: Range,
    size_now: i64,
    after: i64,
    net: &BTreeMap<i64, i64>,
    now_ms: i64,
) -> Vec<DepthPoint> {
    let mut depth = size_now - after;
    let mut points = Vec::with_capacity(usize::try_from(range.buckets).unwrap_or(0));
    for i in (0..range.buckets).rev() {
        let start = range.from + i * g.millis();
        points.push(DepthPoint {
            end: from_millis((start + g.millis()).min(now_ms.max(start))),
            // Rows written before removals were counted can make the
            // drawn-back depth negative; a queue is never smaller than empty.
            depth: u64::try_from(depth).unwrap_or(0),
        });
        depth -= net.get(&start).copied().unwrap_or(0);
    }
    points.reverse();
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    const HOUR: i64 = 3_600_000;

    fn query(g: Granularity, from_h: i64, to_h: i64, group_by: GroupBy) -> StatsScope {
        StatsScope {
            from: Utc.timestamp_millis_opt(from_h * HOUR).unwrap(),
            to: Utc.timestamp_millis_opt(to_h * HOUR).unwrap(),
            granularity: g,
            group_by,
            endpoint_id: None,
            event_type: None,
            totals_only: false,
        }
    }

    fn counts(attempts: u64, dlq_added: u64, dlq_removed: u64) -> Counts {
        Counts {
            attempts,
            dlq_added,
            dlq_removed,
            ..Counts::default()
        }
    }

    #[test]
    fn a_range_counts_its_buckets_and_refuses_too_many() {
        let day = Range::of(&query(Granularity::Hour, 0, 24, GroupBy::None)).unwrap();
        assert_eq!((day.from, day.to, day.buckets), (0, 24 * HOUR, 24));
        assert_eq!(day.end(Granularity::Hour), 24 * HOUR);
        assert!(Range::of(&query(Granularity::Hour, 5, 5, GroupBy::None)).is_err());
        // The last 24 hours at 04:23 by hour: 25 buckets, 04:00 yesterday
        // to 05:00 today (the DLQ's depth is drawn to now, in the last).
        let at = |h: i64, m: i64| Utc.timestamp_millis_opt(h * HOUR + m * 60_000).unwrap();
        let last_day = Range::of(&StatsScope {
            from: at(4, 23),
            to: at(28, 23),
            ..query(Granularity::Hour, 0, 1, GroupBy::None)
        })
        .unwrap();
        assert_eq!((last_day.from, last_day.buckets), (4 * HOUR, 25));
        assert_eq!(last_day.end(Granularity::Hour), 29 * HOUR);
        let depth = dlq_depth(
            Granularity::Hour,
            last_day,
            3,
            0,
            &BTreeMap::from([(28 * HOUR, 3)]),
            at(28, 23).timestamp_millis(),
        );
        assert_eq!(depth.len(), 25);
        assert_eq!(depth[24].end, at(28, 23));
        assert_eq!((depth[23].depth, depth[24].depth), (0, 3));
        // A day by minute is 1,440 minutes asked (allowed), touching 1,441.
        let day_by_minute = Range::of(&StatsScope {
            from: at(4, 23) + chrono::Duration::seconds(30),
            to: at(28, 23) + chrono::Duration::seconds(30),
            ..query(Granularity::Minute, 0, 1, GroupBy::None)
        })
        .unwrap();
        assert_eq!(day_by_minute.buckets, 1_441);
        let year_by_minute = query(Granularity::Minute, 0, 24 * 365, GroupBy::None);
        assert!(matches!(
            Range::of(&year_by_minute),
            Err(EngineError::Invalid { field, .. }) if field == "granularity"
        ));
    }

    #[test]
    fn rows_sum_into_series_totals_and_dlq_change() {
        let q = query(Granularity::Hour, 0, 3, GroupBy::EventType);
        let range = Range::of(&q).unwrap();
        let rows = vec![
            (0, "a".to_string(), counts(2, 1, 0)),
            (HOUR, "a".to_string(), counts(3, 0, 1)),
            (HOUR, "b".to_string(), counts(5, 2, 0)),
        ];
        let (out, net) = assemble(&q, range, rows).unwrap();
        assert_eq!(out.total.counts.attempts, 10);
        assert_eq!(out.series.len(), 2);
        assert_eq!(out.series[0].event_type.as_deref(), Some("a"));
        assert_eq!(out.series[0].total.counts.attempts, 5);
        assert_eq!(out.series[0].points.len(), 2);
        assert_eq!(net, BTreeMap::from([(0, 1), (HOUR, 1)]));

        // Ungrouped with nothing recorded: one empty series, not none.
        let none = query(Granularity::Hour, 0, 3, GroupBy::None);
        let (out, _) = assemble(&none, Range::of(&none).unwrap(), Vec::new()).unwrap();
        assert_eq!(out.series.len(), 1);
        assert_eq!(out.total.counts.attempts, 0);
    }

    #[test]
    fn the_change_after_a_range_is_read_from_the_coarsest_rows_that_fit() {
        let end = 90 * 60_000; // 01:30
        let ranges = after_ranges(Granularity::Minute, end);
        assert_eq!(ranges[0], (Granularity::Minute, end, Some(2 * HOUR)));
        assert_eq!(ranges[1], (Granularity::Hour, 2 * HOUR, Some(24 * HOUR)));
        assert_eq!(ranges[2], (Granularity::Day, 24 * HOUR, None));
        let by_day = after_ranges(Granularity::Day, 24 * HOUR);
        assert_eq!(by_day[2], (Granularity::Day, 24 * HOUR, None));
    }

    #[test]
    fn the_depth_is_drawn_back_from_the_size_now() {
        let range = Range {
            from: 0,
            to: 3 * HOUR,
            buckets: 3,
        };
        // 4 entries now; 1 net added after the range; +2, 0, -1 in its hours.
        let net = BTreeMap::from([(0, 2), (2 * HOUR, -1)]);
        let depth = dlq_depth(Granularity::Hour, range, 4, 1, &net, 10 * HOUR);
        let values: Vec<u64> = depth.iter().map(|p| p.depth).collect();
        assert_eq!(values, [4, 4, 3]);
        assert_eq!(depth[2].end, from_millis(3 * HOUR));
        // Never below empty.
        let drained = dlq_depth(Granularity::Hour, range, 0, 5, &net, 10 * HOUR);
        assert!(drained.iter().all(|p| p.depth == 0));
    }
}
