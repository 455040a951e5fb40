-- The claim's pick and a receipt's refill read an endpoint's earliest due
-- deliveries in the order (next_attempt_at, delivery_id), a few at a time.
-- Indexed on (endpoint_id, next_attempt_at) alone, that order took every due
-- delivery of the endpoint, sorted, for each claim: with a backlog of a
-- million, a million rows read to send eight. With the id in the index, the
-- scan stops at the last row it takes. (SQLite's index needs no change: its
-- claim breaks ties by rowid, which every SQLite index ends with.)
drop index deliveries_endpoint_due_idx;
create index deliveries_endpoint_due_idx on delivery_queue (endpoint_id, next_attempt_at, delivery_id)
    where state = 'pending';
