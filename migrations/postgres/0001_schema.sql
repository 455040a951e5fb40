-- Herald on PostgreSQL: the schema SQLite reaches through its migrations
-- 0001-0012, in one step. Every column has the type the shared rows decode
-- (engine/src/store/rows.rs): ids, enum values and JSON as text, times as
-- milliseconds since the epoch in bigint, counts in bigint. Text compares and
-- sorts byte by byte (`collate "C"`), as in SQLite, so ids (ULIDs) page in the
-- same order on both backends.

create table tenants (
    id                       text collate "C" primary key,
    slug                     text collate "C" not null unique,
    name                     text collate "C" not null,
    created_at               bigint not null,
    payload_dedup_window_ms  bigint
);

create table users (
    id             text collate "C" primary key,
    email          text collate "C" not null,
    password_hash  text collate "C" not null,
    role           text collate "C" not null check (role in ('admin', 'operator', 'support', 'developer', 'viewer')),
    created_at     bigint not null,
    last_login_at  bigint,
    tenant_id      text collate "C" references tenants (id) on delete cascade,
    failed_logins  bigint not null default 0,
    locked_until   bigint
);
create unique index users_email_key on users (email);

create table sessions (
    id            text collate "C" primary key,
    token_digest  text collate "C" not null unique,
    user_id       text collate "C" not null references users (id) on delete cascade,
    created_at    bigint not null,
    expires_at    bigint not null
);
create index sessions_user_idx on sessions (user_id);
create index sessions_expiry_idx on sessions (expires_at);

create table login_failures (
    user_id         text collate "C" not null references users (id) on delete cascade,
    client          text collate "C" not null,
    failures        bigint not null,
    last_failed_at  bigint not null,
    locked_until    bigint,
    primary key (user_id, client)
);

create table api_keys (
    id              text collate "C" primary key,
    tenant_id       text collate "C" not null references tenants (id) on delete cascade,
    name            text collate "C" not null,
    display_prefix  text collate "C" not null,
    key_digest      text collate "C" not null unique,
    scope           text collate "C" not null check (scope in ('ingest', 'read', 'manage', 'all')),
    created_at      bigint not null,
    last_used_at    bigint,
    revoked_at      bigint
);
create index api_keys_tenant_idx on api_keys (tenant_id, id);

create table retry_policies (
    id           text collate "C" primary key,
    tenant_id    text collate "C" not null references tenants (id) on delete cascade,
    name         text collate "C" not null,
    description  text collate "C" not null default '',
    policy       text collate "C" not null,
    created_at   bigint not null,
    updated_at   bigint not null
);
create unique index retry_policies_name_key on retry_policies (tenant_id, name);
create index retry_policies_tenant_idx on retry_policies (tenant_id, id);

create table endpoints (
    id               text collate "C" primary key,
    tenant_id        text collate "C" not null references tenants (id) on delete cascade,
    url              text collate "C" not null,
    description      text collate "C" not null default '',
    event_types      text collate "C" not null,
    headers          text collate "C" not null default '{}',
    semantics        text collate "C" not null default 'at_least_once' check (semantics in ('at_least_once', 'at_most_once')),
    retry_policy     text collate "C" not null,
    timeout_ms       bigint not null,
    disabled_at      bigint,
    disabled_reason  text collate "C",
    created_at       bigint not null,
    updated_at       bigint not null,
    deleted_at       bigint,
    retry_policy_id  text collate "C" references retry_policies (id),
    max_in_flight    bigint check (max_in_flight is null or max_in_flight between 1 and 256)
);
create index endpoints_tenant_idx on endpoints (tenant_id, id) where deleted_at is null;
create index endpoints_retry_policy_idx on endpoints (retry_policy_id) where retry_policy_id is not null;

create table endpoint_secrets (
    endpoint_id  text collate "C" not null references endpoints (id) on delete cascade,
    secret       text collate "C" not null,
    created_at   bigint not null,
    expires_at   bigint,
    primary key (endpoint_id, created_at)
);

create table tenant_sequences (
    tenant_id  text collate "C" primary key references tenants (id) on delete cascade,
    last_seq   bigint not null
);

create table events (
    id               text collate "C" primary key,
    tenant_id        text collate "C" not null references tenants (id) on delete cascade,
    seq              bigint not null,
    event_type       text collate "C" not null,
    payload          text collate "C" not null,
    payload_sha256   text collate "C" not null,
    idempotency_key  text collate "C",
    correlation_id   text collate "C",
    entity_id        text collate "C",
    metadata         text collate "C",
    received_at      bigint not null,
    test             boolean not null default false
);
create unique index events_seq_key on events (tenant_id, seq);
create unique index events_idempotency_key on events (tenant_id, idempotency_key) where idempotency_key is not null;
create index events_tenant_idx on events (tenant_id, id);
create index events_type_idx on events (tenant_id, event_type, id);
create index events_entity_idx on events (tenant_id, entity_id, seq) where entity_id is not null;
create index events_dedup_idx on events (tenant_id, payload_sha256, event_type, received_at) where payload_sha256 <> '';
create index events_correlation_idx on events (tenant_id, correlation_id, id) where correlation_id is not null;

create table event_type_stats (
    tenant_id     text collate "C" not null references tenants (id) on delete cascade,
    event_type    text collate "C" not null,
    events        bigint not null,
    last_seen_at  bigint not null,
    primary key (tenant_id, event_type)
);

create table deliveries (
    id                text collate "C" primary key,
    tenant_id         text collate "C" not null references tenants (id) on delete cascade,
    event_id          text collate "C" not null references events (id) on delete cascade,
    endpoint_id       text collate "C" not null references endpoints (id) on delete cascade,
    state             text collate "C" not null check (state in ('pending', 'in_flight', 'succeeded', 'dead')),
    attempts          bigint not null default 0,
    next_attempt_at   bigint,
    lease_until       bigint,
    first_attempt_at  bigint,
    created_at        bigint not null,
    updated_at        bigint not null,
    chain_trigger     text collate "C" not null default 'scheduled' check (chain_trigger in ('scheduled', 'manual', 'replay')),
    chain_reason      text collate "C",
    chain_base        bigint not null default 0,
    replay_id         text collate "C",
    claim_token       bigint not null default 0,
    unique (event_id, endpoint_id)
);
create index deliveries_replay_idx on deliveries (replay_id, state) where replay_id is not null;
create index deliveries_endpoint_due_idx on deliveries (endpoint_id, next_attempt_at) where state = 'pending';
create index deliveries_lease_idx on deliveries (endpoint_id, lease_until) where state = 'in_flight';
create index deliveries_endpoint_idx on deliveries (endpoint_id, state) where state <> 'succeeded';

create table attempts (
    id                text collate "C" primary key,
    delivery_id       text collate "C" not null references deliveries (id) on delete cascade,
    attempt_no        bigint not null,
    trigger           text collate "C" not null check (trigger in ('scheduled', 'manual', 'replay')),
    started_at        bigint not null,
    latency_ms        bigint not null,
    request_headers   text collate "C" not null,
    response_status   bigint,
    response_headers  text collate "C" not null default '{}',
    response_excerpt  text collate "C" not null default '',
    error_class       text collate "C",
    error_message     text collate "C"
);
create index attempts_delivery_idx on attempts (delivery_id, attempt_no);

create table dlq_entries (
    id               text collate "C" primary key,
    tenant_id        text collate "C" not null references tenants (id) on delete cascade,
    delivery_id      text collate "C" not null unique references deliveries (id) on delete cascade,
    endpoint_id      text collate "C" not null,
    event_id         text collate "C" not null,
    reason           text collate "C" not null,
    last_attempt_id  text collate "C" references attempts (id),
    created_at       bigint not null,
    event_type       text collate "C" not null default '',
    error_class      text collate "C"
);
create index dlq_tenant_idx on dlq_entries (tenant_id, id);
create index dlq_endpoint_idx on dlq_entries (tenant_id, endpoint_id, id);

create table delivery_actions (
    id           text collate "C" primary key,
    tenant_id    text collate "C" not null references tenants (id) on delete cascade,
    delivery_id  text collate "C" not null references deliveries (id) on delete cascade,
    action       text collate "C" not null check (action in ('reprocess', 'discard', 'replay')),
    actor        text collate "C" not null,
    reason       text collate "C" not null default '',
    replay_id    text collate "C",
    created_at   bigint not null
);
create index delivery_actions_delivery_idx on delivery_actions (delivery_id, created_at);

create table replay_jobs (
    id               text collate "C" primary key,
    tenant_id        text collate "C" not null references tenants (id) on delete cascade,
    state            text collate "C" not null
        check (state in ('pending', 'running', 'paused', 'completed', 'cancelled', 'failed')),
    filter           text collate "C" not null,
    reason           text collate "C" not null default '',
    rate_per_second  double precision not null,
    start_seq        bigint not null,
    end_seq          bigint not null,
    cursor_seq       bigint not null,
    total            bigint not null,
    dispatched       bigint not null default 0,
    deliveries       bigint not null default 0,
    ordered          boolean not null default false,
    created_by       text collate "C" not null,
    error            text collate "C",
    created_at       bigint not null,
    started_at       bigint,
    finished_at      bigint,
    updated_at       bigint not null
);
create index replay_jobs_tenant_idx on replay_jobs (tenant_id, id);
create index replay_jobs_active_idx on replay_jobs (state) where state in ('pending', 'running');

create table checkpoints (
    id           text collate "C" primary key,
    tenant_id    text collate "C" not null references tenants (id) on delete cascade,
    name         text collate "C" not null,
    seq          bigint not null,
    endpoint_id  text collate "C" references endpoints (id) on delete cascade,
    created_by   text collate "C" not null,
    created_at   bigint not null
);
create unique index checkpoints_name_key on checkpoints (tenant_id, name);
create index checkpoints_tenant_idx on checkpoints (tenant_id, id);

create table audit_log (
    id              text collate "C" primary key,
    tenant_id       text collate "C" references tenants (id) on delete cascade,
    at              bigint not null,
    actor           text collate "C" not null,
    role            text collate "C" not null,
    action          text collate "C" not null,
    target          text collate "C" not null,
    summary         text collate "C" not null,
    correlation_id  text collate "C"
);
create index audit_tenant_idx on audit_log (tenant_id, id);
create index audit_action_idx on audit_log (action, id);

create table delivery_stats (
    tenant_id       text collate "C" not null,
    granularity     text collate "C" not null check (granularity in ('minute', 'hour', 'day')),
    bucket_start    bigint not null,
    endpoint_id     text collate "C" not null,
    event_type      text collate "C" not null,
    attempts        bigint not null,
    succeeded       bigint not null,
    failed          bigint not null,
    dlq_added       bigint not null,
    e_dns                   bigint not null default 0,
    e_connect               bigint not null default 0,
    e_tls                   bigint not null default 0,
    e_timeout               bigint not null default 0,
    e_http_status           bigint not null default 0,
    e_connection            bigint not null default 0,
    e_invalid_url           bigint not null default 0,
    e_response_too_large    bigint not null default 0,
    e_blocked_destination   bigint not null default 0,
    l0 bigint not null default 0, l1 bigint not null default 0, l2 bigint not null default 0,
    l3 bigint not null default 0, l4 bigint not null default 0, l5 bigint not null default 0,
    l6 bigint not null default 0, l7 bigint not null default 0, l8 bigint not null default 0,
    l9 bigint not null default 0, l10 bigint not null default 0, l11 bigint not null default 0,
    l12 bigint not null default 0,
    latency_sum_ms  bigint not null,
    dlq_removed     bigint not null default 0,
    e_internal      bigint not null default 0,
    primary key (tenant_id, granularity, bucket_start, endpoint_id, event_type)
);

-- The dispatcher's wake-up: the earliest due time of any pending delivery.
create index deliveries_due_idx on deliveries (next_attempt_at) where state = 'pending';
