-- Dead-letter handling, replays and checkpoints.

-- A delivery's current attempt chain: what started it (the schedule after
-- ingest, a person reprocessing it, or a replay), why, and how many attempts
-- came before it. The retry policy counts attempts and age within the chain, so
-- a reprocessed or replayed delivery gets its whole schedule again; the
-- delivery (and with it the webhook-id) stays the same.
alter table deliveries add column chain_trigger text not null default 'scheduled'
    check (chain_trigger in ('scheduled', 'manual', 'replay'));
alter table deliveries add column chain_reason text;
alter table deliveries add column chain_base integer not null default 0;
-- The replay job whose chain this is, while it is the latest one.
alter table deliveries add column replay_id text;
create index deliveries_replay_idx on deliveries (replay_id, state) where replay_id is not null;

-- DLQ filters without joins: the event's type and the last attempt's class.
alter table dlq_entries add column event_type text not null default '';
alter table dlq_entries add column error_class text;
update dlq_entries set
    event_type = coalesce((select e.event_type from events e where e.id = dlq_entries.event_id), ''),
    error_class = (select a.error_class from attempts a where a.id = dlq_entries.last_attempt_id);
create index dlq_endpoint_idx on dlq_entries (tenant_id, endpoint_id, id);

-- Who did what to a delivery by hand, and why: reprocess, discard, replay.
create table delivery_actions (
    id           text primary key,
    tenant_id    text not null references tenants (id) on delete cascade,
    delivery_id  text not null references deliveries (id) on delete cascade,
    action       text not null check (action in ('reprocess', 'discard', 'replay')),
    actor        text not null,
    reason       text not null default '',
    replay_id    text,
    created_at   integer not null
);
create index delivery_actions_delivery_idx on delivery_actions (delivery_id, created_at);

create table replay_jobs (
    id               text primary key,
    tenant_id        text not null references tenants (id) on delete cascade,
    state            text not null
        check (state in ('pending', 'running', 'paused', 'completed', 'cancelled', 'failed')),
    -- JSON: the filter as given.
    filter           text not null,
    reason           text not null default '',
    rate_per_second  real not null,
    -- Events are taken in sequence order from after start_seq up to end_seq
    -- (the newest event when the job was made: later events are not part of it).
    start_seq        integer not null,
    end_seq          integer not null,
    -- The last event taken; progress is saved with each step.
    cursor_seq       integer not null,
    total            integer not null,
    dispatched       integer not null default 0,
    deliveries       integer not null default 0,
    -- Deliver one event at a time, each after the previous one's deliveries ended.
    ordered          integer not null default 0,
    created_by       text not null,
    error            text,
    created_at       integer not null,
    started_at       integer,
    finished_at      integer,
    updated_at       integer not null
);
create index replay_jobs_tenant_idx on replay_jobs (tenant_id, id);
create index replay_jobs_active_idx on replay_jobs (state) where state in ('pending', 'running');

-- Named positions in a tenant's event sequence.
create table checkpoints (
    id           text primary key,
    tenant_id    text not null references tenants (id) on delete cascade,
    name         text not null,
    seq          integer not null,
    endpoint_id  text references endpoints (id) on delete cascade,
    created_by   text not null,
    created_at   integer not null
);
create unique index checkpoints_name_key on checkpoints (tenant_id, name);
create index checkpoints_tenant_idx on checkpoints (tenant_id, id);
