-- The delivery domain: endpoints and their secrets, events, deliveries (the
-- outbox: one row per event x endpoint), attempts (immutable receipts) and the
-- dead-letter queue.

create table endpoints (
    id               text primary key,
    tenant_id        text not null references tenants (id) on delete cascade,
    url              text not null,
    description      text not null default '',
    -- JSON array of subscription patterns (`order.*`, `*`).
    event_types      text not null,
    -- JSON object of custom header names to values.
    headers          text not null default '{}',
    semantics        text not null default 'at_least_once' check (semantics in ('at_least_once', 'at_most_once')),
    -- JSON retry policy (engine/src/retry.rs).
    retry_policy     text not null,
    timeout_ms       integer not null,
    disabled_at      integer,
    disabled_reason  text,
    created_at       integer not null,
    updated_at       integer not null,
    -- Deleted endpoints stay, so receipts keep what they point at.
    deleted_at       integer
);
create index endpoints_tenant_idx on endpoints (tenant_id, id) where deleted_at is null;

create table endpoint_secrets (
    endpoint_id  text not null references endpoints (id) on delete cascade,
    secret       text not null,
    created_at   integer not null,
    -- Null for the current secret; set on a rotated-out one until its grace ends.
    expires_at   integer,
    primary key (endpoint_id, created_at)
);

-- Per-tenant event sequence numbers, handed out inside the ingest transaction.
create table tenant_sequences (
    tenant_id  text primary key references tenants (id) on delete cascade,
    last_seq   integer not null
);

create table events (
    id               text primary key,
    tenant_id        text not null references tenants (id) on delete cascade,
    seq              integer not null,
    event_type       text not null,
    payload          text not null,
    payload_sha256   text not null,
    idempotency_key  text,
    correlation_id   text,
    entity_id        text,
    metadata         text,
    received_at      integer not null
);
create unique index events_seq_key on events (tenant_id, seq);
create unique index events_idempotency_key on events (tenant_id, idempotency_key) where idempotency_key is not null;
-- Event lists: newest first by id (ids are time-ordered), optionally by type.
create index events_tenant_idx on events (tenant_id, id);
create index events_type_idx on events (tenant_id, event_type, id);
create index events_correlation_idx on events (tenant_id, correlation_id) where correlation_id is not null;
create index events_entity_idx on events (tenant_id, entity_id, seq) where entity_id is not null;
create index events_payload_idx on events (tenant_id, payload_sha256, received_at);

create table deliveries (
    -- The `webhook-id`: stable for the delivery's whole life.
    id                text primary key,
    tenant_id         text not null references tenants (id) on delete cascade,
    event_id          text not null references events (id) on delete cascade,
    endpoint_id       text not null references endpoints (id) on delete cascade,
    state             text not null check (state in ('pending', 'in_flight', 'succeeded', 'dead')),
    attempts          integer not null default 0,
    -- When a pending delivery is due.
    next_attempt_at   integer,
    -- While in flight: the claim expires then, and the delivery is reclaimed.
    lease_until       integer,
    first_attempt_at  integer,
    created_at        integer not null,
    updated_at        integer not null,
    unique (event_id, endpoint_id)
);
-- The dispatcher's claim: due pending deliveries, oldest due first.
create index deliveries_due_idx on deliveries (next_attempt_at) where state = 'pending';
-- Reclaiming expired leases after a crash.
create index deliveries_lease_idx on deliveries (lease_until) where state = 'in_flight';
create index deliveries_endpoint_idx on deliveries (endpoint_id, state);

create table attempts (
    id                text primary key,
    delivery_id       text not null references deliveries (id) on delete cascade,
    attempt_no        integer not null,
    trigger           text not null check (trigger in ('scheduled', 'manual', 'replay')),
    started_at        integer not null,
    latency_ms        integer not null,
    -- JSON object; secret header values are redacted before they get here.
    request_headers   text not null,
    response_status   integer,
    response_headers  text not null default '{}',
    response_excerpt  text not null default '',
    error_class       text,
    error_message     text
);
create index attempts_delivery_idx on attempts (delivery_id, attempt_no);

create table dlq_entries (
    id               text primary key,
    tenant_id        text not null references tenants (id) on delete cascade,
    delivery_id      text not null unique references deliveries (id) on delete cascade,
    endpoint_id      text not null,
    event_id         text not null,
    reason           text not null,
    last_attempt_id  text references attempts (id),
    created_at       integer not null
);
create index dlq_tenant_idx on dlq_entries (tenant_id, id);
