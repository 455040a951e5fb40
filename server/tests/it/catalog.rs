//! The event catalog through the API: registering types and schema
//! versions (compared with the current one, tried on stored events), and
//! what ingest does under each `schema_mode` and `require_registered_types`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::client::{Api, status_and_body};
use crate::harness::TestServer;

pub(crate) fn order_schema() -> Value {
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

/// A payload with three problems: no `order_id`, a negative amount and an
/// unknown currency.
pub(crate) fn bad_order() -> Value {
    json!({"amount": -1, "currency": "GBP"})
}

pub(crate) fn good_order() -> Value {
    json!({"order_id": "ord_1", "amount": 12.5, "currency": "EUR"})
}

pub(crate) async fn register_orders(api: &Api<'_>) {
    let (status, body) = status_and_body(
        api.post(
            "/api/v1/event-types",
            &json!({"name": "order.created", "description": "An order was placed.",
                    "schema": order_schema(), "examples": [good_order()]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], 1, "{body}");
    assert_eq!(body["versions"].as_array().unwrap().len(), 1, "{body}");
}

pub(crate) async fn set_tenant(api: &Api<'_>, patch: Value) {
    let (status, body) = status_and_body(
        api.send(reqwest::Method::PATCH, "/api/v1/tenant", Some(&patch))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{patch}: {body}");
}

async fn events_of(api: &Api<'_>, event_type: &str) -> Vec<Value> {
    api.get(&format!("/api/v1/events?event_type={event_type}&limit=200"))
        .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn pointers(body: &Value) -> BTreeSet<(Option<u64>, String, String)> {
    body["error"]["problems"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|p| {
            (
                p["index"].as_u64(),
                p["pointer"].as_str().unwrap().to_owned(),
                p["keyword"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn enforce_refuses_a_violating_event_naming_each_pointer_and_stores_nothing() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    register_orders(&api).await;
    set_tenant(&api, json!({"schema_mode": "enforce"})).await;
    assert_eq!(api.get("/api/v1/tenant").await["schema_mode"], "enforce");

    let (status, body) = status_and_body(
        api.post(
            "/api/v1/events",
            &json!({"event_type": "order.created", "payload": bad_order()}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "schema_violation", "{body}");
    let expected: BTreeSet<(Option<u64>, String, String)> = [
        (None, "", "required"),
        (None, "/amount", "minimum"),
        (None, "/currency", "enum"),
    ]
    .into_iter()
    .map(|(i, p, k)| (i, p.to_owned(), k.to_owned()))
    .collect();
    assert_eq!(pointers(&body), expected, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    for named in [
        "order.created's schema (version 1)",
        "(the payload): required",
        "/amount: minimum",
        "/currency: enum",
    ] {
        assert!(message.contains(named), "{named} in {message}");
    }
    // The payload's values are not repeated back.
    assert!(!message.contains("GBP"), "{message}");
    assert!(events_of(&api, "order.created").await.is_empty());

    // A batch with one bad event stores none of them.
    let (status, body) = status_and_body(
        api.post(
            "/api/v1/events/batch",
            &json!({"events": [
                {"event_type": "order.created", "payload": good_order()},
                {"event_type": "order.created", "payload": {"order_id": "ord_2", "amount": "12"}},
                {"event_type": "order.created", "payload": good_order()},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        pointers(&body),
        [(Some(1), "/amount".to_owned(), "type".to_owned())].into(),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("events[1].payload: refused by order.created's schema"),
        "{body}"
    );
    assert!(events_of(&api, "order.created").await.is_empty());

    // A conforming event goes in and records the version that checked it;
    // a type without a schema is not checked.
    let id = api.publish("order.created", good_order()).await;
    let event = api.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(event["schema_version"], 1, "{event}");
    assert!(event.get("schema_problems").is_none(), "{event}");
    let other = api
        .publish("user.signed_up", json!({"anything": true}))
        .await;
    let other = api.get(&format!("/api/v1/events/{other}")).await;
    assert!(other.get("schema_version").is_none(), "{other}");

    let metrics = server.metrics().await;
    assert!(
        metrics.contains("herald_schema_violations_total{outcome=\"refused\"} 2"),
        "one single and one batch event refused:\n{metrics}"
    );
}

#[tokio::test]
async fn warn_stores_the_event_flagged_and_counts_it() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    register_orders(&api).await;
    set_tenant(&api, json!({"schema_mode": "warn"})).await;

    let bad = api.publish("order.created", bad_order()).await;
    let good = api.publish("order.created", good_order()).await;
    let event = api.get(&format!("/api/v1/events/{bad}")).await;
    assert_eq!(event["schema_version"], 1, "{event}");
    let flagged: BTreeSet<String> = event["schema_problems"]
        .as_array()
        .expect("the problems are stored with the event")
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["pointer"].as_str().unwrap(),
                p["keyword"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        flagged,
        [" required", "/amount minimum", "/currency enum"]
            .map(String::from)
            .into(),
        "{event}"
    );
    let event = api.get(&format!("/api/v1/events/{good}")).await;
    assert_eq!(event["schema_version"], 1, "{event}");
    assert!(event.get("schema_problems").is_none(), "{event}");

    let catalog = api.get("/api/v1/event-types").await;
    let orders = catalog["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event_type"] == "order.created")
        .expect("the type is listed")
        .clone();
    assert_eq!(
        (
            &orders["events"],
            &orders["schema_warnings"],
            &orders["registered"]
        ),
        (&json!(2), &json!(1), &json!(true)),
        "{orders}"
    );
    let detail = api.get("/api/v1/event-types/order.created").await;
    assert_eq!(detail["schema_warnings"], 1, "{detail}");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("herald_schema_violations_total{outcome=\"warned\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn off_checks_nothing() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    register_orders(&api).await;
    assert_eq!(api.get("/api/v1/tenant").await["schema_mode"], "off");

    let id = api.publish("order.created", bad_order()).await;
    let event = api.get(&format!("/api/v1/events/{id}")).await;
    assert!(event.get("schema_version").is_none(), "{event}");
    assert!(event.get("schema_problems").is_none(), "{event}");
    assert_eq!(event["payload"], bad_order());
    let detail = api.get("/api/v1/event-types/order.created").await;
    assert_eq!(
        (&detail["events"], &detail["schema_warnings"]),
        (&json!(1), &json!(0))
    );
    let metrics = server.metrics().await;
    for outcome in ["warned", "refused"] {
        assert!(
            metrics.contains(&format!(
                "herald_schema_violations_total{{outcome=\"{outcome}\"}} 0"
            )),
            "{metrics}"
        );
    }

    // Turning enforce on takes effect at the next publish; off again, the
    // same payload goes in.
    set_tenant(&api, json!({"schema_mode": "enforce"})).await;
    let res = api
        .post(
            "/api/v1/events",
            &json!({"event_type": "order.created", "payload": bad_order()}),
        )
        .await;
    assert_eq!(res.status(), 422);
    set_tenant(&api, json!({"schema_mode": "off"})).await;
    api.publish("order.created", bad_order()).await;
    assert_eq!(events_of(&api, "order.created").await.len(), 2);
}

#[tokio::test]
async fn required_registration_refuses_unknown_and_archived_types() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    register_orders(&api).await;
    set_tenant(&api, json!({"require_registered_types": true})).await;

    let (status, body) = status_and_body(
        api.post(
            "/api/v1/events/batch",
            &json!({"events": [
                {"event_type": "order.created", "payload": good_order()},
                {"event_type": "order.shipped", "payload": {}},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("events[1].event_type: 'order.shipped' is not registered"),
        "{message}"
    );
    assert!(events_of(&api, "order.created").await.is_empty());
    // Schema mode is off: a registered type's payload is not checked.
    api.publish("order.created", bad_order()).await;

    // Deleting archives the type: refused, listed only on request, and
    // restored by a patch.
    let res = api
        .send(
            reqwest::Method::DELETE,
            "/api/v1/event-types/order.created",
            None,
        )
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!((status, &body["archived"]), (200, &json!(true)), "{body}");
    let res = api
        .post(
            "/api/v1/events",
            &json!({"event_type": "order.created", "payload": good_order()}),
        )
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is archived"),
        "{body}"
    );
    let listed = |catalog: &Value| -> Vec<String> {
        catalog["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["event_type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(listed(&api.get("/api/v1/event-types").await).is_empty());
    assert_eq!(
        listed(&api.get("/api/v1/event-types?include_archived=true").await),
        ["order.created"]
    );
    let res = api
        .send(
            reqwest::Method::PATCH,
            "/api/v1/event-types/order.created",
            Some(&json!({"archived": false, "deprecated": true})),
        )
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["archived"], &body["deprecated"]),
        (&json!(false), &json!(true))
    );
    api.publish("order.created", good_order()).await;

    let audit = api.get("/api/v1/audit?action=event_type.delete").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    let audit = api.get("/api/v1/audit?action=event_type.create").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
}

#[tokio::test]
async fn a_version_that_could_refuse_accepted_events_is_refused_unless_breaking() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    register_orders(&api).await;
    for n in 0..5 {
        api.publish(
            "order.created",
            json!({"order_id": format!("ord_{n}"), "amount": n}),
        )
        .await;
    }
    api.publish(
        "order.created",
        json!({"order_id": "ord_x", "amount": 3, "currency": "USD"}),
    )
    .await;

    // Currency required now, and USD no longer allowed: two incompatibilities.
    let mut narrower = order_schema();
    narrower["required"] = json!(["order_id", "amount", "currency"]);
    narrower["properties"]["currency"]["enum"] = json!(["EUR"]);
    let (status, body) = status_and_body(
        api.post(
            "/api/v1/event-types/order.created/versions",
            &json!({"schema": narrower, "dry_run": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["compared_with"], 1, "{body}");
    assert_eq!(
        body["incompatibilities"].as_array().unwrap().len(),
        2,
        "{body}"
    );
    assert_eq!(
        (&body["events_checked"], &body["events_failing"]),
        (&json!(6), &json!(6)),
        "five lack a currency, one is in USD: {body}"
    );
    assert_eq!(body["failures"].as_array().unwrap().len(), 6, "{body}");
    assert!(body.get("registered").is_none());
    // A dry run over the 2 most recent events only.
    let (_, body) = status_and_body(
        api.post(
            "/api/v1/event-types/order.created/versions",
            &json!({"schema": narrower, "dry_run": true, "dry_run_events": 2}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (&body["events_checked"], &body["events_failing"]),
        (&json!(2), &json!(2))
    );

    let (status, body) = status_and_body(
        api.post(
            "/api/v1/event-types/order.created/versions",
            &json!({"schema": narrower}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could refuse events version 1 accepts"),
        "{message}"
    );
    assert!(message.contains("currency"), "{message}");
    assert!(message.contains("enum"), "{message}");
    assert_eq!(
        api.get("/api/v1/event-types/order.created").await["version"],
        1,
        "nothing registered"
    );

    // A compatible change (a new optional property) goes in as version 2.
    let mut wider = order_schema();
    wider["properties"]["note"] = json!({"type": "string"});
    let (status, body) = status_and_body(
        api.post(
            "/api/v1/event-types/order.created/versions",
            &json!({"schema": wider, "examples": [good_order()]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["registered"]["version"], 2, "{body}");
    assert_eq!(body["registered"]["breaking"], false, "{body}");

    // Marked breaking, the narrower one is registered as version 3, and the
    // history keeps all three.
    let (status, body) = status_and_body(
        api.post(
            "/api/v1/event-types/order.created/versions",
            &json!({"schema": narrower, "breaking": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (
            &body["registered"]["version"],
            &body["registered"]["breaking"]
        ),
        (&json!(3), &json!(true)),
        "{body}"
    );
    let versions = api.get("/api/v1/event-types/order.created/versions").await;
    let numbers: Vec<u64> = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    let audit = api.get("/api/v1/audit?action=event_type.version").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 3, "{audit}");
}

#[tokio::test]
async fn bad_catalog_input_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    register_orders(&api).await;
    let cases = [
        (json!({"name": "Order Created"}), 422, "name"),
        (json!({"name": "order.created"}), 409, "registered already"),
        (
            json!({"name": "x.y", "schema": {"type": "nonsense"}}),
            422,
            "schema",
        ),
        (
            json!({"name": "x.y", "schema": order_schema(), "examples": [bad_order()]}),
            422,
            "examples[0]",
        ),
        (json!({"name": "x.y", "examples": [{}]}), 422, "examples"),
        (json!({"name": "x.y", "schema": 5}), 422, "schema"),
        (json!({"name": "x.y", "schema": true}), 422, "schema"),
        (
            json!({"name": "x.y", "schema": {}, "examples": [[1], 2]}),
            422,
            "examples[0]",
        ),
        (json!({"name": "x.y", "colour": "red"}), 422, "colour"),
    ];
    for (body, expected, named) in cases {
        let (status, answer) = status_and_body(api.post("/api/v1/event-types", &body).await).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(answer.to_string().contains(named), "{named} in {answer}");
    }
    let names: Vec<Value> = api.get("/api/v1/event-types").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["event_type"].clone())
        .collect();
    assert_eq!(names, [json!("order.created")]);
    for (path, body, expected) in [
        (
            "/api/v1/event-types/nope/versions",
            json!({"schema": {}}),
            404,
        ),
        (
            "/api/v1/event-types/order.created/versions",
            json!({"schema": {}, "dry_run": true, "dry_run_events": 0}),
            422,
        ),
        (
            "/api/v1/event-types/order.created/versions",
            json!({"schema": {"minimum": "zero"}}),
            422,
        ),
    ] {
        let (status, answer) = status_and_body(api.post(path, &body).await).await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
    }
    let res = api
        .send(reqwest::Method::GET, "/api/v1/event-types/nope", None)
        .await;
    assert_eq!(res.status(), 404);
    let res = api
        .send(
            reqwest::Method::GET,
            "/api/v1/event-types?include_archived=maybe",
            None,
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = api
        .send(
            reqwest::Method::PATCH,
            "/api/v1/tenant",
            Some(&json!({"schema_mode": "strict"})),
        )
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(api.get("/api/v1/tenant").await["schema_mode"], "off");
    assert_eq!(
        api.get("/api/v1/event-types/order.created").await["version"],
        1
    );
}
