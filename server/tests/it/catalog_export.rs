//! The event catalog leaving Herald: pulled and pushed by the CLI,
//! validated by `herald validate-schemas`, exported as AsyncAPI.

use serde_json::{Value, json};

use crate::catalog::{good_order, order_schema, register_orders};
use crate::client::Api;
use crate::harness::TestServer;

/// `herald event-types pull` writes the catalog as a document `push`
/// applies: a new type is registered, a changed schema becomes a version
/// (refused when incompatible unless `--breaking`), the rest is unchanged;
/// `validate-schemas --events` fails when stored events break the schema.
#[tokio::test]
async fn the_cli_pulls_and_pushes_the_catalog_and_validates_it() {
    use crate::cli::remote;
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    register_orders(&api).await;
    let key = api.key.clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.json");
    let file = file.to_str().unwrap();

    let (ok, _, err) = remote(&server, &key, &["event-types", "pull", "--out", file]).await;
    assert!(ok, "{err}");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(doc["event_types"][0]["name"], "order.created", "{doc}");
    assert_eq!(doc["event_types"][0]["schema"], order_schema(), "{doc}");

    // Unchanged, it changes nothing.
    let (ok, out, err) = remote(&server, &key, &["event-types", "push", file]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("order.created") && out.contains("unchanged"),
        "{out}"
    );

    // A new type, and a wider schema for the old one.
    doc["event_types"][0]["schema"]["properties"]["note"] = json!({"type": "string"});
    doc["event_types"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "order.shipped", "description": "Shipped.",
                     "schema": {"type": "object", "required": ["order_id"]}}));
    std::fs::write(file, doc.to_string()).unwrap();
    let (ok, out, err) = remote(&server, &key, &["event-types", "push", "--dry-run", file]).await;
    assert!(ok, "{err}");
    assert!(out.contains("would be registered"), "{out}");
    assert_eq!(
        api.get("/api/v1/event-types/order.created").await["version"],
        1
    );
    let (ok, out, err) = remote(&server, &key, &["event-types", "push", file]).await;
    assert!(ok, "{err}");
    assert!(out.contains("version 2 registered"), "{out}");
    assert!(out.contains("registered (version 1)"), "{out}");
    assert_eq!(
        api.get("/api/v1/event-types/order.shipped").await["version"],
        1
    );

    // Narrower: refused, exit code non-zero, naming the change; --breaking
    // registers it.
    doc["event_types"][0]["schema"]["required"] = json!(["order_id", "amount", "note"]);
    doc["event_types"][0]["examples"] = json!([{"order_id": "ord_1", "amount": 1, "note": "gift"}]);
    std::fs::write(file, doc.to_string()).unwrap();
    let (ok, _, err) = remote(&server, &key, &["event-types", "push", file]).await;
    assert!(!ok);
    assert!(
        err.contains("order.created") && err.contains("note"),
        "{err}"
    );
    let (ok, out, err) = remote(&server, &key, &["event-types", "push", "--breaking", file]).await;
    assert!(ok, "{err}");
    assert!(out.contains("version 3 registered"), "{out}");

    let (ok, out, err) = remote(&server, &key, &["event-types", "list"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("TYPE"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("order.created") && l.contains(" 3 ")),
        "{out}"
    );
    let (ok, out, err) = remote(&server, &key, &["event-types", "show", "order.created"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("breaking"), "{out}");

    // Every schema compiles; stored events pass until one does not.
    api.publish(
        "order.created",
        json!({"order_id": "o", "amount": 1, "note": "n"}),
    )
    .await;
    let (ok, out, err) = remote(&server, &key, &["validate-schemas", "--events", "50"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("0 of 1 fail"), "{out}");
    api.publish("order.created", json!({"order_id": "o", "amount": 1}))
        .await;
    let (ok, out, _) = remote(
        &server,
        &key,
        &["validate-schemas", "--events", "50", "--json"],
    )
    .await;
    assert!(
        !ok,
        "a stored event the current schema refuses: exit code 1"
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], false, "{report}");
    let orders = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "order.created")
        .unwrap();
    assert_eq!(orders["events"]["events_failing"], 1, "{report}");
    assert_eq!(orders["versions"].as_array().unwrap().len(), 3, "{report}");
}

/// The catalog exported as AsyncAPI 3.0 is valid against AsyncAPI's own
/// JSON Schema (`tests/fixtures/asyncapi-3.0.0.schema.json`, from the
/// `@asyncapi/specs` package, Apache-2.0) and carries each registered type's
/// schema and examples; archived types are left out.
#[tokio::test]
async fn the_catalog_exports_as_a_valid_asyncapi_3_document() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    register_orders(&api).await;
    for body in [
        json!({"name": "order.shipped", "description": "Shipped.", "deprecated": true}),
        json!({"name": "order.deleted", "schema": {"type": "object"}}),
    ] {
        assert_eq!(api.post("/api/v1/event-types", &body).await.status(), 201);
    }
    let res = api
        .send(
            reqwest::Method::DELETE,
            "/api/v1/event-types/order.deleted",
            None,
        )
        .await;
    assert_eq!(res.status(), 200);

    let doc = api.get("/api/v1/event-types/asyncapi.json").await;
    let spec: Value =
        serde_json::from_str(include_str!("../fixtures/asyncapi-3.0.0.schema.json")).unwrap();
    let validator = jsonschema::draft7::new(&spec).expect("AsyncAPI's schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    // The check can fail: a document missing its info is refused.
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("info");
    assert!(!validator.is_valid(&broken));

    assert_eq!(doc["asyncapi"], "3.0.0");
    let channels: Vec<&String> = doc["channels"].as_object().unwrap().keys().collect();
    assert_eq!(
        channels,
        ["order.created", "order.shipped"],
        "archived left out"
    );
    let orders = &doc["channels"]["order.created"]["messages"]["event"];
    assert_eq!(orders["payload"]["schema"], order_schema());
    assert_eq!(orders["examples"][0]["payload"], good_order());
    assert_eq!(
        doc["channels"]["order.shipped"]["messages"]["event"]["deprecated"],
        true
    );
    assert_eq!(
        doc["operations"]["send.order.created"]["channel"]["$ref"],
        "#/channels/order.created"
    );
}
