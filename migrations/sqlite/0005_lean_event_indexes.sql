-- Leaner event indexes: what ingest maintains for every event, and what the
-- console's lists need with a million events.

-- Payload digests are stored only while the tenant's dedup window is on ('' otherwise),
-- so the default ingest path does not insert into a random-order index.
drop index events_dedup_idx;
create index events_dedup_idx on events (tenant_id, payload_sha256, event_type, received_at)
    where payload_sha256 <> '';

-- Filtering by correlation id lists newest first: the id is part of the key.
drop index events_correlation_idx;
create index events_correlation_idx on events (tenant_id, correlation_id, id)
    where correlation_id is not null;

-- Event types per tenant with counts, kept by ingest: the console's type
-- filter and GET /api/v1/event-types no longer count every event.
create table event_type_stats (
    tenant_id     text not null references tenants (id) on delete cascade,
    event_type    text not null,
    events        integer not null,
    last_seen_at  integer not null,
    primary key (tenant_id, event_type)
) without rowid;
insert into event_type_stats (tenant_id, event_type, events, last_seen_at)
    select tenant_id, event_type, count(*), max(received_at) from events group by tenant_id, event_type;
