-- DLQ entries that leave the queue (reprocessed, discarded, replayed) are
-- counted per bucket like the additions, so the queue's depth over time can be
-- drawn back from its current size. Rows written before this migration count
-- no removals.
alter table delivery_stats add column dlq_removed integer not null default 0;
