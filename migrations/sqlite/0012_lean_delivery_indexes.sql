-- A delivery's life as cheap as its guarantees allow: every claim and receipt
-- rewrites one row, so everything that row change maintains counts.
--
-- 1. CHECK constraints on the rows a delivery writes test their value with
--    `=`, not `in (…)`: SQLite builds a temporary table for an `in` list of
--    more than two constants each time a statement runs, and the claim, the
--    receipt and the statistics each ran one or two per row. The rule each
--    constraint states is unchanged; SQLite's documented way to change a
--    constraint without rebuilding its table is to edit the stored schema,
--    and the index changes below then make every connection read it again.
pragma writable_schema = on;
update sqlite_schema
   set sql = replace(replace(sql,
       'chain_trigger in (''scheduled'', ''manual'', ''replay'')',
       'chain_trigger = ''scheduled'' or chain_trigger = ''manual'' or chain_trigger = ''replay'''),
       'state in (''pending'', ''in_flight'', ''succeeded'', ''dead'')',
       'state = ''pending'' or state = ''in_flight'' or state = ''succeeded'' or state = ''dead''')
 where type = 'table' and name = 'deliveries';
update sqlite_schema
   set sql = replace(sql,
       'trigger in (''scheduled'', ''manual'', ''replay'')',
       'trigger = ''scheduled'' or trigger = ''manual'' or trigger = ''replay''')
 where type = 'table' and name = 'attempts';
update sqlite_schema
   set sql = replace(sql,
       'granularity in (''minute'', ''hour'', ''day'')',
       'granularity = ''minute'' or granularity = ''hour'' or granularity = ''day''')
 where type = 'table' and name = 'delivery_stats';
pragma writable_schema = off;

-- 2. Fewer index entries per state change:
-- * the due index on `next_attempt_at` alone goes: the per-endpoint one
--   (`deliveries_endpoint_due_idx`) serves the claim, the earliest due time
--   (a skip-scan over endpoints) and the gauges;
-- * the lease index leads with the endpoint, so it also counts an endpoint's
--   deliveries in flight;
-- * the per-endpoint state index leaves out succeeded deliveries, the bulk
--   of the table, which nothing looks up by endpoint and state.
drop index deliveries_due_idx;
drop index deliveries_lease_idx;
create index deliveries_lease_idx on deliveries (endpoint_id, lease_until) where state = 'in_flight';
drop index deliveries_endpoint_idx;
create index deliveries_endpoint_idx on deliveries (endpoint_id, state) where state <> 'succeeded';
