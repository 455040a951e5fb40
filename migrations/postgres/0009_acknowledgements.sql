-- Receiver acknowledgement (SQLite's migration 0016 explains it). A
-- delivery awaiting its acknowledgement stays in the queue of live work,
-- due at its deadline, so an ordered stream waits for it and the lease
-- sweep finds it by the index below; its record says `awaiting_ack` too.
alter table endpoints drop constraint endpoints_semantics_check,
    add constraint endpoints_semantics_check
        check (semantics in ('at_least_once', 'at_most_once', 'effectively_once')),
    add column ack_timeout_secs bigint not null default 300 check (ack_timeout_secs between 5 and 604800);
alter table delivery_records drop constraint deliveries_state_check,
    add constraint deliveries_state_check check (state in ('pending', 'in_flight', 'succeeded', 'dead', 'awaiting_ack')),
    add column acked_at bigint,
    add column ack_timed_out boolean not null default false;
alter table delivery_queue drop constraint delivery_queue_state_check,
    add constraint delivery_queue_state_check check (state in ('pending', 'in_flight', 'awaiting_ack'));
alter table attempts drop constraint attempts_trigger_check,
    add constraint attempts_trigger_check check (trigger in ('scheduled', 'manual', 'replay', 'ack_timeout'));
create index deliveries_ack_due_idx on delivery_queue (next_attempt_at) where state = 'awaiting_ack';
alter table delivery_stats add column acked bigint not null default 0, add column ack_timeouts bigint not null default 0;

-- The view gains the acknowledgement's columns, PostgreSQL's own
-- (`lease_owner`) still last: made again, with its trigger.
drop view deliveries;
create view deliveries as
select r.id, r.tenant_id, r.event_id, r.endpoint_id, coalesce(q.state, r.state) as state, r.attempts,
       q.next_attempt_at, q.lease_until, r.first_attempt_at, r.created_at, r.updated_at,
       r.chain_trigger, r.chain_reason, r.chain_base, r.replay_id,
       coalesce(q.claim_token, 0) as claim_token, r.stream, r.stream_seq, r.acked_at,
       case when r.ack_timed_out then 1::bigint else 0::bigint end as ack_timed_out, q.lease_owner
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
                                      stream, stream_seq, acked_at, ack_timed_out)
        values (new.id, new.tenant_id, new.event_id, new.endpoint_id,
                case when new.state = 'in_flight' then 'pending' else new.state end,
                coalesce(new.attempts, 0), new.first_attempt_at, new.created_at, new.updated_at,
                coalesce(new.chain_trigger, 'scheduled'), new.chain_reason, coalesce(new.chain_base, 0),
                new.replay_id, new.stream, new.stream_seq, new.acked_at, coalesce(new.ack_timed_out, 0) <> 0);
    else
        update delivery_records
        set tenant_id = new.tenant_id, event_id = new.event_id, endpoint_id = new.endpoint_id,
            state = case when new.state = 'in_flight' then 'pending' else new.state end,
            attempts = new.attempts, first_attempt_at = new.first_attempt_at, created_at = new.created_at,
            updated_at = new.updated_at, chain_trigger = new.chain_trigger, chain_reason = new.chain_reason,
            chain_base = new.chain_base, replay_id = new.replay_id, stream = new.stream,
            stream_seq = new.stream_seq, acked_at = new.acked_at, ack_timed_out = coalesce(new.ack_timed_out, 0) <> 0
        where id = old.id;
    end if;
    if new.state in ('pending', 'in_flight', 'awaiting_ack') then
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
