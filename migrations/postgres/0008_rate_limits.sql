-- Per-endpoint rate limits (SQLite's migration 0015 explains them).
alter table endpoints
    add column rate_limit bigint check (rate_limit is null or rate_limit between 1 and 100000),
    add column rate_period_ms bigint check (rate_period_ms is null or rate_period_ms in (1000, 60000));
create table endpoint_tokens (
    endpoint_id  text collate "C" primary key references endpoints (id) on delete cascade,
    tokens       double precision not null,
    counted_at   bigint not null
);
