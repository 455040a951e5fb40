-- Circuit breakers per endpoint (SQLite's migration 0017 explains them).
alter table endpoints
    add column breaker_settings text collate "C",
    add column breaker_state text collate "C" not null default 'closed' check (breaker_state in ('closed', 'open')),
    add column breaker_until bigint,
    add column breaker_opened_at bigint,
    add column breaker_trips bigint not null default 0,
    add column breaker_failing_since bigint;
alter table delivery_stats add column breaker_held bigint not null default 0;
