-- Where events come from: the publishing service an event names (or its API
-- key's default source), and the default a key gives the events it publishes.
alter table events add column source text;
alter table api_keys add column default_source text;
-- Lists and replays narrow by source.
create index events_source_idx on events (tenant_id, source, id) where source is not null;

-- An endpoint's content filter (JSON, checked when saved): besides its type
-- patterns, which events it wants by what they carry.
alter table endpoints add column filter text;
