//! A tenant's event catalog as an AsyncAPI 3.0 document: what Herald sends
//! to endpoints, for the teams that receive it. One channel per registered
//! (not archived) event type, with its message: the payload's JSON Schema
//! (declared as draft 2020-12, the dialect the catalog checks), the type's
//! examples, `deprecated`, and the Standard Webhooks headers every request
//! carries. Herald is the application described: each channel has a `send`
//! operation. A channel has no address: each endpoint's URL is its own.

use serde_json::{Map, Value, json};

use crate::model::EventTypeOut;

/// How a payload schema's dialect is named to AsyncAPI tools.
pub const SCHEMA_FORMAT: &str = "application/schema+json;version=2020-12";

fn headers() -> Value {
    json!({
        "type": "object",
        "required": ["webhook-id", "webhook-timestamp", "webhook-signature", "herald-event-type", "herald-attempt"],
        "properties": {
            "webhook-id": {"type": "string", "description": "The delivery's id (msg_…): the same on every retry; deduplicate on it."},
            "webhook-timestamp": {"type": "string", "pattern": "^[0-9]+$", "description": "When the request was signed, in seconds since 1970 (UTC)."},
            "webhook-signature": {"type": "string", "description": "Space-separated `v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">`, one per live secret of the endpoint (Standard Webhooks)."},
            "herald-event-type": {"type": "string", "description": "The event's type: the channel's name."},
            "herald-attempt": {"type": "string", "pattern": "^[0-9]+$", "description": "1 for the first attempt, then one more each retry."},
            "herald-test": {"type": "string", "enum": ["true"], "description": "Present on test events sent from the console or the API."},
            "herald-ack-token": {"type": "string", "description": "Effectively-once endpoints: a token to acknowledge the delivery with (POST /api/v1/acks)."},
            "x-correlation-id": {"type": "string", "description": "The event's correlation id, when it has one."}
        }
    })
}

/// The document for `types` of the tenant named `tenant`, at catalog
/// version `version` (a string the document's readers compare).
pub fn document(tenant: &str, version: &str, types: &[EventTypeOut]) -> Value {
    let mut channels = Map::new();
    let mut operations = Map::new();
    for t in types.iter().filter(|t| !t.archived) {
        let mut message = json!({
            "name": t.name,
            "title": t.name,
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/webhookHeaders"},
        });
        if !t.description.is_empty() {
            message["summary"] = json!(t.description);
        }
        if t.deprecated {
            message["deprecated"] = json!(true);
        }
        if let Some(schema) = &t.schema {
            message["payload"] = json!({"schemaFormat": SCHEMA_FORMAT, "schema": schema});
        }
        if !t.examples.is_empty() {
            message["examples"] = Value::Array(
                t.examples
                    .iter()
                    .enumerate()
                    .map(|(i, payload)| json!({"name": format!("example-{}", i + 1), "payload": payload}))
                    .collect(),
            );
        }
        let mut channel = json!({
            "address": null,
            "title": t.name,
            "messages": { "event": message },
        });
        if !t.description.is_empty() {
            channel["description"] = json!(t.description);
        }
        if let Some(v) = t.version {
            channel["x-herald-schema-version"] = json!(v);
        }
        let pointer = t.name.replace('~', "~0").replace('/', "~1");
        channels.insert(t.name.clone(), channel);
        operations.insert(
            format!("send.{}", t.name),
            json!({
                "action": "send",
                "title": format!("Herald sends {}", t.name),
                "channel": {"$ref": format!("#/channels/{pointer}")},
                "messages": [{"$ref": format!("#/channels/{pointer}/messages/event")}],
            }),
        );
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": format!("{tenant}: events"),
            "version": version,
            "description": "The events this tenant publishes through Herald, as its endpoints receive them: \
                each is a POST of the payload (JSON) signed as Standard Webhooks describes. \
                Subscribe an endpoint to a channel's name (or a pattern such as `order.*`).",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": {"webhookHeaders": headers()}},
    })
}
