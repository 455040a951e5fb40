-- Delivery statistics, kept as attempts are recorded: one row per tenant,
-- endpoint, event type and minute, hour or day (each attempt adds to all three),
-- so charts read a few rows per bucket however many attempts there were.
create table delivery_stats (
    tenant_id       text not null,
    granularity     text not null check (granularity in ('minute', 'hour', 'day')),
    -- Unix ms of the bucket's start (UTC).
    bucket_start    integer not null,
    endpoint_id     text not null,
    event_type      text not null,
    attempts        integer not null,
    succeeded       integer not null,
    failed          integer not null,
    dlq_added       integer not null,
    -- Failed attempts per error class.
    e_dns                   integer not null default 0,
    e_connect               integer not null default 0,
    e_tls                   integer not null default 0,
    e_timeout               integer not null default 0,
    e_http_status           integer not null default 0,
    e_connection            integer not null default 0,
    e_invalid_url           integer not null default 0,
    e_response_too_large    integer not null default 0,
    e_blocked_destination   integer not null default 0,
    -- Attempts per latency bucket: <= 5, 10, 25, 50, 100, 250, 500, 1000, 2500,
    -- 5000, 10000, 30000 ms, and slower.
    l0 integer not null default 0, l1 integer not null default 0, l2 integer not null default 0,
    l3 integer not null default 0, l4 integer not null default 0, l5 integer not null default 0,
    l6 integer not null default 0, l7 integer not null default 0, l8 integer not null default 0,
    l9 integer not null default 0, l10 integer not null default 0, l11 integer not null default 0,
    l12 integer not null default 0,
    latency_sum_ms  integer not null,
    primary key (tenant_id, granularity, bucket_start, endpoint_id, event_type)
) without rowid;
