-- Play inboxes (engine/src/model/play.rs): Herald's own test receiver. An
-- inbox is made for one endpoint, whose secret verifies what it receives;
-- it keeps its newest 100 requests (the older are deleted as new ones come).
-- `delivery_id` is the request's `webhook-id` when it names a delivery.
create table play_inboxes (
    id           text primary key,
    tenant_id    text not null,
    endpoint_id  text not null,
    created_at   integer not null
);
create index play_inboxes_endpoint_idx on play_inboxes (tenant_id, endpoint_id, created_at);

create table play_requests (
    id              integer primary key,
    inbox_id        text not null,
    delivery_id     text,
    received_at     integer not null,
    in_process      integer not null,
    headers         text not null,
    body            text not null,
    body_truncated  integer not null,
    verified        integer not null,
    verification    text not null
);
create index play_requests_inbox_idx on play_requests (inbox_id, id);
-- Expunging an event erases the copies its deliveries left here too.
create index play_requests_delivery_idx on play_requests (delivery_id);
