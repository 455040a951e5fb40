-- Operational webhooks (SQLite's migration 0018 explains them).
alter table tenants
    add column ops_endpoint_id text collate "C",
    add column dlq_alert_threshold bigint,
    add column dlq_alerted_at bigint;
