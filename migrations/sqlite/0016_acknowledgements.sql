-- Receiver acknowledgement ("effectively once"). An endpoint with
-- `semantics = 'effectively_once'` confirms each delivery it processed with
-- `POST /api/v1/acks`: a 2xx answer leaves the delivery `awaiting_ack`, due
-- at the end of the endpoint's `ack_timeout_secs` (`next_attempt_at` holds
-- that deadline, so an ordered stream waits for the acknowledgement as it
-- waits for an armed delivery). The lease sweep makes a delivery whose
-- deadline passed pending again with `ack_timed_out = 1`, which its next
-- attempt's receipt shows as the trigger `ack_timeout` and then clears.
-- `acked_at` is when the receiver acknowledged it (an acknowledgement that
-- arrives while the delivery is in flight ends it when the receipt comes).
alter table endpoints add column ack_timeout_secs integer not null default 300
    check (ack_timeout_secs >= 5 and ack_timeout_secs <= 604800);
alter table deliveries add column acked_at integer;
alter table deliveries add column ack_timed_out integer not null default 0;
-- Acknowledged deliveries and acknowledgements that did not come in time,
-- per bucket like the attempts.
alter table delivery_stats add column acked integer not null default 0;
alter table delivery_stats add column ack_timeouts integer not null default 0;

-- The state, trigger and semantics constraints gain their new values the
-- way migration 0012 changed them: by editing the stored schema, after the
-- columns above are added (adding a column works from the text as it was
-- parsed, so it must not follow an edit); the index created below makes
-- every connection read it again.
pragma writable_schema = on;
update sqlite_schema
   set sql = replace(sql,
       'state = ''pending'' or state = ''in_flight'' or state = ''succeeded'' or state = ''dead''',
       'state = ''pending'' or state = ''in_flight'' or state = ''succeeded'' or state = ''dead'' or state = ''awaiting_ack''')
 where type = 'table' and name = 'deliveries';
update sqlite_schema
   set sql = replace(sql,
       'trigger = ''scheduled'' or trigger = ''manual'' or trigger = ''replay''',
       'trigger = ''scheduled'' or trigger = ''manual'' or trigger = ''replay'' or trigger = ''ack_timeout''')
 where type = 'table' and name = 'attempts';
update sqlite_schema
   set sql = replace(sql,
       'semantics in (''at_least_once'', ''at_most_once'')',
       'semantics in (''at_least_once'', ''at_most_once'', ''effectively_once'')')
 where type = 'table' and name = 'endpoints';
pragma writable_schema = off;

create index deliveries_ack_due_idx on deliveries (next_attempt_at) where state = 'awaiting_ack';
