//! SQLite: ordered streams (migration 0014). A delivery of a stream waits
//! (pending, no due time) until nothing of its stream is ahead of it; the
//! writes that end a stream's delivery or add one to it arm the stream's
//! next waiting delivery in the same transaction. SQLite has one writer, so
//! what a transaction reads of a stream cannot change under it.

use std::collections::BTreeSet;

use rusqlite::{Connection, params};

use crate::Result;

/// An ordered stream: an endpoint's id and the stream's name.
pub(crate) type StreamKey = (String, String);

/// Arms the first waiting delivery of the stream `?1`/`?2` (due at `?3`)
/// when nothing of it is armed or in flight and no DLQ entry blocks it (its
/// endpoint's `on_dead` is `block`). The terms on the partial index repeat
/// its condition, as SQLite needs to use it.
pub(crate) const ADVANCE_SQL: &str = r"update deliveries set next_attempt_at = ?3, updated_at = ?3
    where rowid = (select w.rowid from deliveries w indexed by deliveries_stream_idx
                   where w.endpoint_id = ?1 and w.stream = ?2 and w.state <> 'succeeded' and w.state <> 'dead'
                     and w.next_attempt_at is null
                   order by w.stream_seq limit 1)
      and not exists (select 1 from deliveries a indexed by deliveries_stream_idx
                      where a.endpoint_id = ?1 and a.stream = ?2 and a.state <> 'succeeded' and a.state <> 'dead'
                        and a.next_attempt_at is not null)
      and not exists (select 1 from dlq_entries x join endpoints p on p.id = x.endpoint_id
                      where x.endpoint_id = ?1 and x.stream = ?2 and p.on_dead = 'block')";

/// Streams with a waiting delivery and nothing armed or in flight (`?1`: one
/// endpoint, or null for all): the ones an arming may have missed, or that a
/// change of `on_dead` or a DLQ removal let go on.
pub(crate) const STALLED_SQL: &str = r"select distinct w.endpoint_id, w.stream from deliveries w indexed by deliveries_stream_idx
    where w.stream is not null and w.state <> 'succeeded' and w.state <> 'dead' and w.next_attempt_at is null
      and (?1 is null or w.endpoint_id = ?1)
      and not exists (select 1 from deliveries a indexed by deliveries_stream_idx
                      where a.endpoint_id = w.endpoint_id and a.stream = w.stream
                        and a.state <> 'succeeded' and a.state <> 'dead' and a.next_attempt_at is not null)";

/// Arms the next delivery of each of `streams` that may go now; how many
/// were armed.
pub(super) fn advance(
    conn: &Connection,
    streams: &BTreeSet<StreamKey>,
    now_ms: i64,
) -> Result<u64> {
    if streams.is_empty() {
        return Ok(0);
    }
    let mut arm = conn.prepare_cached(ADVANCE_SQL)?;
    let mut armed = 0;
    for (endpoint, stream) in streams {
        armed += arm.execute(params![endpoint, stream, now_ms])? as u64;
    }
    Ok(armed)
}

/// The streams of `endpoint` (all endpoints: `None`) that have a waiting
/// delivery and nothing ahead of it armed or in flight.
pub(super) fn stalled(conn: &Connection, endpoint: Option<&str>) -> Result<BTreeSet<StreamKey>> {
    let rows = conn
        .prepare_cached(STALLED_SQL)?
        .query_map([endpoint], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<BTreeSet<StreamKey>>>()?;
    Ok(rows)
}

/// [`advance`] on a connection of the pool, for the areas whose SQL both
/// backends share (a DLQ reprocess or discard, a replay).
pub(super) async fn advance_on(
    conn: &mut sqlx::SqliteConnection,
    streams: &BTreeSet<StreamKey>,
    now_ms: i64,
) -> Result<u64> {
    let mut armed = 0;
    for (endpoint, stream) in streams {
        armed += sqlx::query(ADVANCE_SQL)
            .bind(endpoint)
            .bind(stream)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(armed)
}
