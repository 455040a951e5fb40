-- Pull inboxes (SQLite's migration 0019 explains them).
alter table endpoints
    add column kind text collate "C" not null default 'webhook' check (kind in ('webhook', 'inbox'));
alter table api_keys add column endpoint_id text collate "C";
alter table api_keys drop constraint api_keys_scope_check,
    add constraint api_keys_scope_check check (scope in ('ingest', 'read', 'manage', 'all', 'consume'));
alter table delivery_stats add column e_nacked bigint not null default 0;

create table inbox_consumers (
    endpoint_id    text collate "C" not null,
    consumer       text collate "C" not null,
    tenant_id      text collate "C" not null,
    first_pull_at  bigint not null,
    last_pull_at   bigint not null,
    pulls          bigint not null,
    leased         bigint not null,
    primary key (endpoint_id, consumer)
);
-- An inbox's consumers, most recent first.
create index inbox_consumers_seen_idx on inbox_consumers (endpoint_id, last_pull_at);
