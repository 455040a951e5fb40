-- Named retry policies a tenant's endpoints can share (changing one changes the
-- schedule of every endpoint that uses it), and the per-tenant payload-dedup window.

create table retry_policies (
    id           text primary key,
    tenant_id    text not null references tenants (id) on delete cascade,
    name         text not null,
    description  text not null default '',
    -- JSON retry policy (engine/src/retry.rs).
    policy       text not null,
    created_at   integer not null,
    updated_at   integer not null
);
create unique index retry_policies_name_key on retry_policies (tenant_id, name);
create index retry_policies_tenant_idx on retry_policies (tenant_id, id);

-- When set, the endpoint follows this named policy; its own `retry_policy`
-- column then only keeps the last inline policy.
alter table endpoints add column retry_policy_id text references retry_policies (id);
create index endpoints_retry_policy_idx on endpoints (retry_policy_id) where retry_policy_id is not null;

-- Null: off. Otherwise an event whose type and payload bytes equal those of an
-- event received within this many milliseconds is not stored or delivered again.
alter table tenants add column payload_dedup_window_ms integer;

-- Dedup lookups compare type and payload digest within the window.
create index events_dedup_idx on events (tenant_id, payload_sha256, event_type, received_at);
drop index events_payload_idx;
