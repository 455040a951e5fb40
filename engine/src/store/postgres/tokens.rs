//! PostgreSQL: the token buckets of rate-limited endpoints (migration
//! 0008), spent by the claims and the receipts' refills that take their
//! deliveries.

use sqlx::PgConnection;

use super::endpoint_cache::ClaimedRow;
use crate::Result;

/// Spends the tokens of the rate-limited endpoints among the deliveries
/// just taken (`$1`, one endpoint id per delivery) at `$2`: each bucket is
/// counted again from its row as it is now (a refill on another
/// transaction may have spent from it meanwhile) and may go into debt,
/// which later claims wait out.
const SPEND_SQL: &str = r"with taken as (
    select endpoint_id, count(*)::float8 as n from unnest($1::text[]) as e(endpoint_id) group by endpoint_id
), limited as (
    select p.id, greatest(1.0, p.rate_limit * 1000.0 / p.rate_period_ms) as cap,
           p.rate_limit::float8 / p.rate_period_ms as per_ms, taken.n
    from taken join endpoints p on p.id = taken.endpoint_id
    where p.rate_limit is not null
), counted as (
    update endpoint_tokens t
    set tokens = least(l.cap, t.tokens + greatest(0, $2 - t.counted_at) * l.per_ms) - l.n,
        counted_at = greatest(t.counted_at, $2)
    from limited l where t.endpoint_id = l.id
    returning t.endpoint_id
)
insert into endpoint_tokens (endpoint_id, tokens, counted_at)
select l.id, l.cap - l.n, $2 from limited l
where l.id not in (select endpoint_id from counted)
on conflict (endpoint_id) do nothing";

/// Spends the rate-limited endpoints' tokens for `rows`, taken at `now_ms`.
pub(super) async fn spend_tokens(
    conn: &mut PgConnection,
    rows: &[ClaimedRow],
    now_ms: i64,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let endpoints: Vec<&str> = rows.iter().map(|r| r.endpoint_id.as_str()).collect();
    sqlx::query(SPEND_SQL)
        .bind(&endpoints)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
