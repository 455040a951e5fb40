-- Fair claims. The dispatcher walks the endpoints that have pending work (a
-- skip-scan over this index) and takes each one's earliest-due deliveries, up to
-- the slots its in-flight count leaves free; one endpoint's backlog therefore
-- never hides another endpoint's due work.
create index deliveries_endpoint_due_idx on deliveries (endpoint_id, next_attempt_at) where state = 'pending';

-- Attempts Herald could not make for a reason of its own (class `internal`).
alter table delivery_stats add column e_internal integer not null default 0;

-- Test events (sent from an endpoint's "send test event"): every request for
-- one carries `herald-test: true`, so a receiver can tell them from real ones.
alter table events add column test integer not null default 0;

-- Failed sign-ins per account and client address. An address that fails 5
-- times is locked out of that account for 15 minutes; the account-wide count on
-- `users` locks only at a much higher threshold, and even then not for an
-- address with no recent failures, so nobody can keep an account locked just by
-- knowing its email.
create table login_failures (
    user_id         text not null references users (id) on delete cascade,
    client          text not null,
    failures        integer not null,
    last_failed_at  integer not null,
    locked_until    integer,
    primary key (user_id, client)
) without rowid;
