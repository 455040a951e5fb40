//! PostgreSQL: ordered streams (migration 0007; SQLite's `streams.rs` says
//! what arming is). Several nodes write to one stream at once: ingest adds
//! waiting deliveries while a receipt ends the delivery ahead of them. Each
//! writer arms the streams it touched in its own transaction, after its
//! change and under a transaction-scoped advisory lock per stream, taken in
//! one order (so two writers never wait for each other in a cycle). Under
//! the lock, the arming statement sees every change committed by the
//! writers that held the lock before, and the writers after it see its own:
//! whichever of two racing writers arms last sees both changes, so a
//! waiting delivery is never left behind with nothing ahead of it, and two
//! never go out at once.

use std::collections::BTreeSet;

use sqlx::PgConnection;

use crate::Result;

/// An ordered stream: an endpoint's id and the stream's name.
pub(crate) type StreamKey = (String, String);

/// The advisory lock class of streams (two-key locks: a key space apart
/// from the claims' one-key lock).
const STREAM_LOCKS: i32 = 0x4845_5253;

/// Takes the lock of each stream, in the order of their hashes.
async fn lock(conn: &mut PgConnection, endpoints: &[String], streams: &[String]) -> Result<()> {
    sqlx::query(
        r"select pg_advisory_xact_lock($3, k)
          from (select distinct hashtext(e || ':' || s) as k
                from unnest($1::text[], $2::text[]) as u(e, s)
                order by k) as keys",
    )
    .bind(endpoints)
    .bind(streams)
    .bind(STREAM_LOCKS)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Arms the next delivery of each of `streams` that may go now (nothing of
/// it armed or in flight, no DLQ entry blocking it); how many were armed.
/// Call it inside the transaction that made the change, after the change.
pub(crate) async fn advance(
    conn: &mut PgConnection,
    streams: &BTreeSet<StreamKey>,
    now_ms: i64,
) -> Result<u64> {
    if streams.is_empty() {
        return Ok(0);
    }
    let (endpoints, names): (Vec<String>, Vec<String>) = streams.iter().cloned().unzip();
    lock(conn, &endpoints, &names).await?;
    let armed = sqlx::query(
        r"update delivery_queue q set next_attempt_at = $3
          from unnest($1::text[], $2::text[]) as u(e, s)
          where q.delivery_id = (select w.delivery_id from delivery_queue w
                                 where w.endpoint_id = u.e and w.stream = u.s and w.next_attempt_at is null
                                 order by w.stream_seq limit 1)
            and q.next_attempt_at is null
            and not exists (select 1 from delivery_queue a
                            where a.endpoint_id = u.e and a.stream = u.s and a.next_attempt_at is not null)
            and not exists (select 1 from dlq_entries x join endpoints p on p.id = x.endpoint_id
                            where x.endpoint_id = u.e and x.stream = u.s and p.on_dead = 'block')",
    )
    .bind(&endpoints)
    .bind(&names)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(armed)
}

/// The same as [`advance`], under the name the shared areas call.
pub(crate) async fn advance_on(
    conn: &mut PgConnection,
    streams: &BTreeSet<StreamKey>,
    now_ms: i64,
) -> Result<u64> {
    advance(conn, streams, now_ms).await
}

/// The streams of `endpoint` (all: `None`) with a waiting delivery and
/// nothing armed or in flight.
pub(crate) async fn stalled(
    conn: &mut PgConnection,
    endpoint: Option<&str>,
) -> Result<BTreeSet<StreamKey>> {
    let rows: Vec<StreamKey> = sqlx::query_as(
        r"select distinct w.endpoint_id, w.stream from delivery_queue w
          where w.stream is not null and w.next_attempt_at is null
            and ($1::text is null or w.endpoint_id = $1)
            and not exists (select 1 from delivery_queue a
                            where a.endpoint_id = w.endpoint_id and a.stream = w.stream
                              and a.next_attempt_at is not null)",
    )
    .bind(endpoint)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}
