-- The event catalog: event types a tenant registers, and every version of
-- each one's JSON Schema (never changed or removed; the newest is current).
create table event_types (
    tenant_id        text collate "C" not null,
    name             text collate "C" not null,
    description      text not null,
    deprecated       boolean not null,
    -- The current schema's version; null until one is registered.
    current_version  bigint,
    created_at       bigint not null,
    updated_at       bigint not null,
    primary key (tenant_id, name)
);

create table event_type_versions (
    tenant_id   text collate "C" not null,
    name        text collate "C" not null,
    version     bigint not null,
    schema      text not null,
    examples    text not null,
    breaking    boolean not null,
    created_by  text not null,
    created_at  bigint not null,
    primary key (tenant_id, name, version)
);
