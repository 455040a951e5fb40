-- Ordered delivery (SQLite's migration 0014 explains the columns). The
-- stream's columns live on the record, which outlasts the delivery's time in
-- the queue (a replay arms it again), and on the queue, where the arming
-- looks them up.
alter table endpoints
    add column ordering text collate "C" not null default 'none' check (ordering in ('none', 'endpoint', 'key')),
    add column on_dead text collate "C" not null default 'block' check (on_dead in ('block', 'skip'));
alter table events add column ordering_key text collate "C";
alter table delivery_records add column stream text collate "C", add column stream_seq bigint;
alter table delivery_queue add column stream text collate "C", add column stream_seq bigint;
alter table dlq_entries add column stream text collate "C";
create index deliveries_stream_idx on delivery_queue (endpoint_id, stream, next_attempt_at, stream_seq)
    where stream is not null;
create index dlq_stream_idx on dlq_entries (endpoint_id, stream) where stream is not null;

-- The view shows SQLite's columns in SQLite's order, PostgreSQL's own
-- (`lease_owner`) last: made again (its trigger goes with it and comes back
-- below).
drop view deliveries;
create view deliveries as
select r.id, r.tenant_id, r.event_id, r.endpoint_id, coalesce(q.state, r.state) as state, r.attempts,
       q.next_attempt_at, q.lease_until, r.first_attempt_at, r.created_at, r.updated_at,
       r.chain_trigger, r.chain_reason, r.chain_base, r.replay_id,
       coalesce(q.claim_token, 0) as claim_token, r.stream, r.stream_seq, q.lease_owner
from delivery_records r left join delivery_queue q on q.delivery_id = r.id;

create or replace function deliveries_write() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        delete from delivery_records where id = old.id;
        return old;
    end if;
    if tg_op = 'INSERT' then
        insert into delivery_records (id, tenant_id, event_id, endpoint_id, state, attempts, first_attempt_at,
                                      created_at, updated_at, chain_trigger, chain_reason, chain_base, replay_id,
                                      stream, stream_seq)
        values (new.id, new.tenant_id, new.event_id, new.endpoint_id,
                case when new.state = 'in_flight' then 'pending' else new.state end,
                coalesce(new.attempts, 0), new.first_attempt_at, new.created_at, new.updated_at,
                coalesce(new.chain_trigger, 'scheduled'), new.chain_reason, coalesce(new.chain_base, 0),
                new.replay_id, new.stream, new.stream_seq);
    else
        update delivery_records
        set tenant_id = new.tenant_id, event_id = new.event_id, endpoint_id = new.endpoint_id,
            state = case when new.state = 'in_flight' then 'pending' else new.state end,
            attempts = new.attempts, first_attempt_at = new.first_attempt_at, created_at = new.created_at,
            updated_at = new.updated_at, chain_trigger = new.chain_trigger, chain_reason = new.chain_reason,
            chain_base = new.chain_base, replay_id = new.replay_id, stream = new.stream,
            stream_seq = new.stream_seq
        where id = old.id;
    end if;
    if new.state in ('pending', 'in_flight') then
        insert into delivery_queue (delivery_id, endpoint_id, state, next_attempt_at, lease_until, lease_owner,
                                    claim_token, stream, stream_seq)
        values (new.id, new.endpoint_id, new.state, new.next_attempt_at, new.lease_until, new.lease_owner,
                coalesce(new.claim_token, 0), new.stream, new.stream_seq)
        on conflict (delivery_id) do update
        set endpoint_id = excluded.endpoint_id, state = excluded.state, next_attempt_at = excluded.next_attempt_at,
            lease_until = excluded.lease_until, lease_owner = excluded.lease_owner,
            claim_token = excluded.claim_token, stream = excluded.stream, stream_seq = excluded.stream_seq;
    else
        delete from delivery_queue where delivery_id = new.id;
    end if;
    return new;
end
$$;

create trigger deliveries_write instead of insert or update or delete on deliveries
for each row execute function deliveries_write();
