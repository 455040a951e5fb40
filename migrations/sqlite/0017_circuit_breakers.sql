-- Circuit breakers per endpoint (engine/src/model/breaker.rs). The settings
-- are JSON (`null`: the defaults); the state is what the claims read beside
-- the endpoint's other limits: `open` until `breaker_until` passes, then
-- half-open (the claims take one delivery at a time, the probe) until the
-- probe's outcome closes or opens it again. `breaker_trips` counts trips in
-- a row without a successful probe, `breaker_failing_since` when the first
-- of them opened it.
alter table endpoints add column breaker_settings text;
alter table endpoints add column breaker_state text not null default 'closed'
    check (breaker_state = 'closed' or breaker_state = 'open');
alter table endpoints add column breaker_until integer;
alter table endpoints add column breaker_opened_at integer;
alter table endpoints add column breaker_trips integer not null default 0;
alter table endpoints add column breaker_failing_since integer;
-- Deliveries that were due while a breaker held them back: each would have
-- been attempted at least once in that time.
alter table delivery_stats add column breaker_held integer not null default 0;
