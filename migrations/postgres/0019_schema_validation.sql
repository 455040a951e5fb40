-- Validation at ingest. A tenant's schema mode (off, warn or enforce), whether
-- unregistered event types are refused, and the catalog's revision: bumped by
-- every change to either or to the catalog, and compared inside the ingest
-- transaction with the revision the events were checked against.
alter table tenants add column schema_mode text not null default 'off';
alter table tenants add column require_registered_types boolean not null default false;
alter table tenants add column catalog_revision bigint not null default 0;

-- An archived type is out of the catalog (refused when registered types are
-- required) and keeps its versions: events recorded them.
alter table event_types add column archived boolean not null default false;

-- The schema version that checked an event, and what it found wrong (warn
-- mode: a JSON list of problems; null when nothing was).
alter table events add column schema_version bigint;
alter table events add column schema_problems text;

-- Events that passed under warn mode with problems, per type.
alter table event_type_stats add column schema_warnings bigint not null default 0;
