-- Requests in flight to an endpoint at once, when it sets its own limit
-- (null: the server's endpoint_concurrency).
alter table endpoints add column max_in_flight integer
    check (max_in_flight is null or max_in_flight between 1 and 256);
