-- The event catalog: event types a tenant registers, and every version of
-- each one's JSON Schema (never changed or removed; the newest is current).
create table event_types (
    tenant_id        text not null,
    name             text not null,
    description      text not null,
    deprecated       integer not null,
    -- The current schema's version; null until one is registered.
    current_version  integer,
    created_at       integer not null,
    updated_at       integer not null,
    primary key (tenant_id, name)
) without rowid;

create table event_type_versions (
    tenant_id   text not null,
    name        text not null,
    version     integer not null,
    schema      text not null,
    examples    text not null,
    breaking    integer not null,
    created_by  text not null,
    created_at  integer not null,
    primary key (tenant_id, name, version)
) without rowid;
