-- Which node serves an endpoint: of the live nodes (a heartbeat at or after
-- `alive_since`, and the asking node `me`, which counts itself alive even
-- before its first heartbeat), the one whose name hashed with the
-- endpoint's id ranks highest (rendezvous hashing). Every node computes the
-- same owner from the same heartbeats; when a node stops beating, only the
-- endpoints it owned move, each to the next in its ranking, and when one
-- joins, only the endpoints it now ranks first for move to it.
--
-- Ownership spreads the work and keeps an endpoint's deliveries, receipts
-- and refills on one node; it is not what keeps the endpoint's concurrency
-- limit. Two nodes may both think they own an endpoint for a moment (one
-- has not yet seen the other's heartbeat), and a node that lost an endpoint
-- still holds what it had claimed: the limit is counted over every node's
-- deliveries in flight, whoever owns the endpoint.
create function endpoint_owner(endpoint text, alive_since bigint, me text) returns text
language sql stable parallel safe as $$
    select live.name
    from (select name from nodes where heartbeat_at >= alive_since
          union
          select me where me is not null) as live
    order by hashtext(live.name || ':' || endpoint) desc, live.name
    limit 1
$$;
