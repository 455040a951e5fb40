//! SQLite: replays (one event, or a filtered range as a durable job) and
//! checkpoints.
//!
//! Replaying re-arms the event's delivery to each target endpoint — the same
//! delivery, so receivers see the same `webhook-id` — or creates it when the
//! endpoint had none (an endpoint registered after the event). A job takes
//! events in sequence order and saves its cursor in the same transaction that
//! arms their deliveries, so a restarted server resumes exactly where it was.

use std::cell::OnceCell;
use std::collections::BTreeSet;

use async_trait::async_trait;

use super::This;
use super::{Db, DbConnection};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, QueryBuilder};

use super::Conditions;
use super::audit::{commit_audited, insert_audit};
use super::dlq::record_action;
use crate::model::{
    DeliveryId, EndpointId, EventId, Page, ReplayFilter, ReplayId, ReplayOut, ReplayPreview,
    ReplayState, ReplayedDelivery, TenantId,
};
use crate::store::convert::{count, from_json, json_text};
use crate::store::rows::{JobRow, SummaryRow};
use crate::store::sql::{JOB_COLUMNS, REARM_DELIVERY, SUMMARY_SELECT};
use crate::store::{
    Actor, AuditWith, EventSummary, NewAudit, NewReplay, ReplayStep, stored_id, to_millis,
};
use crate::{EngineError, Result};

use super::replay_targets::{active_endpoints, stored_document};

/// Events a dry run shows.
const SAMPLE: i64 = 10;

/// Whether the tenant has this endpoint (enabled or not), deleted ones aside.
async fn endpoint_exists(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "select cast(1 as bigint) from endpoints where tenant_id = $1 and id = $2 and deleted_at is null",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.is_some())
}

/// What re-arming one (event, endpoint) pair did.
enum Armed {
    Queued(String),
    /// An attempt is on the wire right now; it is left alone.
    InFlight(String),
}

/// Arms the event's delivery to one endpoint for a new chain.
async fn arm(
    conn: &mut DbConnection,
    (tenant, event, endpoint): (&str, &str, &str),
    (trigger, reason, replay): (&str, &str, Option<&str>),
    now_ms: i64,
) -> Result<Armed> {
    let existing: Option<(String, String)> =
        sqlx::query_as("select id, state from deliveries where event_id = $1 and endpoint_id = $2")
            .bind(event)
            .bind(endpoint)
            .fetch_optional(&mut *conn)
            .await?;
    let (id, stream) = match existing {
        Some((id, state)) if state == "in_flight" => return Ok(Armed::InFlight(id)),
        Some((id, _)) => {
            let (_, stream): (String, Option<String>) = sqlx::query_as(REARM_DELIVERY)
                .bind(now_ms)
                .bind(trigger)
                .bind(reason)
                .bind(replay)
                .bind(&id)
                .fetch_one(&mut *conn)
                .await?;
            // A dead delivery that is tried again leaves the DLQ; it returns
            // there if this chain fails too.
            let removed: Option<(String, String)> = sqlx::query_as(
                "delete from dlq_entries where delivery_id = $1 returning endpoint_id, event_type",
            )
            .bind(&id)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some((endpoint, event_type)) = removed {
                super::stats::count_dlq_removal(conn, (tenant, &endpoint, &event_type), now_ms)
                    .await?;
            }
            (id, stream)
        }
        None => {
            // A delivery to an endpoint that did not exist when the event
            // came: it joins the stream the endpoint's ordering gives it.
            let id = DeliveryId::new().to_string();
            let stream: Option<String> = sqlx::query_scalar(
                r"insert into deliveries (id, tenant_id, event_id, endpoint_id, state, next_attempt_at,
                                          chain_trigger, chain_reason, replay_id, created_at, updated_at,
                                          stream, stream_seq)
                  select $1, $2, $3, $4, 'pending', case when s.stream is null then $5 end, $6, $7, $8, $5, $5,
                         s.stream, case when s.stream is not null then s.seq end
                  from (select case p.ordering when 'endpoint' then ''
                                               when 'key' then coalesce(e.ordering_key, e.entity_id) end as stream,
                               e.seq
                        from endpoints p, events e where p.id = $4 and e.id = $3) as s
                  returning stream",
            )
            .bind(&id)
            .bind(tenant)
            .bind(event)
            .bind(endpoint)
            .bind(now_ms)
            .bind(trigger)
            .bind(reason)
            .bind(replay)
            .fetch_one(&mut *conn)
            .await?;
            (id, stream)
        }
    };
    // A delivery of an ordered stream waits for its turn (its own stream's
    // order is the events' order, replayed or not).
    if let Some(stream) = stream {
        let stream = BTreeSet::from([(endpoint.to_owned(), stream)]);
        super::advance_streams_on(conn, &stream, now_ms).await?;
    }
    Ok(Armed::Queued(id))
}

/// `where` clauses of a job's filter over `events e`, after `tenant_id = …`.
fn push_event_filter(q: &mut QueryBuilder<'_, Db>, filter: &ReplayFilter) {
    // An expunged event's payload is gone: there is nothing to send again.
    q.push(" and e.expunged_at is null");
    if !filter.event_types.is_empty() {
        q.push(" and e.event_type in (");
        let mut list = q.separated(", ");
        for t in &filter.event_types {
            list.push_bind(t.clone());
        }
        q.push(")");
    }
    Conditions(q)
        .eq("e.correlation_id", filter.correlation_id.clone())
        .eq("e.entity_id", filter.entity_id.clone())
        .eq("e.source", filter.source.clone())
        .between("e.received_at", filter.from, filter.to);
    if filter.only_failed {
        q.push(
            " and exists (select 1 from deliveries d where d.event_id = e.id and d.state = 'dead'",
        );
        if let Some(ep) = filter.endpoint_id {
            q.push(" and d.endpoint_id = ").push_bind(ep.to_string());
        }
        q.push(")");
    }
}

/// The sequence range a job scans: after `start`, up to `end` inclusive.
async fn seq_range(
    conn: &mut DbConnection,
    tenant: &str,
    filter: &ReplayFilter,
) -> Result<(i64, i64)> {
    let end: i64 =
        sqlx::query_scalar("select coalesce(max(seq), 0) from events where tenant_id = $1")
            .bind(tenant)
            .fetch_one(&mut *conn)
            .await?;
    let mut start = 0;
    if let Some(checkpoint) = filter.after_checkpoint {
        start = sqlx::query_scalar("select seq from checkpoints where tenant_id = $1 and id = $2")
            .bind(tenant)
            .bind(checkpoint.to_string())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| {
                EngineError::invalid(
                    "filter.after_checkpoint",
                    format!("no checkpoint {checkpoint}"),
                )
            })?;
    }
    if let Some(from) = filter.from {
        // Event ids are ULIDs made after the event was received, in sequence
        // order: the first id at or after `from`'s instant bounds the scan
        // without reading older events (events_tenant_idx).
        let bound = format!(
            "{}{}",
            EventId::PREFIX,
            ulid::Ulid::from_parts(u64::try_from(to_millis(from)).unwrap_or(0), 0)
        );
        let first: Option<i64> =
            sqlx::query_scalar("select min(seq) from events where tenant_id = $1 and id >= $2")
                .bind(tenant)
                .bind(bound)
                .fetch_one(&mut *conn)
                .await?;
        start = start.max(first.map_or(end, |s| s - 1));
    }
    Ok((start, end))
}

impl This {
    async fn replay_out(&self, row: JobRow) -> Result<ReplayOut> {
        let states: Vec<(String, i64)> = sqlx::query_as(
            "select state, count(*) from deliveries where replay_id = $1 group by state",
        )
        .bind(&row.id)
        .fetch_all(self.reader())
        .await?;
        row.into_out(&states)
    }
}

#[async_trait]
impl crate::store::ReplayStore for This {
    #[allow(clippy::too_many_arguments)] // the row's inputs and the audit entry
    async fn replay_event(
        &self,
        tenant: TenantId,
        event: EventId,
        endpoints: Option<&[EndpointId]>,
        actor: &Actor,
        reason: &str,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, Vec<ReplayedDelivery>>,
    ) -> Result<Option<Vec<ReplayedDelivery>>> {
        let tenant_text = tenant.to_string();
        let event_text = event.to_string();
        let now_ms = to_millis(now);
        let mut tx = self.pool().begin().await?;
        #[allow(clippy::type_complexity)]
        let found: Option<(String, Option<i64>, String, Option<String>, Option<String>)> =
            sqlx::query_as(
                "select event_type, expunged_at, payload, source, metadata from events where tenant_id = $1 and id = $2",
            )
            .bind(&tenant_text)
            .bind(&event_text)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((event_type, expunged, payload, source, metadata)) = found else {
            return Ok(None);
        };
        if expunged.is_some() {
            return Err(EngineError::Conflict {
                message: format!(
                    "event '{event}' was expunged: its payload is gone, so it cannot be sent again"
                ),
            });
        }
        let active = active_endpoints(&mut tx, &tenant_text).await?;
        let targets: Vec<String> = match endpoints {
            Some(chosen) => {
                let mut targets = Vec::new();
                for (i, ep) in chosen.iter().enumerate() {
                    let id = ep.to_string();
                    if !active.iter().any(|a| a.id == id) {
                        return Err(if endpoint_exists(&mut tx, &tenant_text, &id).await? {
                            EngineError::Conflict {
                                message: format!(
                                    "endpoint_ids[{i}]: endpoint '{ep}' is disabled; enable it first"
                                ),
                            }
                        } else {
                            EngineError::not_found("endpoint", ep)
                        });
                    }
                    if !targets.contains(&id) {
                        targets.push(id);
                    }
                }
                targets
            }
            None => {
                let doc = OnceCell::new();
                let make = || {
                    stored_document(
                        &event_type,
                        &payload,
                        source.as_deref(),
                        metadata.as_deref(),
                    )
                };
                active
                    .into_iter()
                    .filter(|t| t.takes(&event_type, &doc, &make))
                    .map(|t| t.id)
                    .collect()
            }
        };
        let mut out = Vec::with_capacity(targets.len());
        for endpoint in targets {
            let armed = arm(
                &mut tx,
                (&tenant_text, &event_text, &endpoint),
                ("replay", reason, None),
                now_ms,
            )
            .await?;
            let (delivery, status, why) = match armed {
                Armed::Queued(id) => {
                    record_action(
                        &mut tx,
                        (&tenant_text, &id),
                        "replay",
                        actor,
                        reason,
                        None,
                        now_ms,
                    )
                    .await?;
                    (id, "queued", None)
                }
                Armed::InFlight(id) => (
                    id,
                    "skipped",
                    Some("an attempt is under way right now".to_owned()),
                ),
            };
            out.push(ReplayedDelivery {
                delivery_id: stored_id(&delivery)?,
                endpoint_id: stored_id(&endpoint)?,
                status: status.into(),
                why,
            });
        }
        if let Some(entry) = audit(&out) {
            insert_audit(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(Some(out))
    }

    async fn replay_preview(
        &self,
        tenant: TenantId,
        filter: &ReplayFilter,
        max_events: Option<u64>,
    ) -> Result<ReplayPreview> {
        let tenant_text = tenant.to_string();
        let mut conn = self.reader().acquire().await?;
        let (start, end) = seq_range(&mut conn, &tenant_text, filter).await?;
        let cap = max_events.map_or(i64::MAX, |m| i64::try_from(m).unwrap_or(i64::MAX));
        let mut q = QueryBuilder::<Db>::new(
            "select count(*) from (select 1 from events e where e.tenant_id = ",
        );
        q.push_bind(&tenant_text)
            .push(" and e.seq > ")
            .push_bind(start)
            .push(" and e.seq <= ")
            .push_bind(end);
        push_event_filter(&mut q, filter);
        q.push(" limit ").push_bind(cap).push(") as matching");
        let total: i64 = q.build_query_scalar().fetch_one(&mut *conn).await?;

        let mut q = QueryBuilder::<Db>::new(SUMMARY_SELECT);
        q.push_bind(&tenant_text)
            .push(" and e.seq > ")
            .push_bind(start)
            .push(" and e.seq <= ")
            .push_bind(end);
        push_event_filter(&mut q, filter);
        q.push(" order by e.seq limit ").push_bind(SAMPLE.min(cap));
        let sample = q
            .build_query_as::<SummaryRow>()
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(EventSummary::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(ReplayPreview {
            total: count(total),
            sample,
        })
    }

    async fn create_replay(
        &self,
        tenant: TenantId,
        replay: NewReplay,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, ReplayPreview>,
    ) -> Result<ReplayOut> {
        let preview = self
            .replay_preview(tenant, &replay.filter, replay.max_events)
            .await?;
        let tenant_text = tenant.to_string();
        let now_ms = to_millis(now);
        let id = replay.id;
        let mut tx = self.pool().begin().await?;
        let (start, end) = seq_range(&mut tx, &tenant_text, &replay.filter).await?;
        let ordered = replay.filter.is_ordered();
        sqlx::query(
            r"insert into replay_jobs (id, tenant_id, state, filter, reason, rate_per_second, start_seq, end_seq,
                                       cursor_seq, total, ordered, created_by, created_at, updated_at, transform)
              values ($1, $2, 'pending', $3, $4, $5, $6, $7, $6, $8, $9, $10, $11, $11, $12)",
        )
        .bind(id.to_string())
        .bind(&tenant_text)
        .bind(json_text(&replay.filter)?)
        .bind(&replay.reason)
        .bind(replay.rate_per_second)
        .bind(start)
        .bind(end)
        .bind(i64::try_from(preview.total).unwrap_or(i64::MAX))
        .bind(ordered)
        .bind(&replay.actor.0)
        .bind(now_ms)
        .bind(&replay.transform)
        .execute(&mut *tx)
        .await?;
        if let Some(entry) = audit(&preview) {
            insert_audit(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        self.get_replay(Some(tenant), id)
            .await?
            .ok_or_else(|| EngineError::Internal("a new replay vanished".into()))
    }

    async fn get_replay(
        &self,
        tenant: Option<TenantId>,
        id: ReplayId,
    ) -> Result<Option<ReplayOut>> {
        let row = sqlx::query_as::<_, JobRow>(&format!(
            "select {JOB_COLUMNS} from replay_jobs where ($1 is null or tenant_id = $1) and id = $2"
        ))
        .bind(tenant.map(|t| t.to_string()))
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await?;
        match row {
            Some(row) => Ok(Some(self.replay_out(row).await?)),
            None => Ok(None),
        }
    }

    async fn list_replays(
        &self,
        tenant: TenantId,
        before: Option<ReplayId>,
        limit: u32,
    ) -> Result<Page<ReplayOut>> {
        let rows = sqlx::query_as::<_, JobRow>(&format!(
            r"select {JOB_COLUMNS} from replay_jobs where tenant_id = $1 and ($2 is null or id < $2)
              order by id desc limit $3"
        ))
        .bind(tenant.to_string())
        .bind(before.map(|b| b.to_string()))
        .bind(i64::from(limit) + 1)
        .fetch_all(self.reader())
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(self.replay_out(row).await?);
        }
        Ok(crate::store::page_of(items, limit, |r| r.id.to_string()))
    }

    /// Moves a job from one of `from` to `to`; false when it was in none of them.
    #[allow(clippy::too_many_arguments)] // the row's inputs and the audit entry
    async fn set_replay_state(
        &self,
        tenant: Option<TenantId>,
        id: ReplayId,
        from: &[ReplayState],
        to: ReplayState,
        error: Option<&str>,
        now: DateTime<Utc>,
        audit: Option<&NewAudit>,
    ) -> Result<bool> {
        let now_ms = to_millis(now);
        let mut q = QueryBuilder::<Db>::new("update replay_jobs set state = ");
        q.push_bind(to.as_str())
            .push(", updated_at = ")
            .push_bind(now_ms);
        if to == ReplayState::Running {
            q.push(", started_at = coalesce(started_at, ")
                .push_bind(now_ms)
                .push(")");
        }
        if to.is_final() {
            q.push(", finished_at = ").push_bind(now_ms);
        }
        if let Some(error) = error {
            q.push(", error = ").push_bind(error.to_owned());
        }
        q.push(" where id = ").push_bind(id.to_string());
        if let Some(tenant) = tenant {
            q.push(" and tenant_id = ").push_bind(tenant.to_string());
        }
        q.push(" and state in (");
        let mut list = q.separated(", ");
        for state in from {
            list.push_bind(state.as_str());
        }
        q.push(")");
        let mut tx = self.pool().begin().await?;
        let done = q.build().execute(&mut *tx).await?;
        commit_audited(tx, done.rows_affected() == 1, audit).await
    }

    async fn active_replays(&self) -> Result<Vec<(ReplayId, ReplayState)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select id, state from replay_jobs where state in ('pending', 'running') order by id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.into_iter()
            .map(|(id, state)| {
                Ok((
                    stored_id(&id)?,
                    ReplayState::parse(&state).unwrap_or(ReplayState::Failed),
                ))
            })
            .collect()
    }

    async fn lease_replays(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(ReplayId, ReplayState)>> {
        // Under PostgreSQL's read committed, a node whose update waited for
        // another's tests the condition again on the row that one wrote, so
        // two nodes never both take a job.
        let single_node = crate::store::Store::capabilities(self).single_node;
        let rows: Vec<(String, String)> = sqlx::query_as(
            r"update replay_jobs set lease_owner = $1, lease_until = $2
              where state in ('pending', 'running')
                and ($4 or lease_owner is null or lease_owner = $1 or lease_until < $3)
              returning id, state",
        )
        .bind(&self.node)
        .bind(to_millis(until))
        .bind(to_millis(now))
        .bind(single_node)
        .fetch_all(self.pool())
        .await?;
        let mut leased = rows
            .into_iter()
            .map(|(id, state)| {
                Ok((
                    stored_id(&id)?,
                    ReplayState::parse(&state).unwrap_or(ReplayState::Failed),
                ))
            })
            .collect::<Result<Vec<(ReplayId, ReplayState)>>>()?;
        leased.sort_by_key(|(id, _)| *id);
        Ok(leased)
    }

    async fn replay_step(
        &self,
        id: ReplayId,
        max_events: u32,
        now: DateTime<Utc>,
    ) -> Result<ReplayStep> {
        let now_ms = to_millis(now);
        let id_text = id.to_string();
        let mut tx = self.pool().begin().await?;
        #[derive(FromRow)]
        struct Row {
            tenant_id: String,
            state: String,
            filter: String,
            reason: String,
            end_seq: i64,
            cursor_seq: i64,
            total: i64,
            dispatched: i64,
            lease_owner: Option<String>,
        }
        let Some(job) = sqlx::query_as::<_, Row>(
            "select tenant_id, state, filter, reason, end_seq, cursor_seq, total, dispatched, lease_owner from replay_jobs where id = $1",
        )
        .bind(&id_text)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Err(EngineError::not_found("replay", id));
        };
        if job.state != "running" || job.lease_owner.as_deref() != Some(self.node.as_str()) {
            return Ok(ReplayStep {
                events: 0,
                deliveries: 0,
                scan_done: false,
                running: false,
            });
        }
        let filter: ReplayFilter = from_json(&job.filter, "replay filter")?;
        let want = i64::from(max_events).min(job.total - job.dispatched).max(0);
        let mut q = QueryBuilder::<Db>::new(
            "select e.id, e.seq, e.event_type, e.payload, e.source, e.metadata from events e where e.tenant_id = ",
        );
        q.push_bind(&job.tenant_id)
            .push(" and e.seq > ")
            .push_bind(job.cursor_seq)
            .push(" and e.seq <= ")
            .push_bind(job.end_seq);
        push_event_filter(&mut q, &filter);
        q.push(" order by e.seq limit ").push_bind(want);
        #[allow(clippy::type_complexity)]
        let events: Vec<(String, i64, String, String, Option<String>, Option<String>)> = if want > 0
        {
            q.build_query_as().fetch_all(&mut *tx).await?
        } else {
            Vec::new()
        };

        let endpoints = active_endpoints(&mut tx, &job.tenant_id).await?;
        let only = filter.endpoint_id.map(|e| e.to_string());
        let mut deliveries = 0i64;
        for (event, _, event_type, payload, source, metadata) in &events {
            // Read once per event, and only when an endpoint's filter asks.
            let doc = OnceCell::new();
            let make =
                || stored_document(event_type, payload, source.as_deref(), metadata.as_deref());
            for target in &endpoints {
                let endpoint = &target.id;
                if only.as_ref().is_some_and(|o| o != endpoint)
                    || !target.takes(event_type, &doc, &make)
                {
                    continue;
                }
                if filter.only_failed {
                    let dead: Option<i64> = sqlx::query_scalar(
                        "select cast(1 as bigint) from deliveries where event_id = $1 and endpoint_id = $2 and state = 'dead'",
                    )
                    .bind(event)
                    .bind(endpoint)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if dead.is_none() {
                        continue;
                    }
                }
                let armed = arm(
                    &mut tx,
                    (&job.tenant_id, event, endpoint),
                    ("replay", &job.reason, Some(&id_text)),
                    now_ms,
                )
                .await?;
                if let Armed::Queued(_) = armed {
                    deliveries += 1;
                }
            }
        }
        let taken = i64::try_from(events.len()).unwrap_or(0);
        let scan_done = taken < want || job.dispatched + taken >= job.total;
        let cursor = if scan_done {
            job.end_seq
        } else {
            events.last().map_or(job.cursor_seq, |(_, seq, ..)| *seq)
        };
        // When the scan ends early (only_failed events that were delivered in
        // the meantime), the total becomes what was actually replayed. The
        // cursor moves only if this node still holds the job from where this
        // step read it: a node that lost its lease meanwhile (cut off, and
        // another took the job over) leaves the job to its new owner.
        let saved = sqlx::query(
            r"update replay_jobs set cursor_seq = $1, dispatched = dispatched + $2, deliveries = deliveries + $3,
                     total = case when $4 then dispatched + $2 else total end, updated_at = $5
              where id = $6 and lease_owner = $7 and cursor_seq = $8 and state = 'running'",
        )
        .bind(cursor)
        .bind(taken)
        .bind(deliveries)
        .bind(scan_done)
        .bind(now_ms)
        .bind(&id_text)
        .bind(&self.node)
        .bind(job.cursor_seq)
        .execute(&mut *tx)
        .await?;
        if saved.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(ReplayStep {
                events: 0,
                deliveries: 0,
                scan_done: false,
                running: false,
            });
        }
        tx.commit().await?;
        Ok(ReplayStep {
            events: u32::try_from(taken).unwrap_or(0),
            deliveries: u32::try_from(deliveries).unwrap_or(0),
            scan_done,
            running: true,
        })
    }
}
