-- Which node holds a delivery in flight: a node that restarts takes back its
-- own at once instead of waiting for their leases to run out.
alter table deliveries add column lease_owner text collate "C";
create index deliveries_owner_idx on deliveries (lease_owner) where state = 'in_flight';
