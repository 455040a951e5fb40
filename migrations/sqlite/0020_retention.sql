-- Retention. Each tenant says how long its events (with their deliveries and
-- receipts) and its delivery statistics are kept, in days; null keeps them
-- forever. New tenants keep events 30 days and statistics 400. Tenants that
-- exist when this runs keep everything, as before: an upgrade never deletes
-- data nobody asked it to (an operator sets a retention with PATCH /tenant).
--
-- An expunged event (a privacy request) keeps its id, type, sequence and
-- times; its payload, metadata and payload digest are erased and
-- `expunged_at` says when.
alter table tenants add column event_retention_days integer default 30
    check (event_retention_days is null or (event_retention_days >= 1 and event_retention_days <= 36500));
alter table tenants add column stats_retention_days integer default 400
    check (stats_retention_days is null or (stats_retention_days >= 1 and stats_retention_days <= 36500));
update tenants set event_retention_days = null, stats_retention_days = null;
alter table events add column expunged_at integer;

-- Removing a receipt checks that no dead-letter entry names it as its last
-- attempt: without an index each check read the whole queue.
create index dlq_last_attempt_idx on dlq_entries (last_attempt_id) where last_attempt_id is not null;
