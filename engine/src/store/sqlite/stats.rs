//! Delivery statistics in SQLite: each recorded attempt adds to its minute,
//! hour and day rows in the same transaction as its receipt; queries read the
//! rows of one granularity and sum them per bucket and group.

use async_trait::async_trait;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::model::{
    Counts, DepthPoint, EndpointId, ErrorClass, Granularity, GroupBy, LATENCY_SLOTS, StatsOut,
    StatsPoint, StatsSeries, TenantId,
};
use crate::store::{SqliteStore, StatSample, StatsQuery, from_millis, stored_id, to_millis};
use crate::{EngineError, Result};

/// The plain count columns, in the order `counts_at` reads them.
const COUNT_COLUMNS: [&str; 5] = [
    "attempts",
    "succeeded",
    "failed",
    "dlq_added",
    "dlq_removed",
];

fn error_column(class: ErrorClass) -> String {
    format!("e_{}", class.as_str())
}

/// Adds `counts` to the minute, hour and day rows of `(tenant, endpoint, event type)` at `at_ms`.
pub(super) async fn add_stats(
    conn: &mut SqliteConnection,
    (tenant, endpoint, event_type): (&str, &str, &str),
    at_ms: i64,
    counts: &Counts,
) -> Result<()> {
    let errors: Vec<String> = ErrorClass::ALL.iter().map(|c| error_column(*c)).collect();
    let latency: Vec<String> = (0..LATENCY_SLOTS).map(|i| format!("l{i}")).collect();
    let value_columns: Vec<&str> = COUNT_COLUMNS
        .into_iter()
        .chain(errors.iter().map(String::as_str))
        .chain(latency.iter().map(String::as_str))
        .chain(["latency_sum_ms"])
        .collect();

    let mut q = QueryBuilder::<Sqlite>::new(format!(
        "insert into delivery_stats (tenant_id, endpoint_id, event_type, granularity, bucket_start, {}) ",
        value_columns.join(", ")
    ));
    let values: Vec<i64> = [
        counts.attempts,
        counts.succeeded,
        counts.failed,
        counts.dlq_added,
        counts.dlq_removed,
    ]
    .into_iter()
    .chain(
        ErrorClass::ALL
            .iter()
            .map(|c| counts.errors.get(c.as_str()).copied().unwrap_or(0)),
    )
    .chain((0..LATENCY_SLOTS).map(|i| counts.latency_buckets.get(i).copied().unwrap_or(0)))
    .chain([counts.latency_sum_ms])
    .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
    .collect();
    for (i, g) in Granularity::ALL.into_iter().enumerate() {
        q.push(if i == 0 {
            "select "
        } else {
            " union all select "
        });
        let mut s = q.separated(", ");
        s.push_bind(tenant)
            .push_bind(endpoint)
            .push_bind(event_type)
            .push_bind(g.as_str())
            .push_bind(g.bucket_start(at_ms));
        for v in &values {
            s.push_bind(*v);
        }
    }
    // `where true` lets SQLite tell the upsert clause from a join.
    q.push(
        " where true on conflict (tenant_id, granularity, bucket_start, endpoint_id, event_type) do update set ",
    );
    let sums: Vec<String> = value_columns
        .iter()
        .map(|c| format!("{c} = {c} + excluded.{c}"))
        .collect();
    q.push(sums.join(", "));
    q.build().execute(&mut *conn).await?;
    Ok(())
}

/// Counts a DLQ entry entering the queue, in the same transaction as the insert.
pub(super) async fn count_dlq_addition(
    conn: &mut SqliteConnection,
    (tenant, endpoint, event_type): (&str, &str, &str),
    at_ms: i64,
) -> Result<()> {
    let counts = Counts {
        dlq_added: 1,
        ..Counts::default()
    };
    add_stats(conn, (tenant, endpoint, event_type), at_ms, &counts).await
}

/// Counts a DLQ entry leaving the queue, in the same transaction as the
/// delete, so the queue's depth over time can be drawn.
pub(super) async fn count_dlq_removal(
    conn: &mut SqliteConnection,
    (tenant, endpoint, event_type): (&str, &str, &str),
    at_ms: i64,
) -> Result<()> {
    let counts = Counts {
        dlq_removed: 1,
        ..Counts::default()
    };
    add_stats(conn, (tenant, endpoint, event_type), at_ms, &counts).await
}

/// The summed value columns, in the order `counts_at` reads them.
fn summed_columns() -> String {
    COUNT_COLUMNS
        .into_iter()
        .map(str::to_string)
        .chain(ErrorClass::ALL.iter().map(|c| error_column(*c)))
        .chain((0..LATENCY_SLOTS).map(|i| format!("l{i}")))
        .chain(["latency_sum_ms".to_string()])
        .map(|c| format!("sum({c})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts from the summed columns, which start at column `first`.
fn counts_at(row: &SqliteRow, first: usize) -> Result<Counts> {
    let n = |i: usize| -> Result<u64> {
        let v: i64 = row.try_get(first + i)?;
        Ok(u64::try_from(v).unwrap_or(0))
    };
    let mut errors = BTreeMap::new();
    let errors_first = COUNT_COLUMNS.len();
    for (i, class) in ErrorClass::ALL.iter().enumerate() {
        let count = n(errors_first + i)?;
        if count > 0 {
            errors.insert(class.as_str().to_string(), count);
        }
    }
    let latency_first = errors_first + ErrorClass::ALL.len();
    Ok(Counts {
        attempts: n(0)?,
        succeeded: n(1)?,
        failed: n(2)?,
        dlq_added: n(3)?,
        dlq_removed: n(4)?,
        errors,
        latency_buckets: (0..LATENCY_SLOTS)
            .map(|i| n(latency_first + i))
            .collect::<Result<_>>()?,
        latency_sum_ms: n(latency_first + LATENCY_SLOTS)?,
    })
}

/// The query's endpoint and event type conditions (both tables have the columns).
fn narrow(sql: &mut QueryBuilder<'_, Sqlite>, q: &StatsQuery) {
    if let Some(endpoint) = q.endpoint_id {
        sql.push(" and endpoint_id = ")
            .push_bind(endpoint.to_string());
    }
    if let Some(event_type) = &q.event_type {
        sql.push(" and event_type = ").push_bind(event_type.clone());
    }
}

type GroupKey = (Option<EndpointId>, Option<String>);

impl SqliteStore {
    /// The DLQ's depth at the end of each bucket, drawn back from its size now:
    /// the depth at a time is today's minus what was added since, plus what
    /// was removed since. `net` holds each bucket's additions minus removals.
    async fn dlq_depth(
        &self,
        tenant: TenantId,
        q: &StatsQuery,
        from: i64,
        buckets: i64,
        net: &BTreeMap<i64, i64>,
    ) -> Result<Vec<DepthPoint>> {
        let g = q.granularity;
        let end = from + buckets * g.millis();
        let mut sql =
            QueryBuilder::<Sqlite>::new("select count(*) from dlq_entries where tenant_id = ");
        sql.push_bind(tenant.to_string());
        narrow(&mut sql, q);
        let now: i64 = sql.build_query_scalar().fetch_one(self.reader()).await?;

        // The net change after the range, from the coarsest rows that fit:
        // minutes up to the next hour, hours up to the next day, then days.
        let ceil = |at: i64, to: Granularity| to.bucket_start(at + to.millis() - 1);
        let (minutes_end, hours_end) = match g {
            Granularity::Minute => (ceil(end, Granularity::Hour), ceil(end, Granularity::Day)),
            Granularity::Hour => (end, ceil(end, Granularity::Day)),
            Granularity::Day => (end, end),
        };
        // One index range per granularity (an OR of the three would scan the
        // tenant's every row).
        let mut sql = QueryBuilder::<Sqlite>::new("select coalesce(sum(net), 0) from (");
        let ranges = [
            (Granularity::Minute, end, Some(minutes_end)),
            (Granularity::Hour, minutes_end, Some(hours_end)),
            (Granularity::Day, hours_end, None),
        ];
        for (i, (granularity, start, stop)) in ranges.into_iter().enumerate() {
            if i > 0 {
                sql.push(" union all ");
            }
            sql.push(
                "select dlq_added - dlq_removed as net from delivery_stats where tenant_id = ",
            )
            .push_bind(tenant.to_string())
            .push(" and granularity = ")
            .push_bind(granularity.as_str())
            .push(" and bucket_start >= ")
            .push_bind(start);
            if let Some(stop) = stop {
                sql.push(" and bucket_start < ").push_bind(stop);
            }
            narrow(&mut sql, q);
        }
        sql.push(")");
        let after: i64 = sql.build_query_scalar().fetch_one(self.reader()).await?;

        let now_ms = to_millis(Utc::now());
        let mut depth = now - after;
        let mut points = Vec::with_capacity(usize::try_from(buckets).unwrap_or(0));
        for i in (0..buckets).rev() {
            let start = from + i * g.millis();
            points.push(DepthPoint {
                end: from_millis((start + g.millis()).min(now_ms.max(start))),
                // Rows written before removals were counted can make the
                // drawn-back depth negative; a queue is never smaller than empty.
                depth: u64::try_from(depth).unwrap_or(0),
            });
            depth -= net.get(&start).copied().unwrap_or(0);
        }
        points.reverse();
        Ok(points)
    }
}

#[async_trait]
impl crate::store::StatsStore for SqliteStore {
    async fn gauges(&self, now: DateTime<Utc>) -> Result<crate::metrics::Gauges> {
        let now = to_millis(now);
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let (due, scheduled, in_flight): (i64, i64, i64) = sqlx::query_as(
            r"select
                  (select count(*) from deliveries where state = 'pending' and next_attempt_at <= $1),
                  (select count(*) from deliveries where state = 'pending' and next_attempt_at > $1),
                  (select count(*) from deliveries where state = 'in_flight')",
        )
        .bind(now)
        .fetch_one(self.reader())
        .await?;
        let (dlq, enabled, disabled): (i64, i64, i64) = sqlx::query_as(
            r"select
                  (select count(*) from dlq_entries),
                  (select count(*) from endpoints where deleted_at is null and disabled_at is null),
                  (select count(*) from endpoints where deleted_at is null and disabled_at is not null)",
        )
        .fetch_one(self.reader())
        .await?;
        let replays: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "select id, state, dispatched, total from replay_jobs where state in ('running', 'paused') order by id",
        )
        .fetch_all(self.reader())
        .await?;
        Ok(crate::metrics::Gauges {
            due: count(due),
            scheduled: count(scheduled),
            in_flight: count(in_flight),
            dlq_depth: count(dlq),
            endpoints_enabled: count(enabled),
            endpoints_disabled: count(disabled),
            replays: replays
                .into_iter()
                .map(|(id, state, dispatched, total)| (id, state, count(dispatched), count(total)))
                .collect(),
        })
    }

    async fn record_stats(&self, samples: Vec<StatSample>) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for s in &samples {
            add_stats(
                &mut tx,
                (
                    &s.tenant_id.to_string(),
                    &s.endpoint_id.to_string(),
                    &s.event_type,
                ),
                to_millis(s.at),
                &s.counts,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn stats(&self, tenant: TenantId, q: &StatsQuery) -> Result<StatsOut> {
        let g = q.granularity;
        let from = g.bucket_start(to_millis(q.from));
        let to = to_millis(q.to);
        if to <= from {
            return Err(EngineError::invalid("to", "must be later than from"));
        }
        // The limit is on the range asked for: flooring `from` to its bucket
        // adds one partial bucket (24 hours by minute touch 1,441 of them).
        let asked = to_millis(q.from).max(from);
        let buckets = (to - asked + g.millis() - 1) / g.millis();
        if buckets > g.max_buckets() {
            return Err(EngineError::invalid(
                "granularity",
                format!(
                    "{} buckets of a {} are too many for one query (at most {}); choose a coarser granularity or a shorter range",
                    buckets,
                    g.as_str(),
                    g.max_buckets()
                ),
            ));
        }
        // SQLite sums the rows of each bucket and group: a week by hour is
        // 168 rows per group to decode, whatever the number of endpoints.
        let group_column = match q.group_by {
            GroupBy::None => "''",
            GroupBy::Endpoint => "endpoint_id",
            GroupBy::EventType => "event_type",
        };
        // With totals only, each group is one row (its first bucket stands for it).
        let bucket = if q.totals_only {
            "min(bucket_start)"
        } else {
            "bucket_start"
        };
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "select {bucket}, {group_column}, {} from delivery_stats where tenant_id = ",
            summed_columns()
        ));
        sql.push_bind(tenant.to_string())
            .push(" and granularity = ")
            .push_bind(g.as_str())
            .push(" and bucket_start >= ")
            .push_bind(from)
            .push(" and bucket_start < ")
            .push_bind(to);
        narrow(&mut sql, q);
        if q.totals_only {
            sql.push(format!(" group by {group_column}"));
        } else {
            sql.push(format!(" group by bucket_start, {group_column}"));
        }
        let rows = sql.build().fetch_all(self.reader()).await?;

        let mut groups: BTreeMap<GroupKey, BTreeMap<i64, Counts>> = BTreeMap::new();
        let mut total = Counts::default();
        // DLQ additions minus removals per bucket, every group together.
        let mut dlq_net: BTreeMap<i64, i64> = BTreeMap::new();
        for row in &rows {
            let start: i64 = row.try_get(0)?;
            let group: String = row.try_get(1)?;
            let counts = counts_at(row, 2)?;
            let key = match q.group_by {
                GroupBy::None => (None, None),
                GroupBy::Endpoint => (Some(stored_id(&group)?), None),
                GroupBy::EventType => (None, Some(group)),
            };
            total.add(&counts);
            *dlq_net.entry(start).or_default() +=
                counts.dlq_added as i64 - counts.dlq_removed as i64;
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
                    total: StatsPoint::new(from_millis(from), sum),
                }
            })
            .collect();
        let dlq_depth = if q.totals_only {
            Vec::new()
        } else {
            self.dlq_depth(tenant, q, from, buckets, &dlq_net).await?
        };
        Ok(StatsOut {
            granularity: g,
            from: from_millis(from),
            to: q.to,
            group_by: q.group_by,
            series,
            total: StatsPoint::new(from_millis(from), total),
            dlq_depth,
        })
    }
}
