//! Example values for the OpenAPI document, one per wire type, so each route's
//! examples agree with each other. The document's test validates every
//! example against the schema it illustrates.

use serde_json::{Value, json};

pub const TENANT: &str = "ten_01JD5Q8X3V4N2M7K9P6R0S1T2W";
pub const ENDPOINT: &str = "ep_01JD5Q9B7C2D3E4F5G6H7J8K9M";
pub const EVENT: &str = "evt_01JD5QA0N1P2Q3R4S5T6V7W8X9";
pub const DELIVERY: &str = "msg_01JD5QA0N1P2Q3R4S5T6V7W8XA";
pub const ATTEMPT: &str = "att_01JD5QA1B2C3D4E5F6G7H8J9KA";
pub const DLQ: &str = "dlq_01JD5QB3C4D5E6F7G8H9J0K1M2";
pub const POLICY: &str = "rp_01JD5Q9Z8Y7X6W5V4T3S2R1Q0P";
pub const REPLAY: &str = "rpl_01JD5QC5D6E7F8G9H0J1K2M3N4";
pub const CHECKPOINT: &str = "chk_01JD5QD6E7F8G9H0J1K2M3N4P5";
pub const KEY: &str = "key_01JD5Q8Y4W5X6Y7Z8A9B0C1D2E";
pub const AUDIT: &str = "aud_01JD5QE7F8G9H0J1K2M3N4P5Q6";
const AT: &str = "2026-11-30T09:15:02Z";

pub fn tenant() -> Value {
    json!({
        "id": TENANT, "slug": "acme", "name": "Acme", "payload_dedup_window_secs": 300,
        "operations_endpoint_id": ENDPOINT, "dlq_alert_threshold": 100,
        "event_retention_days": 30, "stats_retention_days": 400,
        "schema_mode": "warn", "require_registered_types": false,
        "created_at": "2026-11-02T09:00:00Z"
    })
}

pub fn retry_policy() -> Value {
    json!({
        "backoff": {"kind": "exponential", "base_secs": 5, "factor": 2.0, "cap_secs": 3600},
        "max_attempts": 8, "max_age_secs": 86400, "jitter": 0.1, "retry_after_cap_secs": 3600
    })
}

pub fn endpoint_in() -> Value {
    json!({
        "url": "https://hooks.example.com/herald",
        "event_types": ["order.*", "invoice.paid"],
        "filter": order_filter(),
        "name": "Orders service",
        "description": "Order and invoice events for the orders service",
        "headers": {"X-Team": "orders"},
        "semantics": "at_least_once",
        "timeout_ms": 10000,
        "max_in_flight": 16,
        "ordering": "key",
        "on_dead": "block",
        "rate_limit": {"limit": 100, "per": "second"}
    })
}

pub fn endpoint() -> Value {
    json!({
        "id": ENDPOINT, "url": "https://hooks.example.com/herald",
        "name": "Orders service", "description": "Order and invoice events for the orders service",
        "event_types": ["order.*", "invoice.paid"],
        "filter": order_filter(),
        "header_names": ["X-Team"], "semantics": "at_least_once",
        "retry_policy": retry_policy(), "retry_policy_id": null, "timeout_ms": 10000,
        "max_in_flight": 16, "ordering": "key", "on_dead": "block",
        "rate_limit": {"limit": 100, "per": "second"}, "ack_timeout_secs": 300,
        "circuit_breaker": {"enabled": true, "failure_percent": 50, "min_attempts": 20, "window_secs": 120,
                            "cooldown_secs": 30, "max_cooldown_secs": 3600, "disable_after_secs": 259200,
                            "disable_after_trips": null},
        "breaker": {"state": "closed", "opened_at": null, "probe_at": null, "trips": 0, "failing_since": null},
        "enabled": true, "disabled_reason": null,
        "created_at": AT, "updated_at": AT
    })
}

/// A content filter: large orders from the shop, or any express one.
pub fn order_filter() -> Value {
    json!({"source": "shop", "$or": [{"payload.total": {"$gte": 100}}, {"payload.express": true}]})
}

pub fn filter_test_in() -> Value {
    json!({"filter": order_filter(), "event_type": "order.created"})
}

pub fn filter_test_out() -> Value {
    json!({
        "matches": false,
        "why": "none of $or holds: /$or/0/payload.total/$gte: payload.total is 42, not at least 100; /$or/1/payload.express: payload.express is false, not equal to true",
        "event_id": EVENT,
        "document": {"event_type": "order.created", "source": "shop",
                     "payload": {"order_id": "ord_1042", "total": 42, "express": false}, "metadata": null}
    })
}

pub fn transform_test_in() -> Value {
    json!({"transform": "{id: .order_id, cents: (.total * 100)}", "event_type": "order.created"})
}

pub fn transform_test_out() -> Value {
    json!({"output": {"id": "ord_1042", "cents": 4200}, "event_id": EVENT})
}

pub fn endpoint_disabled() -> Value {
    let mut e = endpoint();
    e["enabled"] = json!(false);
    e["disabled_reason"] = json!("receiver under maintenance until 14:00");
    e
}

pub fn endpoint_created() -> Value {
    let mut e = endpoint();
    e["secret"] = json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    e
}

pub fn page(items: Vec<Value>) -> Value {
    json!({"items": items, "next_cursor": null})
}

pub fn event_in() -> Value {
    json!({
        "event_type": "order.created",
        "payload": {"order_id": "ord_1042", "total": 4200, "currency": "EUR"},
        "idempotency_key": "order-1042-created",
        "correlation_id": "req-7f3a",
        "entity_id": "ord_1042"
    })
}

pub fn event() -> Value {
    json!({
        "id": EVENT, "event_type": "order.created",
        "payload": {"order_id": "ord_1042", "total": 4200, "currency": "EUR"},
        "seq": 1042, "idempotency_key": "order-1042-created", "correlation_id": "req-7f3a",
        "entity_id": "ord_1042", "ordering_key": null, "metadata": null, "received_at": AT
    })
}

pub fn attempt() -> Value {
    json!({
        "id": ATTEMPT, "attempt": 1, "trigger": "scheduled", "started_at": AT, "latency_ms": 84,
        "request_headers": {"content-type": "application/json", "webhook-id": DELIVERY, "webhook-timestamp": "1795950902"},
        "response_status": 200, "response_headers": {"content-type": "text/plain"},
        "response_excerpt": "ok", "error_class": null, "error_message": null
    })
}

pub fn delivery() -> Value {
    json!({
        "id": DELIVERY, "endpoint_id": ENDPOINT, "state": "succeeded", "attempts": 1,
        "next_attempt_at": null, "stream": "ord_1042", "acked_at": null, "attempt_log": [attempt()], "actions": []
    })
}

pub fn event_detail() -> Value {
    let mut e = event();
    e["deliveries"] = json!([delivery()]);
    e
}

pub fn event_summary() -> Value {
    json!({
        "id": EVENT, "seq": 1042, "event_type": "order.created", "correlation_id": "req-7f3a",
        "entity_id": "ord_1042", "received_at": AT, "deliveries": 2, "succeeded": 2, "dead": 0
    })
}

pub fn retry_policy_out() -> Value {
    json!({
        "id": POLICY, "name": "patient", "description": "For receivers with long maintenance windows",
        "policy": retry_policy(), "schedule_secs": [0, 5, 15, 35, 75, 155, 315, 635],
        "endpoints": 3, "created_at": AT, "updated_at": AT
    })
}

pub fn pulled() -> Value {
    json!({"messages": [{
        "id": DELIVERY, "event_id": EVENT, "event_type": "order.created",
        "payload": {"order_id": "ord_1042", "total": 4200}, "attempt": 1,
        "correlation_id": "req-7f3a", "leased_until": AT
    }]})
}

pub fn inbox() -> Value {
    json!({
        "endpoint_id": ENDPOINT, "ready": 120, "delayed": 3, "leased": 40, "oldest_at": AT,
        "consumers": [{"name": "billing-worker-1", "first_pull_at": AT, "last_pull_at": AT, "pulls": 812, "leased": 80412}]
    })
}

pub fn dlq_entry() -> Value {
    json!({
        "id": DLQ, "delivery_id": DELIVERY, "endpoint_id": ENDPOINT,
        "endpoint_url": "https://hooks.example.com/herald", "event_id": EVENT,
        "event_type": "order.created", "reason": "gave up after 8 attempts (max_attempts)",
        "error_class": "http_status", "attempts": 8, "created_at": AT
    })
}

pub fn dlq_detail() -> Value {
    let mut d = dlq_entry();
    d["event"] = event();
    let mut delivery = delivery();
    delivery["state"] = json!("dead");
    d["delivery"] = delivery;
    d
}

pub fn replay_filter() -> Value {
    json!({"from": "2026-11-29T00:00:00Z", "to": "2026-11-30T00:00:00Z", "event_types": ["order.created"], "only_failed": true})
}

pub fn replay() -> Value {
    json!({
        "id": REPLAY, "state": "running", "filter": replay_filter(),
        "reason": "receiver outage on 29 Nov", "rate_per_second": 100.0, "total": 1200,
        "dispatched": 450, "deliveries": 450, "succeeded": 440, "failed": 2, "in_progress": 8,
        "ordered": false, "created_by": format!("api key {KEY}"), "error": null,
        "created_at": AT, "started_at": AT, "finished_at": null, "updated_at": AT
    })
}

pub fn replay_in(state: &str) -> Value {
    let mut r = replay();
    r["state"] = json!(state);
    r
}

pub fn replay_started() -> Value {
    let mut r = replay_in("pending");
    for field in [
        "dispatched",
        "deliveries",
        "succeeded",
        "failed",
        "in_progress",
    ] {
        r[field] = json!(0);
    }
    r["started_at"] = Value::Null;
    r
}

pub fn checkpoint() -> Value {
    json!({
        "id": CHECKPOINT, "name": "before-migration", "seq": 1042, "endpoint_id": null,
        "created_by": format!("api key {KEY}"), "created_at": AT
    })
}

pub fn api_key() -> Value {
    json!({
        "id": KEY, "name": "orders-publisher", "prefix": "hrld_3fa9c1d2", "tenant": "acme",
        "scope": "ingest", "created_at": AT, "last_used_at": null
    })
}

pub fn audit_entry() -> Value {
    json!({
        "id": AUDIT, "tenant_id": TENANT, "at": AT, "actor": format!("api key {KEY}"),
        "role": "key:manage", "action": "endpoint.update", "target": ENDPOINT,
        "summary": "changed url, event_types", "correlation_id": "01JD5Q8X3V4N2M7K9P6R0S1T2W"
    })
}

/// A typical event type's schema.
pub fn order_schema() -> Value {
    json!({
        "type": "object",
        "required": ["order_id", "amount"],
        "properties": {
            "order_id": {"type": "string"},
            "amount": {"type": "number", "minimum": 0},
            "currency": {"type": "string", "enum": ["EUR", "USD"]}
        }
    })
}

pub fn order_example() -> Value {
    json!({"order_id": "ord_1042", "amount": 25.5, "currency": "EUR"})
}

pub fn event_type_out() -> Value {
    json!({
        "name": "order.created", "description": "An order was placed.", "deprecated": false,
        "archived": false, "version": 2, "schema": order_schema(), "examples": [order_example()],
        "created_at": "2026-11-02T09:00:00Z", "updated_at": AT
    })
}

pub fn event_type_archived() -> Value {
    let mut out = event_type_out();
    out["archived"] = json!(true);
    out
}

pub fn schema_version(version: u32) -> Value {
    json!({
        "version": version, "schema": order_schema(), "examples": [order_example()],
        "breaking": false, "created_by": "user admin@example.com", "created_at": AT
    })
}

pub fn event_type_detail() -> Value {
    let mut detail = event_type_out();
    let more = json!({
        "versions": [schema_version(1), schema_version(2)],
        "events": 1042, "last_seen_at": AT, "schema_warnings": 3
    });
    detail
        .as_object_mut()
        .expect("an object")
        .extend(more.as_object().expect("an object").clone());
    detail
}

pub fn schema_check(registered: bool) -> Value {
    let mut check = json!({
        "compared_with": 1,
        "incompatibilities": [],
        "events_checked": if registered { 0 } else { 500 },
        "events_failing": 0,
        "failures": []
    });
    if registered {
        check["registered"] = schema_version(2);
    }
    check
}
