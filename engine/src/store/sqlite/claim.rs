//! SQLite: which due deliveries a claim takes, fairly across endpoints and
//! tenants, and what sending each needs; run as a job of the hot writer.

use rusqlite::{Connection, params};

use super::endpoint_cache::{ClaimedEndpoint, ClaimedRow};
use crate::Result;
use crate::model::RateLimit;
use crate::store::rows::rate_limit_of;

/// An endpoint with pending work, as `READY_SQL` reads it.
struct Ready {
    endpoint_id: String,
    tenant_id: String,
    /// Its earliest due time (none: all its work waits in ordered streams).
    first_due: Option<i64>,
    /// Slots its limit leaves free.
    free: i64,
    rate: Option<RateLimit>,
    /// Its bucket's tokens when last counted, and when.
    counted: Option<(f64, i64)>,
}

impl Ready {
    /// The lane a claim at `now_ms` walks, if the endpoint may give any:
    /// work due, a free slot and, under a rate limit, a whole token.
    fn lane(self, now_ms: i64, limit: usize) -> Option<Lane> {
        let first_due = self.first_due.filter(|due| *due <= now_ms)?;
        let mut cap = usize::try_from(self.free)
            .ok()
            .filter(|f| *f >= 1)?
            .min(limit);
        let tokens = self.rate.map(|rate| {
            let available = rate.available(self.counted, now_ms);
            (rate, available)
        });
        if let Some((_, available)) = tokens {
            // Whole tokens only; a bucket in debt gives none.
            cap = cap.min(available.floor().max(0.0) as usize);
            if cap == 0 {
                return None;
            }
        }
        Some(Lane {
            endpoint_id: self.endpoint_id,
            tenant_id: self.tenant_id,
            first_due,
            cap,
            tokens,
            rows: Vec::new(),
            exhausted: false,
        })
    }
}

/// An endpoint with due deliveries, as a claim walks it.
struct Lane {
    endpoint_id: String,
    tenant_id: String,
    first_due: i64,
    /// The most of its deliveries this claim may take.
    cap: usize,
    /// Under a rate limit: the limit and the tokens its bucket holds now.
    tokens: Option<(RateLimit, f64)>,
    /// Its due deliveries read so far (rowid, due), in due order.
    rows: Vec<(i64, i64)>,
    /// True once `rows` holds all it may give.
    exhausted: bool,
}

impl Lane {
    /// True if the lane has a `turn`-th due delivery (1-based), reading more
    /// of them when it has not yet: at least `chunk` at a time, continuing
    /// after the last one read in index order.
    fn has(&mut self, tx: &Connection, turn: usize, now_ms: i64, chunk: usize) -> Result<bool> {
        while self.rows.len() < turn && !self.exhausted {
            let want = turn.max(self.rows.len() + chunk).min(self.cap) - self.rows.len();
            // Two seeks, never a row-value comparison on `(due, rowid)`:
            // SQLite seeks that on the due time alone and would scan every
            // delivery sharing it (a whole batch of events).
            let after = self.rows.last().copied();
            let mut got = 0;
            if let Some((rowid, due)) = after {
                got += self.read(tx, DUE_SAME_TIME, [due, rowid, want as i64])?;
            }
            if got < want {
                let from = after.map_or(i64::MIN, |(_, due)| due);
                got += self.read(tx, DUE_LATER, [from, now_ms, (want - got) as i64])?;
            }
            self.exhausted = got < want || self.rows.len() >= self.cap;
        }
        Ok(self.rows.len() >= turn)
    }

    /// Appends what `sql` (`DUE_SAME_TIME` or `DUE_LATER`) finds for this
    /// endpoint with the parameters `p`; returns how many.
    fn read(&mut self, tx: &Connection, sql: &str, p: [i64; 3]) -> Result<usize> {
        let mut statement = tx.prepare_cached(sql)?;
        let found = statement.query_map(params![self.endpoint_id, p[0], p[1], p[2]], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?;
        let before = self.rows.len();
        for row in found {
            self.rows.push(row?);
        }
        Ok(self.rows.len() - before)
    }

    /// Which of two lanes goes first within a turn: the earlier due, then
    /// the endpoint id.
    fn rank(&self) -> (i64, &str) {
        (self.first_due, &self.endpoint_id)
    }
}

/// One tenant's turns in a claim: every endpoint's first due delivery
/// (earliest-due endpoint first), then every endpoint's second, and so on.
struct TenantTurns {
    /// Lanes still giving, by first due time.
    alive: Vec<usize>,
    turn: usize,
    next: usize,
}

impl TenantTurns {
    /// The tenant's next (lane, turn), if it has one.
    fn next(
        &mut self,
        tx: &Connection,
        lanes: &mut [Lane],
        now_ms: i64,
        chunk: usize,
    ) -> Result<Option<(usize, usize)>> {
        loop {
            if self.next < self.alive.len() {
                let lane = self.alive[self.next];
                self.next += 1;
                return Ok(Some((lane, self.turn)));
            }
            if self.alive.is_empty() {
                return Ok(None);
            }
            self.turn += 1;
            self.next = 0;
            let mut still = Vec::with_capacity(self.alive.len());
            for &lane in &self.alive {
                if lanes[lane].has(tx, self.turn, now_ms, chunk)? {
                    still.push(lane);
                }
            }
            self.alive = still;
        }
    }
}

/// A delivery a claim takes: its rowid, its due time and its lane.
type Picked = (i64, i64, usize);

/// Picks up to `limit` due deliveries, fair by
/// construction: each endpoint gets at most the slots its in-flight count
/// leaves free, and they are taken round-robin (every endpoint's first due
/// delivery before anyone's second), with tenants taking turns too. An
/// endpoint at its limit is skipped and its work stays due; one endpoint's
/// backlog cannot hide anyone else's. Each endpoint's deliveries are read as
/// a range of the pending-only index, a chunk at a time, only as far as the
/// turns reach.
fn pick(
    tx: &Connection,
    now_ms: i64,
    limit: u32,
    per_endpoint: u32,
    ahead: u32,
) -> Result<(Vec<Lane>, Vec<Picked>)> {
    let limit = limit as usize;
    let mut lanes: Vec<Lane> = tx
        .prepare_cached(READY_SQL)?
        .query_map(
            params![i64::from(per_endpoint), i64::from(ahead), now_ms],
            |r| {
                Ok(Ready {
                    endpoint_id: r.get(0)?,
                    tenant_id: r.get(1)?,
                    first_due: r.get(2)?,
                    free: r.get(3)?,
                    rate: rate_limit_of(r.get(4)?, r.get(5)?),
                    counted: r.get::<_, Option<f64>>(6)?.zip(r.get::<_, Option<i64>>(7)?),
                })
            },
        )?
        .filter_map(|row| row.map(|ready| ready.lane(now_ms, limit)).transpose())
        .collect::<rusqlite::Result<_>>()?;
    if lanes.is_empty() || limit == 0 {
        return Ok((lanes, Vec::new()));
    }
    // Enough per read that one endpoint alone is read in one go, and many
    // endpoints each read about their share.
    let chunk = limit.div_ceil(lanes.len()) + 1;
    let mut by_tenant: std::collections::BTreeMap<&str, Vec<usize>> =
        std::collections::BTreeMap::new();
    let mut order: Vec<usize> = (0..lanes.len()).collect();
    order.sort_by(|&a, &b| lanes[a].rank().cmp(&lanes[b].rank()));
    for &lane in &order {
        by_tenant
            .entry(lanes[lane].tenant_id.as_str())
            .or_default()
            .push(lane);
    }
    let mut tenants: Vec<TenantTurns> = by_tenant
        .into_values()
        .map(|alive| TenantTurns {
            next: alive.len(),
            alive,
            turn: 0,
        })
        .collect();
    let mut picked = Vec::with_capacity(limit);
    // Round by round, each tenant's next turn; within a round the earlier
    // turn, then the earlier-due endpoint, goes first.
    while picked.len() < limit {
        let mut round = Vec::with_capacity(tenants.len());
        for tenant in &mut tenants {
            if let Some(next) = tenant.next(tx, &mut lanes, now_ms, chunk)? {
                round.push(next);
            }
        }
        if round.is_empty() {
            break;
        }
        round.sort_by(|&(a, ta), &(b, tb)| (ta, lanes[a].rank()).cmp(&(tb, lanes[b].rank())));
        for (lane, turn) in round.into_iter().take(limit - picked.len()) {
            let (rowid, due) = lanes[lane].rows[turn - 1];
            picked.push((rowid, due, lane));
        }
    }
    Ok((lanes, picked))
}

/// Claims up to `limit` due deliveries (see `claim_due` and `pick`) and reads
/// what sending each needs, in due order, with each endpoint's settings read
/// once. Each taken is updated by rowid, where an `update … returning` would
/// gather its rows in a temporary table first.
pub(super) fn claim(
    tx: &Connection,
    (now_ms, lease_ms): (i64, i64),
    limit: u32,
    per_endpoint: u32,
    ahead: u32,
) -> Result<(Vec<ClaimedRow>, Vec<ClaimedEndpoint>)> {
    let (lanes, mut picked) = pick(tx, now_ms, limit, per_endpoint, ahead)?;
    picked.sort_by_key(|&(rowid, due, _)| (due, rowid));
    let mut hold = tx.prepare_cached(
        r"update deliveries set state = 'in_flight', lease_until = ?2, updated_at = ?3,
                                claim_token = claim_token + 1
          where rowid = ?1",
    )?;
    let mut read = tx.prepare_cached(CLAIMED_SQL)?;
    let mut rows = Vec::with_capacity(picked.len());
    let mut used = vec![false; lanes.len()];
    for &(rowid, _, lane) in &picked {
        used[lane] = true;
        let lane = &lanes[lane];
        hold.execute(params![rowid, lease_ms, now_ms])?;
        // By position, in `CLAIMED_SQL`'s order: a lookup by name costs a
        // scan of the column names per value.
        rows.push(read_claimed_with(
            &mut read,
            rowid,
            &lane.tenant_id,
            &lane.endpoint_id,
        )?);
    }
    // What each limited endpoint's bucket holds after this claim.
    let mut spend = tx.prepare_cached(
        r"insert into endpoint_tokens (endpoint_id, tokens, counted_at) values (?1, ?2, ?3)
          on conflict (endpoint_id) do update set tokens = excluded.tokens, counted_at = excluded.counted_at",
    )?;
    for (at, lane) in lanes.iter().enumerate() {
        if let Some((_, available)) = lane.tokens {
            let taken = picked.iter().filter(|p| p.2 == at).count();
            spend.execute(params![&lane.endpoint_id, available - taken as f64, now_ms])?;
        }
    }
    let mut settings = tx.prepare_cached(ENDPOINT_SQL)?;
    // An endpoint whose breaker is open gave its probe: nothing else of it is
    // claimed until the probe's outcome moves the breaker on, or its lease ends.
    let mut probing = tx.prepare_cached(
        "update endpoints set breaker_until = ?1 where id = ?2 and breaker_state = 'open'",
    )?;
    let mut endpoints: Vec<ClaimedEndpoint> = Vec::new();
    for (lane, _) in lanes.iter().zip(&used).filter(|(_, used)| **used) {
        endpoints.push(settings_with(&mut settings, &lane.endpoint_id, now_ms)?);
    }
    for e in endpoints.iter().filter(|e| e.breaker_open) {
        probing.execute(params![lease_ms, &e.endpoint_id])?;
    }
    Ok((rows, endpoints))
}

/// The claimed delivery at `rowid` (just leased), of `tenant` and `endpoint`.
pub(super) fn read_claimed(
    tx: &Connection,
    rowid: i64,
    tenant: &str,
    endpoint: &str,
) -> Result<ClaimedRow> {
    read_claimed_with(
        &mut tx.prepare_cached(CLAIMED_SQL)?,
        rowid,
        tenant,
        endpoint,
    )
}

fn read_claimed_with(
    read: &mut rusqlite::CachedStatement<'_>,
    rowid: i64,
    tenant: &str,
    endpoint: &str,
) -> Result<ClaimedRow> {
    // By position, in `CLAIMED_SQL`'s order: a lookup by name costs a
    // scan of the column names per value.
    Ok(read.query_row([rowid], |r| {
        Ok(ClaimedRow {
            id: r.get(0)?,
            claim_token: r.get(1)?,
            tenant_id: tenant.to_owned(),
            event_id: r.get(2)?,
            endpoint_id: endpoint.to_owned(),
            attempts: r.get(3)?,
            chain_attempts: r.get(4)?,
            first_attempt_at: r.get(5)?,
            chain_trigger: r.get(6)?,
            chain_reason: r.get(7)?,
            event_type: r.get(8)?,
            payload: r.get(9)?,
            correlation_id: r.get(10)?,
            test: r.get(11)?,
            ack_timed_out: r.get(12)?,
            replay_transform: r.get(13)?,
        })
    })?)
}

/// A claimed endpoint's delivery settings at `now_ms`.
pub(super) fn endpoint_settings(
    tx: &Connection,
    endpoint: &str,
    now_ms: i64,
) -> Result<ClaimedEndpoint> {
    settings_with(&mut tx.prepare_cached(ENDPOINT_SQL)?, endpoint, now_ms)
}

fn settings_with(
    settings: &mut rusqlite::CachedStatement<'_>,
    endpoint: &str,
    now_ms: i64,
) -> Result<ClaimedEndpoint> {
    Ok(settings.query_row(params![endpoint, now_ms], |r| {
        Ok(ClaimedEndpoint {
            endpoint_id: endpoint.to_owned(),
            url: r.get(0)?,
            headers: r.get(1)?,
            semantics: r.get(2)?,
            retry_policy: r.get(3)?,
            timeout_ms: r.get(4)?,
            active: r.get(5)?,
            max_in_flight: r.get(6)?,
            version: r.get(7)?,
            ack_timeout_secs: r.get(8)?,
            breaker_open: r.get(9)?,
            transform: r.get(10)?,
        })
    })?)
}

/// The endpoints with pending work, found by a skip-scan of the pending-only
/// index (one seek per endpoint). `indexed by` keeps every step on that
/// index: the planner would otherwise pick `deliveries_endpoint_idx` and scan
/// an endpoint's whole backlog.
macro_rules! endpoints_with_work {
    () => {
        r"with recursive
              endpoints_with_work(endpoint_id) as (
                  select (select min(endpoint_id) from deliveries indexed by deliveries_endpoint_due_idx
                          where state = 'pending')
                  union all
                  select (select min(endpoint_id) from deliveries indexed by deliveries_endpoint_due_idx
                          where state = 'pending' and endpoint_id > w.endpoint_id)
                  from endpoints_with_work w where w.endpoint_id is not null
              ) "
    };
}

/// Each endpoint with pending work: its tenant, its earliest due time and how
/// many more it may hold in flight. A disabled endpoint's deliveries wait
/// there until it is enabled; a deleted one's are claimed, to end dead (`?1` the default per-endpoint
/// concurrency, `?2` how many times that an endpoint may hold at once, `?3`
/// now). An endpoint whose circuit breaker is open waits until its probe
/// time; then (half-open) it may hold one delivery in flight, the probe.
/// An inbox's deliveries are its consumers' to lease, never claimed.
const READY_SQL: &str = concat!(
    endpoints_with_work!(),
    r"select w.endpoint_id, p.tenant_id,
             (select min(next_attempt_at) from deliveries d indexed by deliveries_endpoint_due_idx
              where d.state = 'pending' and d.endpoint_id = w.endpoint_id),
             case when p.breaker_state = 'open' then 1 else ?2 * coalesce(p.max_in_flight, ?1) end
               - (select count(*) from deliveries d indexed by deliveries_lease_idx
                  where d.state = 'in_flight' and d.endpoint_id = w.endpoint_id),
             p.rate_limit, p.rate_period_ms, t.tokens, t.counted_at
      from endpoints_with_work w join endpoints p on p.id = w.endpoint_id
      left join endpoint_tokens t on t.endpoint_id = p.id
      where (p.disabled_at is null or p.deleted_at is not null)
        and (p.kind = 'webhook' or p.deleted_at is not null)
        and (p.breaker_state = 'closed' or p.breaker_until <= ?3 or p.deleted_at is not null)"
);

/// The earliest due time of any pending delivery.
pub(super) const NEXT_DUE_SQL: &str = concat!(
    endpoints_with_work!(),
    r"select min((select min(next_attempt_at) from deliveries d indexed by deliveries_endpoint_due_idx
                  where d.state = 'pending' and d.endpoint_id = w.endpoint_id))
      from endpoints_with_work w where w.endpoint_id is not null"
);

/// An endpoint's (`?1`) due deliveries after the time `?2` and due by `?3`,
/// at most `?4`, in due order.
const DUE_LATER: &str = r"select rowid, next_attempt_at from deliveries indexed by deliveries_endpoint_due_idx
      where state = 'pending' and endpoint_id = ?1 and next_attempt_at > ?2 and next_attempt_at <= ?3
      order by next_attempt_at, rowid limit ?4";

/// An endpoint's (`?1`) deliveries due at `?2` after the rowid `?3`, at
/// most `?4`, in rowid order.
const DUE_SAME_TIME: &str = r"select rowid, next_attempt_at from deliveries indexed by deliveries_endpoint_due_idx
      where state = 'pending' and endpoint_id = ?1 and next_attempt_at = ?2 and rowid > ?3
      order by rowid limit ?4";

/// What sending one claimed delivery needs, by its rowid.
const CLAIMED_SQL: &str = r"select d.id, d.claim_token, d.event_id, d.attempts, d.attempts - d.chain_base,
                     d.first_attempt_at, d.chain_trigger, d.chain_reason,
                     e.event_type, e.payload, e.correlation_id, e.test, d.ack_timed_out,
                     (select j.transform from replay_jobs j where j.id = d.replay_id)
              from deliveries d join events e on e.id = d.event_id
              where d.rowid = ?1";

/// A claimed endpoint's delivery settings, by its id; `version` changes with
/// any change to the endpoint or its secrets.
const ENDPOINT_SQL: &str = r"select p.url, p.headers, p.semantics,
                     coalesce(rp.policy, p.retry_policy), p.timeout_ms,
                     (p.disabled_at is null and p.deleted_at is null), p.max_in_flight,
                     p.updated_at || '/' || coalesce((select group_concat(s.created_at || ':' || coalesce(s.expires_at, ''))
                                                      from endpoint_secrets s where s.endpoint_id = p.id), ''),
                     p.ack_timeout_secs, p.breaker_state = 'open' and p.breaker_until <= ?2, p.transform
              from endpoints p left join retry_policies rp on rp.id = p.retry_policy_id
              where p.id = ?1";
