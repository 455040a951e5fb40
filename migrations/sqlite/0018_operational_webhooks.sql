-- Operational webhooks (engine/src/ops.rs): a tenant may name one of its
-- endpoints to receive Herald's own events about it (breaker transitions,
-- disabled endpoints, a dead-letter queue past its threshold, finished
-- replays). `dlq_alerted_at` is set when the threshold-exceeded event went
-- out and cleared once the queue is back at or under the threshold, so each
-- crossing is told once, by one node.
alter table tenants add column ops_endpoint_id text;
alter table tenants add column dlq_alert_threshold integer;
alter table tenants add column dlq_alerted_at integer;
