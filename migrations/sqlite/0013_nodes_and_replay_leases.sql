-- Which Herald nodes are alive and what each holds: every node writes its row
-- every few seconds (`heartbeat_at`); the console and `/metrics` read them.
-- SQLite has one node, PostgreSQL any number: the table is the same.
create table nodes (
    name          text primary key,
    version       text not null,
    started_at    integer not null,
    heartbeat_at  integer not null,
    in_flight     integer not null default 0
);

-- A replay job is driven by one node at a time: the one whose lease it
-- carries. Another takes it over when the lease runs out, from the cursor.
alter table replay_jobs add column lease_owner text;
alter table replay_jobs add column lease_until integer;
