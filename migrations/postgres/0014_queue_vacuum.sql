-- Vacuuming the delivery queue (autovacuum, or each node every few seconds:
-- `Store::upkeep`) never truncates its empty tail pages: truncating takes a
-- lock every claim and receipt waits behind (up to 5 s while it tries), and
-- the queue fills those pages again at once.
alter table delivery_queue set (vacuum_truncate = false);
