-- Security and tenancy: console users bound to tenants, sign-in lockout, the
-- audit log.

-- Null: a global user (works across tenants; admins are global). Set: the
-- user sees and changes that tenant only.
alter table users add column tenant_id text references tenants (id) on delete cascade;
-- Consecutive failed sign-ins; reset by a successful one.
alter table users add column failed_logins integer not null default 0;
-- Sign-in refused until then (unix ms) after too many failures.
alter table users add column locked_until integer;

-- Append-only: nothing updates or deletes rows here.
create table audit_log (
    id              text primary key,
    -- Null for console-wide changes (users, sign-ins).
    tenant_id       text references tenants (id) on delete cascade,
    at              integer not null,
    actor           text not null,
    role            text not null,
    action          text not null,
    target          text not null,
    summary         text not null,
    correlation_id  text
);
-- Newest first per tenant, and across tenants for global admins.
create index audit_tenant_idx on audit_log (tenant_id, id);
create index audit_action_idx on audit_log (action, id);
