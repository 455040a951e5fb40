-- Payload transformations: an endpoint's jq program, applied to each event's
-- payload before it is signed and sent, and a replay job's one-off program,
-- which its deliveries use instead.
alter table endpoints add column transform text;
alter table replay_jobs add column transform text;

-- Attempts that failed in their transform, counted with the other classes.
alter table delivery_stats add column e_transform integer not null default 0;
