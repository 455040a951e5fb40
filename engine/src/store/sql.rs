//! SQL that every backend accepts, written once: select lists and statements
//! in the common dialect (`$n` parameters, `coalesce`, correlated subqueries,
//! `returning`). A statement that needs one database's own syntax (SQLite's
//! `json_each` for id lists, PostgreSQL's `unnest` or `for update skip
//! locked`) stays in that backend's files.

pub(crate) const USER_COLUMNS: &str =
    "id, email, role, tenant_id, created_at, last_login_at, locked_until";

pub(crate) const DLQ_ENTRY_SELECT: &str = r"select q.id, q.delivery_id, q.endpoint_id, p.url as endpoint_url, p.name as endpoint_name, q.event_id,
       q.event_type, q.reason, q.error_class, d.attempts, q.created_at,
       (select a.response_status from attempts a where a.id = q.last_attempt_id) as last_status
  from dlq_entries q
  join deliveries d on d.id = q.delivery_id
  join endpoints p on p.id = q.endpoint_id";

/// Starts a fresh attempt chain for a delivery (same id, so the same
/// `webhook-id`): due now, counted from zero by the retry policy; a delivery
/// of an ordered stream waits instead, to be armed in its turn. Returns its
/// endpoint and stream, for the arming.
pub(crate) const REARM_DELIVERY: &str = r"update deliveries
    set state = 'pending', next_attempt_at = case when stream is null then $1 end, lease_until = null,
        first_attempt_at = null, chain_trigger = $2, chain_reason = $3, chain_base = attempts, replay_id = $4,
        acked_at = null, ack_timed_out = 0, updated_at = $1
    where id = $5
    returning endpoint_id, stream";

/// The policy in force is the named one when the endpoint follows one.
pub(crate) const ENDPOINT_COLUMNS: &str = "id, url, description, event_types, headers, semantics, \
     coalesce((select rp.policy from retry_policies rp where rp.id = endpoints.retry_policy_id), retry_policy) as retry_policy, \
     retry_policy_id, timeout_ms, max_in_flight, ordering, on_dead, rate_limit, rate_period_ms, ack_timeout_secs, breaker_settings, breaker_state, breaker_until, breaker_opened_at, breaker_trips, breaker_failing_since, disabled_reason, disabled_at, created_at, updated_at, kind, name, filter, transform";

pub(crate) const EVENT_COLUMNS: &str = "id, seq, event_type, payload, idempotency_key, correlation_id, entity_id, metadata, received_at, ordering_key, expunged_at, schema_version, schema_problems, source";

/// One row of an event list, with its delivery counts: the select ends with
/// `where e.tenant_id = ` for the caller to bind and narrow.
pub(crate) const SUMMARY_SELECT: &str = r"select e.id, e.seq, e.event_type, e.correlation_id, e.entity_id, e.source, e.received_at,
       (select count(*) from deliveries d where d.event_id = e.id) as deliveries,
       (select count(*) from deliveries d where d.event_id = e.id and d.state = 'succeeded') as succeeded,
       (select count(*) from deliveries d where d.event_id = e.id and d.state = 'dead') as dead
  from events e where e.tenant_id = ";

pub(crate) const POLICY_COLUMNS: &str = "rp.id, rp.name, rp.description, rp.policy, \
     (select count(*) from endpoints e where e.retry_policy_id = rp.id and e.deleted_at is null) as endpoints, \
     rp.created_at, rp.updated_at";

pub(crate) const JOB_COLUMNS: &str = "id, tenant_id, state, filter, reason, rate_per_second, total, dispatched, deliveries, ordered, created_by, error, created_at, started_at, finished_at, updated_at, transform";

/// An event's deliveries (`$1`: the event).
pub(crate) const DELIVERIES_OF_EVENT: &str = "select id, endpoint_id, state, attempts, next_attempt_at, stream, acked_at from deliveries where event_id = $1 order by id";

/// Every attempt at an event's deliveries, in order (`$1`: the event).
pub(crate) const ATTEMPTS_OF_EVENT: &str = r"select a.id, a.delivery_id, a.attempt_no, a.trigger, a.started_at, a.latency_ms, a.request_headers,
         a.response_status, a.response_headers, a.response_excerpt, a.error_class, a.error_message
  from attempts a join deliveries d on d.id = a.delivery_id
  where d.event_id = $1 order by a.delivery_id, a.attempt_no";

/// What people did to an event's deliveries, oldest first (`$1`: the event).
pub(crate) const ACTIONS_OF_EVENT: &str = r"select a.delivery_id, a.action, a.actor, a.reason, a.replay_id, a.created_at
  from delivery_actions a join deliveries d on d.id = a.delivery_id
  where d.event_id = $1 order by a.created_at, a.id";

/// The `/metrics` gauges: deliveries due now (`$1`: now), scheduled later,
/// in flight, and waiting in ordered streams, from the table of live
/// deliveries `queue` (the last count's terms are those of
/// `deliveries_stream_idx`, which serves it).
pub(crate) fn gauge_deliveries(queue: &str) -> String {
    format!(
        r"select
      (select count(*) from {queue} where state = 'pending' and next_attempt_at <= $1),
      (select count(*) from {queue} where state = 'pending' and next_attempt_at > $1),
      (select count(*) from {queue} where state = 'in_flight'),
      (select count(*) from {queue} where stream is not null and state <> 'succeeded' and state <> 'dead'
                                      and next_attempt_at is null),
      (select count(*) from {queue} where state = 'awaiting_ack')"
    )
}

/// The `/metrics` gauges: the DLQ's size, endpoints enabled and disabled.
pub(crate) const GAUGE_QUEUES: &str = r"select
      (select count(*) from dlq_entries),
      (select count(*) from endpoints where deleted_at is null and disabled_at is null),
      (select count(*) from endpoints where deleted_at is null and disabled_at is not null)";

/// The `/metrics` gauges: replay jobs running or paused, with their progress.
pub(crate) const GAUGE_REPLAYS: &str = "select id, state, dispatched, total from replay_jobs where state in ('running', 'paused') order by id";
