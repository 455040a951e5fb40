-- Ordered delivery. An endpoint may order its deliveries in one stream
-- (`ordering = 'endpoint'`) or one per ordering key (`'key'`); within a
-- stream a delivery is sent only after the one before it (by the event's
-- sequence number, `stream_seq`) succeeded or ended.
--
-- A delivery of a stream that may not go yet waits as `pending` with no due
-- time (`next_attempt_at is null`): the claim never sees it. When the
-- delivery ahead of it ends, the stream's next waiting delivery is given a
-- due time ("armed"). An unfinished delivery of a stream is waiting exactly
-- when its `next_attempt_at` is null (claims keep the due time), so the one
-- index below answers both questions the arming asks: is anything of the
-- stream armed or in flight, and which waiting delivery comes first.
alter table endpoints add column ordering text not null default 'none'
    check (ordering = 'none' or ordering = 'endpoint' or ordering = 'key');
alter table endpoints add column on_dead text not null default 'block'
    check (on_dead = 'block' or on_dead = 'skip');
alter table events add column ordering_key text;
alter table deliveries add column stream text;
alter table deliveries add column stream_seq integer;
-- A dead delivery of a stream stays in it while its DLQ entry exists: with
-- `on_dead = 'block'` the stream waits for the entry to be reprocessed or
-- discarded.
alter table dlq_entries add column stream text;
create index deliveries_stream_idx on deliveries (endpoint_id, stream, next_attempt_at, stream_seq)
    where stream is not null and state <> 'succeeded' and state <> 'dead';
create index dlq_stream_idx on dlq_entries (endpoint_id, stream) where stream is not null;
