-- A delivery changes many times while it is live (each claim, each lease
-- taken over or handed back) and never after it ends. On PostgreSQL every
-- update leaves a dead row version behind, so the live part moves to a small
-- table of pending and in-flight work only (`delivery_queue`, a row deleted
-- when its delivery ends) and the record of every delivery
-- (`delivery_records`) is written when the delivery is made, when an attempt
-- ends and when it is armed again, never by a claim. The view `deliveries`
-- joins the two under the old name and columns, so the SQL shared with
-- SQLite reads and writes as before (writes go through `deliveries_write`);
-- ingest, claims, leases and receipts use the two tables themselves.

drop index deliveries_due_idx;
drop index deliveries_owner_idx;
drop index deliveries_endpoint_due_idx;
drop index deliveries_lease_idx;
alter table deliveries rename to delivery_records;

create table delivery_queue (
    delivery_id      text collate "C" primary key references delivery_records (id) on delete cascade,
    endpoint_id      text collate "C" not null,
    state            text collate "C" not null check (state in ('pending', 'in_flight')),
    next_attempt_at  bigint,
    lease_until      bigint,
    lease_owner      text collate "C",
    claim_token      bigint not null default 0
)
-- Room on each page for a row's next version (claims update in place), and
-- vacuumed after every few thousand dead versions however small it is.
with (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
      autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 2000);
create index deliveries_endpoint_due_idx on delivery_queue (endpoint_id, next_attempt_at) where state = 'pending';
create index deliveries_lease_idx on delivery_queue (endpoint_id, lease_until) where state = 'in_flight';
create index deliveries_due_idx on delivery_queue (next_attempt_at) where state = 'pending';
create index deliveries_owner_idx on delivery_queue (lease_owner) where state = 'in_flight';

insert into delivery_queue (delivery_id, endpoint_id, state, next_attempt_at, lease_until, lease_owner, claim_token)
select id, endpoint_id, state, next_attempt_at, lease_until, lease_owner, claim_token
from delivery_records where state in ('pending', 'in_flight');

-- Fencing tokens are unique across every claim ever made: a token a late
-- receipt shows can never match a later claim of the same delivery, even
-- after the delivery ended and was armed again.
create sequence delivery_claims;
select setval('delivery_claims', greatest(1, (select coalesce(max(claim_token), 0) from delivery_records)));

-- A live delivery's record says `pending`; whether it is in flight is the
-- queue's to say.
update delivery_records set state = 'pending' where state = 'in_flight';
alter table delivery_records
    drop column next_attempt_at,
    drop column lease_until,
    drop column claim_token,
    drop column lease_owner;

create view deliveries as
select r.id, r.tenant_id, r.event_id, r.endpoint_id, coalesce(q.state, r.state) as state, r.attempts,
       q.next_attempt_at, q.lease_until, r.first_attempt_at, r.created_at, r.updated_at,
       r.chain_trigger, r.chain_reason, r.chain_base, r.replay_id,
       coalesce(q.claim_token, 0) as claim_token, q.lease_owner
from delivery_records r left join delivery_queue q on q.delivery_id = r.id;

-- Writes to the view: the record takes the lasting columns, the queue holds
-- the row while the delivery is pending or in flight.
create function deliveries_write() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        delete from delivery_records where id = old.id;
        return old;
    end if;
    if tg_op = 'INSERT' then
        insert into delivery_records (id, tenant_id, event_id, endpoint_id, state, attempts, first_attempt_at,
                                      created_at, updated_at, chain_trigger, chain_reason, chain_base, replay_id)
        values (new.id, new.tenant_id, new.event_id, new.endpoint_id,
                case when new.state = 'in_flight' then 'pending' else new.state end,
                coalesce(new.attempts, 0), new.first_attempt_at, new.created_at, new.updated_at,
                coalesce(new.chain_trigger, 'scheduled'), new.chain_reason, coalesce(new.chain_base, 0),
                new.replay_id);
    else
        update delivery_records
        set tenant_id = new.tenant_id, event_id = new.event_id, endpoint_id = new.endpoint_id,
            state = case when new.state = 'in_flight' then 'pending' else new.state end,
            attempts = new.attempts, first_attempt_at = new.first_attempt_at, created_at = new.created_at,
            updated_at = new.updated_at, chain_trigger = new.chain_trigger, chain_reason = new.chain_reason,
            chain_base = new.chain_base, replay_id = new.replay_id
        where id = old.id;
    end if;
    if new.state in ('pending', 'in_flight') then
        insert into delivery_queue (delivery_id, endpoint_id, state, next_attempt_at, lease_until, lease_owner,
                                    claim_token)
        values (new.id, new.endpoint_id, new.state, new.next_attempt_at, new.lease_until, new.lease_owner,
                coalesce(new.claim_token, 0))
        on conflict (delivery_id) do update
        set endpoint_id = excluded.endpoint_id, state = excluded.state, next_attempt_at = excluded.next_attempt_at,
            lease_until = excluded.lease_until, lease_owner = excluded.lease_owner,
            claim_token = excluded.claim_token;
    else
        delete from delivery_queue where delivery_id = new.id;
    end if;
    return new;
end
$$;

create trigger deliveries_write instead of insert or update or delete on deliveries
for each row execute function deliveries_write();
