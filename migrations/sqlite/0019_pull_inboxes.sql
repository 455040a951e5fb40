-- Pull inboxes (engine/src/inbox.rs). An endpoint of kind `inbox` has no
-- URL (its `url` is ''): the dispatcher never claims its deliveries;
-- consumers lease them (`in_flight`, `lease_until` = the end of the
-- visibility timeout, `updated_at` = when the lease began) and settle them
-- by acknowledging (a receipt that succeeded) or handing them back (a
-- receipt of class `nacked`). A lease that runs out is settled by the lease
-- sweep (class `timeout`). `inbox_consumers` keeps who pulls, for the
-- console. An API key of scope `consume` is bound to one inbox
-- (`api_keys.endpoint_id`) and may do nothing else.
alter table endpoints add column kind text not null default 'webhook'
    check (kind = 'webhook' or kind = 'inbox');
alter table api_keys add column endpoint_id text;
alter table delivery_stats add column e_nacked integer not null default 0;

create table inbox_consumers (
    endpoint_id    text not null,
    consumer       text not null,
    tenant_id      text not null,
    first_pull_at  integer not null,
    last_pull_at   integer not null,
    pulls          integer not null,
    leased         integer not null,
    primary key (endpoint_id, consumer)
) without rowid;

-- The scope constraint gains `consume` the way migration 0016 changed the
-- states: by editing the stored schema after the columns above were added;
-- the index created below makes every connection read it again.
pragma writable_schema = on;
update sqlite_schema
   set sql = replace(sql,
       'scope in (''ingest'', ''read'', ''manage'', ''all'')',
       'scope in (''ingest'', ''read'', ''manage'', ''all'', ''consume'')')
 where type = 'table' and name = 'api_keys';
pragma writable_schema = off;

create index inbox_consumers_seen_idx on inbox_consumers (endpoint_id, last_pull_at);
