-- Per-endpoint rate limits: at most `rate_limit` deliveries per
-- `rate_period_ms` (1000 or 60000), over every node. The claims spend a
-- token bucket per limited endpoint (`endpoint_tokens`: the tokens it held
-- when last counted, and when), holding one second's worth at most.
alter table endpoints add column rate_limit integer
    check (rate_limit is null or (rate_limit >= 1 and rate_limit <= 100000));
alter table endpoints add column rate_period_ms integer
    check (rate_period_ms is null or rate_period_ms = 1000 or rate_period_ms = 60000);
create table endpoint_tokens (
    endpoint_id  text primary key references endpoints (id) on delete cascade,
    tokens       real not null,
    counted_at   integer not null
);
