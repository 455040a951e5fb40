//! Delivery statistics for the dashboard and the endpoint page: one time range
//! (the last hour, day or week, or a custom one) as every bucket in it, the
//! totals, the DLQ's depth and the endpoints failing most. The browser keeps
//! a live range current with the live feed (`StatsView::record`).

use chrono::{DateTime, Utc};
use herald_engine::model::{
    Counts, DeliveryOutcome, DeliveryState, DepthPoint, EndpointId, Granularity, StatsPoint,
};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

/// The range picker's choices, as they appear in the URL (`?range=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeChoice {
    LastHour,
    LastDay,
    LastWeek,
    Custom,
}

impl RangeChoice {
    pub const PRESETS: [RangeChoice; 3] = [
        RangeChoice::LastHour,
        RangeChoice::LastDay,
        RangeChoice::LastWeek,
    ];

    /// The default when the URL names none.
    pub const DEFAULT: RangeChoice = RangeChoice::LastDay;

    pub fn parse(value: &str) -> Option<RangeChoice> {
        match value {
            "" => Some(Self::DEFAULT),
            "1h" => Some(RangeChoice::LastHour),
            "24h" => Some(RangeChoice::LastDay),
            "7d" => Some(RangeChoice::LastWeek),
            "custom" => Some(RangeChoice::Custom),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RangeChoice::LastHour => "1h",
            RangeChoice::LastDay => "24h",
            RangeChoice::LastWeek => "7d",
            RangeChoice::Custom => "custom",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RangeChoice::LastHour => "Last hour",
            RangeChoice::LastDay => "Last 24 hours",
            RangeChoice::LastWeek => "Last 7 days",
            RangeChoice::Custom => "Custom",
        }
    }

    fn span(self) -> Option<chrono::Duration> {
        match self {
            RangeChoice::LastHour => Some(chrono::Duration::hours(1)),
            RangeChoice::LastDay => Some(chrono::Duration::hours(24)),
            RangeChoice::LastWeek => Some(chrono::Duration::days(7)),
            RangeChoice::Custom => None,
        }
    }
}

/// The longest custom range the charts draw.
pub const MAX_CUSTOM_DAYS: i64 = 366;

/// A time from the range form: `datetime-local` (read as UTC), with or without
/// seconds, or RFC 3339.
pub fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, ConsoleError> {
    let value = value.trim();
    herald_engine::model::query::parse_typed_time(value).ok_or_else(|| ConsoleError::Invalid {
        field: field.into(),
        message: if value.is_empty() {
            "give a time such as 2026-11-30T09:00 (UTC)".into()
        } else {
            format!("'{value}' is not a time such as 2026-11-30T09:00 (UTC)")
        },
    })
}

/// The range a request names: `(from, to, live)`. A preset ends now and is
/// live: the browser keeps adding attempts to it as they finish.
pub fn resolve_range(
    range: &str,
    from: &str,
    to: &str,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, bool), ConsoleError> {
    let choice = RangeChoice::parse(range).ok_or_else(|| ConsoleError::Invalid {
        field: "range".into(),
        message: format!("'{range}' is not a range (1h, 24h, 7d or custom)"),
    })?;
    if let Some(span) = choice.span() {
        return Ok((now - span, now, true));
    }
    let (from, to) = (parse_time("from", from)?, parse_time("to", to)?);
    if to <= from {
        return Err(ConsoleError::Invalid {
            field: "to".into(),
            message: "must be later than from".into(),
        });
    }
    if to - from > chrono::Duration::days(MAX_CUSTOM_DAYS) {
        return Err(ConsoleError::Invalid {
            field: "to".into(),
            message: format!("a range can span {MAX_CUSTOM_DAYS} days at most"),
        });
    }
    Ok((from, to, false))
}

/// An endpoint among those failing most in the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailingEndpoint {
    pub id: EndpointId,
    pub url: String,
    /// Its name (empty: none).
    pub name: String,
    pub attempts: u64,
    pub failed: u64,
    /// Its most frequent error class in the range.
    pub top_error: Option<String>,
    /// Its circuit breaker now (`None`: the endpoint is gone).
    pub breaker: Option<herald_engine::model::BreakerState>,
}

/// What the charts draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    /// The range ends now: attempts that finish are added as they arrive.
    pub live: bool,
    /// Every bucket in the range, oldest first, empty ones included.
    pub points: Vec<StatsPoint>,
    pub total: StatsPoint,
    /// The DLQ's depth at the end of each bucket.
    pub dlq_depth: Vec<DepthPoint>,
    /// The DLQ's depth now (the tenant's, or the endpoint's), whatever the range.
    pub dlq_now: u64,
    /// At most five, most failed attempts first (the dashboard only).
    pub failing: Vec<FailingEndpoint>,
}

impl StatsView {
    /// Every bucket from `from` to `to`: the store's points where it has them,
    /// empty ones elsewhere.
    pub fn fill(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
        points: &[StatsPoint],
    ) -> Vec<StatsPoint> {
        let step = granularity.millis();
        let mut start = granularity.bucket_start(from.timestamp_millis());
        let end = to.timestamp_millis();
        let mut have = points.iter().peekable();
        let mut out = Vec::new();
        while start < end {
            let at = DateTime::from_timestamp_millis(start).unwrap_or(from);
            match have.peek() {
                Some(p) if p.start.timestamp_millis() == start => {
                    out.push((*p).clone());
                    have.next();
                }
                _ => out.push(StatsPoint::new(at, Counts::default())),
            }
            start += step;
        }
        out
    }

    /// Adds one finished attempt from the live feed. Attempts in the current
    /// bucket add to it; a newer bucket slides the window forward.
    pub fn record(&mut self, outcome: &DeliveryOutcome) {
        if !self.live {
            return;
        }
        let g = self.granularity;
        let at = outcome.at.timestamp_millis();
        let start = g.bucket_start(at);
        let Some(last) = self.points.last().map(|p| p.start.timestamp_millis()) else {
            return;
        };
        if start < self.points[0].start.timestamp_millis() {
            return;
        }
        let dead = outcome.state == DeliveryState::Dead;
        let mut slid = 0;
        let mut next = last + g.millis();
        while next <= start {
            let t = DateTime::from_timestamp_millis(next).unwrap_or(outcome.at);
            self.points.push(StatsPoint::new(t, Counts::default()));
            let depth = self.dlq_depth.last().map_or(0, |d| d.depth);
            self.dlq_depth.push(DepthPoint { end: t, depth });
            next += g.millis();
            slid += 1;
        }
        if slid > 0 {
            let drop = slid.min(self.points.len().saturating_sub(1));
            self.points.drain(..drop);
            let drop = drop.min(self.dlq_depth.len());
            self.dlq_depth.drain(..drop);
            self.from = self.points[0].start;
        }
        let attempt = Counts::of_attempt(outcome.error_class, outcome.latency_ms, dead);
        if let Some(point) = self
            .points
            .iter_mut()
            .find(|p| p.start.timestamp_millis() == start)
        {
            let mut counts = point.counts.clone();
            counts.add(&attempt);
            *point = StatsPoint::new(point.start, counts);
        }
        if dead {
            self.dlq_now += 1;
            if let Some(depth) = self.dlq_depth.last_mut() {
                depth.depth += 1;
                depth.end = outcome.at.max(depth.end);
            }
        }
        let mut total = Counts::default();
        for p in &self.points {
            total.add(&p.counts);
        }
        self.total = StatsPoint::new(self.from, total);
        self.to = self.to.max(outcome.at);
    }
}

/// The statistics of a range, for the whole tenant or one endpoint.
#[server(prefix = "/fn", endpoint = "delivery_stats")]
pub async fn delivery_stats(
    range: String,
    from: String,
    to: String,
    endpoint_id: String,
) -> Result<StatsView, ConsoleError> {
    use crate::ssr::{console_state, console_tenant, fail, parse_id, require};
    use herald_engine::model::{GroupBy, Permission};
    use herald_engine::store::StatsScope;

    let user = require(Permission::Read)?;
    let whole_urls = user.role.allows(Permission::ManageEndpoints);
    let state = console_state()?;
    let tenant = console_tenant(&state).await?;
    let (from, to, live) = resolve_range(&range, &from, &to, Utc::now()).map_err(fail)?;
    let endpoint = match endpoint_id.trim() {
        "" => None,
        id => Some(parse_id::<EndpointId>("endpoint", id)?),
    };
    let query = StatsScope {
        from,
        to,
        granularity: herald_engine::model::Granularity::for_range(from, to),
        group_by: GroupBy::None,
        endpoint_id: endpoint,
        event_type: None,
        totals_only: false,
    };
    // Only each endpoint's total, to rank them.
    let by_endpoint = StatsScope {
        group_by: GroupBy::Endpoint,
        totals_only: true,
        ..query.clone()
    };
    // The two reads are independent: on SQLite's reader pool they overlap.
    let (stats, grouped) = tokio::join!(state.store.stats(tenant, &query), async {
        if endpoint.is_some() {
            Ok(None)
        } else {
            state.store.stats(tenant, &by_endpoint).await.map(Some)
        }
    });
    let stats = stats?;
    let dlq_now = state
        .store
        .dlq_count(
            tenant,
            &herald_engine::model::DlqQuery {
                endpoint_id: endpoint,
                ..Default::default()
            },
        )
        .await?;
    let mut failing = Vec::new();
    if let Some(grouped) = grouped? {
        let mut worst: Vec<_> = grouped
            .series
            .iter()
            .filter(|s| s.total.counts.failed > 0)
            .filter_map(|s| s.endpoint_id.map(|id| (id, s.total.counts.clone())))
            .collect();
        worst.sort_by(|a, b| b.1.failed.cmp(&a.1.failed).then(a.0.cmp(&b.0)));
        for (id, counts) in worst.into_iter().take(5) {
            let found = state.store.get_endpoint(tenant, id).await?;
            let breaker = found.as_ref().map(|e| e.breaker.state);
            let name = found.as_ref().map(|e| e.name.clone()).unwrap_or_default();
            let url = found
                .map(|e| {
                    if whole_urls {
                        e.url
                    } else {
                        herald_engine::model::redact::mask_url(&e.url)
                    }
                })
                .unwrap_or_else(|| "(deleted endpoint)".into());
            let top_error = counts
                .errors
                .iter()
                .max_by_key(|(class, n)| (**n, std::cmp::Reverse((*class).clone())))
                .map(|(class, _)| class.clone());
            failing.push(FailingEndpoint {
                id,
                url,
                name,
                attempts: counts.attempts,
                failed: counts.failed,
                top_error,
                breaker,
            });
        }
    }
    let series = stats
        .series
        .first()
        .map(|s| s.points.as_slice())
        .unwrap_or(&[]);
    Ok(StatsView {
        from: stats.from,
        to,
        granularity: stats.granularity,
        live,
        points: StatsView::fill(stats.from, to, stats.granularity, series),
        total: stats.total,
        dlq_depth: stats.dlq_depth,
        dlq_now,
        failing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_engine::model::{DeliveryId, ErrorClass, EventId, Trigger};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn presets_end_now_and_custom_ranges_are_checked() {
        let now = t("2026-11-30T12:00:00Z");
        assert_eq!(
            resolve_range("7d", "", "", now).unwrap(),
            (t("2026-11-23T12:00:00Z"), now, true)
        );
        assert_eq!(
            resolve_range("", "", "", now).unwrap().0,
            t("2026-11-29T12:00:00Z")
        );
        assert_eq!(
            resolve_range("custom", "2026-11-01T00:00", "2026-11-02T06:30:00", now).unwrap(),
            (t("2026-11-01T00:00:00Z"), t("2026-11-02T06:30:00Z"), false)
        );
        let err = resolve_range("custom", "2026-11-02T00:00", "2026-11-01T00:00", now).unwrap_err();
        assert_eq!(
            err.for_field("to").as_deref(),
            Some("must be later than from")
        );
        let err = resolve_range("custom", "yesterday", "2026-11-01T00:00", now).unwrap_err();
        assert!(err.for_field("from").is_some(), "{err}");
        assert!(
            resolve_range("3w", "", "", now)
                .unwrap_err()
                .for_field("range")
                .is_some()
        );
        assert!(resolve_range("custom", "2024-01-01T00:00", "2026-01-01T00:00", now).is_err());
    }

    #[test]
    fn fill_gives_every_bucket_and_keeps_the_stores_points() {
        let mut counts = Counts::default();
        counts.add(&Counts::of_attempt(None, 12, false));
        let point = StatsPoint::new(t("2026-11-30T10:00:00Z"), counts);
        let filled = StatsView::fill(
            t("2026-11-30T08:00:00Z"),
            t("2026-11-30T11:30:00Z"),
            Granularity::Hour,
            std::slice::from_ref(&point),
        );
        let starts: Vec<_> = filled.iter().map(|p| p.start).collect();
        assert_eq!(
            starts,
            ["08", "09", "10", "11"].map(|h| t(&format!("2026-11-30T{h}:00:00Z")))
        );
        assert_eq!(filled[2], point);
        assert_eq!(filled[1].counts.attempts, 0);
    }

    fn outcome(at: &str, error: Option<ErrorClass>, state: DeliveryState) -> DeliveryOutcome {
        DeliveryOutcome {
            delivery_id: DeliveryId::nil(),
            event_id: EventId::nil(),
            endpoint_id: EndpointId::nil(),
            event_type: "a.b".into(),
            attempt: 1,
            trigger: Trigger::Scheduled,
            state,
            response_status: None,
            error_class: error,
            latency_ms: 30,
            at: t(at),
        }
    }

    #[test]
    fn live_attempts_add_to_their_bucket_and_slide_the_window() {
        let (from, to) = (t("2026-11-30T10:00:00Z"), t("2026-11-30T10:03:00Z"));
        let points = StatsView::fill(from, to, Granularity::Minute, &[]);
        let depth = points
            .iter()
            .map(|p| DepthPoint {
                end: p.start + chrono::Duration::minutes(1),
                depth: 2,
            })
            .collect();
        let mut view = StatsView {
            from,
            to,
            granularity: Granularity::Minute,
            live: true,
            total: StatsPoint::new(from, Counts::default()),
            points,
            dlq_depth: depth,
            dlq_now: 2,
            failing: vec![],
        };
        view.record(&outcome(
            "2026-11-30T10:02:30Z",
            None,
            DeliveryState::Succeeded,
        ));
        view.record(&outcome(
            "2026-11-30T10:02:40Z",
            Some(ErrorClass::Timeout),
            DeliveryState::Dead,
        ));
        assert_eq!(view.points.len(), 3);
        assert_eq!(view.points[2].counts.attempts, 2);
        assert_eq!(view.total.counts.failed, 1);
        assert_eq!(view.dlq_depth.last().unwrap().depth, 3);
        assert_eq!(view.dlq_now, 3, "the depth now follows the feed too");

        // Two minutes later: two new buckets, the two oldest leave.
        view.record(&outcome(
            "2026-11-30T10:04:05Z",
            None,
            DeliveryState::Succeeded,
        ));
        let starts: Vec<_> = view.points.iter().map(|p| p.start).collect();
        assert_eq!(
            starts,
            ["02", "03", "04"].map(|m| t(&format!("2026-11-30T10:{m}:00Z")))
        );
        assert_eq!(view.total.counts.attempts, 3);
        assert_eq!(view.dlq_depth.len(), 3);
        assert_eq!(view.dlq_depth.last().unwrap().depth, 3);

        // A fixed (custom) range does not move.
        view.live = false;
        view.record(&outcome(
            "2026-11-30T10:04:10Z",
            None,
            DeliveryState::Succeeded,
        ));
        assert_eq!(view.total.counts.attempts, 3);
    }
}
