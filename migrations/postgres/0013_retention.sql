-- Retention and expunged events (SQLite's migration 0020 explains them).
alter table tenants
    add column event_retention_days bigint default 30
        check (event_retention_days is null or (event_retention_days >= 1 and event_retention_days <= 36500)),
    add column stats_retention_days bigint default 400
        check (stats_retention_days is null or (stats_retention_days >= 1 and stats_retention_days <= 36500));
update tenants set event_retention_days = null, stats_retention_days = null;
alter table events add column expunged_at bigint;

-- Removing a receipt checks that no dead-letter entry names it as its last
-- attempt: without an index each check read the whole queue.
create index dlq_last_attempt_idx on dlq_entries (last_attempt_id) where last_attempt_id is not null;
