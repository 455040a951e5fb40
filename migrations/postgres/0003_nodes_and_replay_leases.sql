-- Which Herald nodes are alive and what each holds: every node writes its row
-- every few seconds (`heartbeat_at`); the console and `/metrics` read them.
create table nodes (
    name          text collate "C" primary key,
    version       text collate "C" not null,
    started_at    bigint not null,
    heartbeat_at  bigint not null,
    in_flight     bigint not null default 0
);

-- A replay job is driven by one node at a time: the one whose lease it
-- carries. Another takes it over when the lease runs out, from the cursor.
alter table replay_jobs add column lease_owner text collate "C";
alter table replay_jobs add column lease_until bigint;
