-- Fencing. Every claim of a delivery takes a new token; a receipt, a hand-back
-- or an abandonment is applied only while the delivery is still in flight under
-- the token its worker was given, so a worker whose lease expired (and whose
-- delivery was claimed again) can never overwrite a newer outcome.
alter table deliveries add column claim_token integer not null default 0;
