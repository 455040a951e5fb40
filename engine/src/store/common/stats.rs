//! Delivery statistics in SQLite: each recorded attempt adds to its minute,
//! hour and day rows in the same transaction as its receipt; queries read the
//! rows of one granularity and sum them per bucket and group.

use async_trait::async_trait;
use std::collections::BTreeMap;

use super::DbRow;
use super::{Db, DbConnection};
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};

use super::This;
use crate::Result;
use crate::model::{Counts, DepthPoint, ErrorClass, Granularity, GroupBy, StatsOut, TenantId};
use crate::stats::{Range, SummedRow, after_ranges, assemble, dlq_depth};
use crate::store::sql::{GAUGE_QUEUES, GAUGE_REPLAYS, gauge_deliveries};
use crate::store::{StatSample, StatsScope, to_millis};

/// The plain count columns, in the order `counts_at` reads them.
const COUNT_COLUMNS: [&str; 8] = [
    "attempts",
    "succeeded",
    "failed",
    "dlq_added",
    "dlq_removed",
    "acked",
    "ack_timeouts",
    "breaker_held",
];

fn error_column(class: ErrorClass) -> String {
    format!("e_{}", class.as_str())
}

/// A value of the statistics upsert, in parameter order.
pub(super) enum StatParam<'a> {
    Text(&'a str),
    Int(i64),
}

/// The statement that adds counts to the minute, hour and day rows of one
/// `(tenant, endpoint, event type)`: one row of parameters per granularity
/// (`stat_params`), summed into the rows already there.
pub(super) fn stats_upsert_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let value_columns: Vec<String> = COUNT_COLUMNS
            .into_iter()
            .map(str::to_string)
            .chain(ErrorClass::ALL.iter().map(|c| error_column(*c)))
            .chain(["latency_sum_ms".to_string()])
            .collect();
        let width = 5 + value_columns.len();
        let rows = (0..Granularity::ALL.len())
            .map(|g| {
                let row: Vec<String> = (1..=width).map(|i| format!("${}", g * width + i)).collect();
                format!("select {}", row.join(", "))
            })
            .collect::<Vec<_>>()
            .join(" union all ");
        let sums: Vec<String> = value_columns
            .iter()
            .map(|c| format!("{c} = delivery_stats.{c} + excluded.{c}"))
            .collect();
        // `where true` lets SQLite tell the upsert clause from a join.
        format!(
            "insert into delivery_stats (tenant_id, endpoint_id, event_type, granularity, bucket_start, {}) \
             {rows} where true \
             on conflict (tenant_id, granularity, bucket_start, endpoint_id, event_type) do update set {}",
            value_columns.join(", "),
            sums.join(", ")
        )
    })
}

/// The parameters of `stats_upsert_sql` for `counts` at `at_ms`.
pub(super) fn stat_params<'a>(
    (tenant, endpoint, event_type): (&'a str, &'a str, &'a str),
    at_ms: i64,
    counts: &Counts,
) -> Vec<StatParam<'a>> {
    let values: Vec<i64> = [
        counts.attempts,
        counts.succeeded,
        counts.failed,
        counts.dlq_added,
        counts.dlq_removed,
        counts.acked,
        counts.ack_timeouts,
        counts.breaker_held,
    ]
    .into_iter()
    .chain(
        ErrorClass::ALL
            .iter()
            .map(|c| counts.errors.get(c.as_str()).copied().unwrap_or(0)),
    )
    .chain([counts.latency_sum_ms])
    .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
    .collect();
    let mut params = Vec::with_capacity(Granularity::ALL.len() * (5 + values.len()));
    for g in Granularity::ALL {
        params.extend([
            StatParam::Text(tenant),
            StatParam::Text(endpoint),
            StatParam::Text(event_type),
            StatParam::Text(g.as_str()),
            StatParam::Int(g.bucket_start(at_ms)),
        ]);
        params.extend(values.iter().map(|v| StatParam::Int(*v)));
    }
    params
}

/// Adds `counts` to the minute, hour and day rows of `(tenant, endpoint, event type)` at `at_ms`.
pub(super) async fn add_stats(
    conn: &mut DbConnection,
    key: (&str, &str, &str),
    at_ms: i64,
    counts: &Counts,
) -> Result<()> {
    let mut q = sqlx::query(stats_upsert_sql());
    for param in stat_params(key, at_ms, counts) {
        q = match param {
            StatParam::Text(text) => q.bind(text),
            StatParam::Int(n) => q.bind(n),
        };
    }
    q.execute(&mut *conn).await?;
    if counts.latency_histogram.is_empty() {
        return Ok(());
    }
    // Every bucket of the histogram at the three granularities, in one
    // statement (and in one order, so that two writers never wait on each
    // other's rows crosswise).
    let (tenant, endpoint, event_type) = key;
    let mut sql = QueryBuilder::<Db>::new(
        "insert into delivery_latency (tenant_id, endpoint_id, event_type, granularity, bucket_start, from_ms, n) ",
    );
    let rows = Granularity::ALL.into_iter().flat_map(|g| {
        counts
            .latency_histogram
            .iter()
            .map(move |(from, n)| (g, *from, *n))
    });
    sql.push_values(rows, |mut row, (g, from, n)| {
        row.push_bind(tenant)
            .push_bind(endpoint)
            .push_bind(event_type)
            .push_bind(g.as_str())
            .push_bind(g.bucket_start(at_ms))
            .push_bind(i64::try_from(from).unwrap_or(i64::MAX))
            .push_bind(i64::try_from(n).unwrap_or(i64::MAX));
    });
    sql.push(LATENCY_CONFLICT);
    sql.build().execute(&mut *conn).await?;
    Ok(())
}

/// How a latency row already there takes more attempts.
pub(super) const LATENCY_CONFLICT: &str = " on conflict (tenant_id, granularity, bucket_start, endpoint_id, event_type, from_ms) \
     do update set n = delivery_latency.n + excluded.n";

/// Counts a DLQ entry leaving the queue, in the same transaction as the
/// delete, so the queue's depth over time can be drawn.
pub(super) async fn count_dlq_removal(
    conn: &mut DbConnection,
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
        .chain(["latency_sum_ms".to_string()])
        .map(|c| format!("cast(sum({c}) as bigint)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts from the summed columns, which start at column `first`.
fn counts_at(row: &DbRow, first: usize) -> Result<Counts> {
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
    let sum_at = errors_first + ErrorClass::ALL.len();
    Ok(Counts {
        attempts: n(0)?,
        succeeded: n(1)?,
        failed: n(2)?,
        dlq_added: n(3)?,
        dlq_removed: n(4)?,
        acked: n(5)?,
        ack_timeouts: n(6)?,
        breaker_held: n(7)?,
        errors,
        // From `delivery_latency`, filled in by `stats`.
        latency_histogram: BTreeMap::new(),
        latency_sum_ms: n(sum_at)?,
    })
}

/// `select {columns} from {table}` over the rows of the query's tenant,
/// granularity, range, endpoint and event type, grouped by `group` (the
/// statistics and latency tables have the same key columns).
fn scoped_select(
    columns: &str,
    table: &str,
    (tenant, q, range): (TenantId, &StatsScope, Range),
    group: &str,
) -> QueryBuilder<'static, Db> {
    let mut sql =
        QueryBuilder::<Db>::new(format!("select {columns} from {table} where tenant_id = "));
    sql.push_bind(tenant.to_string())
        .push(" and granularity = ")
        .push_bind(q.granularity.as_str())
        .push(" and bucket_start >= ")
        .push_bind(range.from)
        .push(" and bucket_start < ")
        .push_bind(range.to);
    narrow(&mut sql, q);
    sql.push(format!(" group by {group}"));
    sql
}

/// The query's endpoint and event type conditions (both tables have the columns).
fn narrow(sql: &mut QueryBuilder<'_, Db>, q: &StatsScope) {
    if let Some(endpoint) = q.endpoint_id {
        sql.push(" and endpoint_id = ")
            .push_bind(endpoint.to_string());
    }
    if let Some(event_type) = &q.event_type {
        sql.push(" and event_type = ").push_bind(event_type.clone());
    }
}

impl This {
    /// The DLQ's depth at the end of each bucket (see `stats::dlq_depth`):
    /// its size now, and its net change after the range from the coarsest
    /// rows that fit, one index range per granularity (an OR of the three
    /// would scan the tenant's every row).
    async fn dlq_depth(
        &self,
        tenant: TenantId,
        q: &StatsScope,
        range: Range,
        net: &BTreeMap<i64, i64>,
    ) -> Result<Vec<DepthPoint>> {
        let g = q.granularity;
        // The queue's size now and what happened to it since the range ended
        // are read at one moment: an entry added between the two reads would
        // shift the whole curve by one.
        let mut read = self.snapshot().await?;
        let mut sql =
            QueryBuilder::<Db>::new("select count(*) from dlq_entries where tenant_id = ");
        sql.push_bind(tenant.to_string());
        narrow(&mut sql, q);
        let size_now: i64 = sql.build_query_scalar().fetch_one(&mut *read).await?;

        let mut sql =
            QueryBuilder::<Db>::new("select cast(coalesce(sum(net), 0) as bigint) from (");
        for (i, (granularity, start, stop)) in after_ranges(g, range.end(g)).into_iter().enumerate()
        {
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
        sql.push(") as moves");
        let after: i64 = sql.build_query_scalar().fetch_one(&mut *read).await?;
        read.commit().await?;
        Ok(dlq_depth(
            g,
            range,
            size_now,
            after,
            net,
            to_millis(Utc::now()),
        ))
    }
}

#[async_trait]
impl crate::store::StatsStore for This {
    async fn gauges(&self, now: DateTime<Utc>) -> Result<crate::metrics::Gauges> {
        let now = to_millis(now);
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        // One moment for every gauge, so they add up (a delivery moving from
        // in flight to the DLQ is never counted in both, or in neither).
        let mut read = self.snapshot().await?;
        let (due, scheduled, in_flight, waiting, awaiting_ack): (i64, i64, i64, i64, i64) =
            sqlx::query_as(&gauge_deliveries(super::DELIVERY_QUEUE))
                .bind(now)
                .fetch_one(&mut *read)
                .await?;
        let (dlq, enabled, disabled): (i64, i64, i64) =
            sqlx::query_as(GAUGE_QUEUES).fetch_one(&mut *read).await?;
        let replays: Vec<(String, String, i64, i64)> =
            sqlx::query_as(GAUGE_REPLAYS).fetch_all(&mut *read).await?;
        read.commit().await?;
        Ok(crate::metrics::Gauges {
            due: count(due),
            scheduled: count(scheduled),
            in_flight: count(in_flight),
            waiting: count(waiting),
            awaiting_ack: count(awaiting_ack),
            dlq_depth: count(dlq),
            endpoints_enabled: count(enabled),
            endpoints_disabled: count(disabled),
            replays: replays
                .into_iter()
                .map(|(id, state, dispatched, total)| (id, state, count(dispatched), count(total)))
                .collect(),
            node: self.node.clone(),
            // From the heartbeat table, read by `membership::nodes`.
            nodes: Vec::new(),
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

    async fn stats(&self, tenant: TenantId, q: &StatsScope) -> Result<StatsOut> {
        let range = Range::of(q)?;
        // SQLite sums the rows of each bucket and group: a week by hour is
        // 168 rows per group to decode, whatever the number of endpoints.
        // Without grouping, every row has the tenant (the one asked for):
        // grouping by it keeps "no rows, no groups" (PostgreSQL refuses a
        // constant in `group by`).
        let (group_column, group_key) = match q.group_by {
            GroupBy::None => ("''", "tenant_id"),
            GroupBy::Endpoint => ("endpoint_id", "endpoint_id"),
            GroupBy::EventType => ("event_type", "event_type"),
        };
        // With totals only, each group is one row (its first bucket stands for it).
        let bucket = if q.totals_only {
            "min(bucket_start)"
        } else {
            "bucket_start"
        };
        // Counts and latencies from one moment, so a histogram holds exactly
        // the attempts counted.
        let mut read = self.snapshot().await?;
        let group = if q.totals_only {
            group_key.to_string()
        } else {
            format!("bucket_start, {group_key}")
        };
        let scope = (tenant, q, range);
        let mut rows = scoped_select(
            &format!("{bucket}, {group_column}, {}", summed_columns()),
            "delivery_stats",
            scope,
            &group,
        )
        .build()
        .fetch_all(&mut *read)
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, counts_at(row, 2)?)))
        .collect::<Result<Vec<SummedRow>>>()?;

        // Each bucket's (or with totals only, each group's) latency histogram.
        let latency_bucket = if q.totals_only {
            "cast(0 as bigint)"
        } else {
            "bucket_start"
        };
        let latencies: Vec<(i64, String, i64, i64)> = scoped_select(
            &format!("{latency_bucket}, {group_column}, from_ms, cast(sum(n) as bigint)"),
            "delivery_latency",
            scope,
            &format!("{group}, from_ms"),
        )
        .build_query_as()
        .fetch_all(&mut *read)
        .await?;
        read.commit().await?;
        let mut histograms: BTreeMap<(i64, String), BTreeMap<u64, u64>> = BTreeMap::new();
        for (start, group, from, n) in latencies {
            let count = |v: i64| u64::try_from(v).unwrap_or(0);
            *histograms
                .entry((start, group))
                .or_default()
                .entry(count(from))
                .or_default() += count(n);
        }
        for (start, group, counts) in &mut rows {
            let start = if q.totals_only { 0 } else { *start };
            if let Some(histogram) = histograms.remove(&(start, group.clone())) {
                counts.latency_histogram = histogram;
            }
        }
        let (mut out, dlq_net) = assemble(q, range, rows)?;
        if !q.totals_only {
            out.dlq_depth = self.dlq_depth(tenant, q, range, &dlq_net).await?;
        }
        Ok(out)
    }
}
