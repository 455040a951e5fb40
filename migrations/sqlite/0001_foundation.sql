-- Herald foundation: tenants, console users and their sessions, API keys.
-- Timestamps are unix milliseconds (integer) on every backend: compact, cheap to
-- compare and index, and identical in SQLite and PostgreSQL.
-- Ids are prefixed ULIDs (text), so ordering by id orders by creation time.

create table tenants (
    id          text primary key,
    slug        text not null unique,
    name        text not null,
    created_at  integer not null
);

create table users (
    id             text primary key,
    email          text not null,
    password_hash  text not null,
    role           text not null check (role in ('admin', 'operator', 'support', 'developer', 'viewer')),
    created_at     integer not null,
    last_login_at  integer
);
-- Emails compare case-insensitively; the store lower-cases them on the way in.
create unique index users_email_key on users (email);

create table sessions (
    id            text primary key,
    token_digest  text not null unique,
    user_id       text not null references users (id) on delete cascade,
    created_at    integer not null,
    expires_at    integer not null
);
create index sessions_user_idx on sessions (user_id);
create index sessions_expiry_idx on sessions (expires_at);

create table api_keys (
    id              text primary key,
    tenant_id       text not null references tenants (id) on delete cascade,
    name            text not null,
    display_prefix  text not null,
    key_digest      text not null unique,
    scope           text not null check (scope in ('ingest', 'read', 'manage', 'all')),
    created_at      integer not null,
    last_used_at    integer,
    revoked_at      integer
);
-- Serves the tenant's key list in id (creation) order with keyset pagination.
create index api_keys_tenant_idx on api_keys (tenant_id, id);
