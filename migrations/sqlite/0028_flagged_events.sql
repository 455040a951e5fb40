-- The console lists a type's most recent events accepted with schema
-- problems (schema_mode warn); only those events are in this index.
create index events_flagged_idx on events (tenant_id, event_type, id) where schema_problems is not null;
