//! `/api/v1/openapi.json`: valid OpenAPI 3.1 (checked against the OpenAPI
//! Initiative's JSON Schemas, kept under `tests/fixtures/openapi-3.1`), listing
//! every route the routers serve, each with examples and error responses, the
//! examples matching their schemas, and real answers matching them too.

use std::collections::BTreeSet;
use std::time::Duration;

use herald_engine::model::Scope;
use jsonschema::Registry;
use serde_json::{Value, json};

use crate::harness::TestServer;
use crate::receiver::Receiver;

const METHODS: [&str; 5] = ["get", "post", "patch", "put", "delete"];

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/openapi-3.1/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub(crate) async fn document(server: &TestServer) -> Value {
    // No key: the document is public.
    let res = server
        .http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    res.json().await.unwrap()
}

/// `(method, path, operation)` for every operation in the document.
pub(crate) fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );

    let registry = Registry::new()
        .add(
            "https://spec.openapis.org/oas/3.1/schema/2021-04-15",
            fixture("schema.json"),
        )
        .unwrap()
        .add(
            "https://spec.openapis.org/oas/3.1/dialect/base",
            fixture("dialect-base.schema.json"),
        )
        .unwrap()
        .add(
            "https://spec.openapis.org/oas/3.1/meta/base",
            fixture("meta-base.schema.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    // The structure, then every Schema Object in the OAS base dialect.
    for schema in ["schema.json", "schema-base.json"] {
        let validator = jsonschema::options()
            .with_registry(&registry)
            .build(&fixture(schema))
            .unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{schema}: {errors:#?}");

        // The validator does reject a broken document.
        let mut broken = doc.clone();
        broken["paths"]["/api/v1/tenant"]["get"]["responses"]["200"] = json!({"content": {}});
        assert!(
            !validator.is_valid(&broken),
            "{schema} accepted a response without a description"
        );
    }
}

#[tokio::test]
async fn the_document_lists_every_route_the_server_serves() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let served = crate::routes::served();
    assert!(served.len() > 40, "the route reader found only {served:?}");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes without documentation (add #[utoipa::path] and register the handler with routes!): {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented routes no router serves: {unserved:?}"
    );
}

#[tokio::test]
async fn every_operation_has_a_summary_examples_and_its_errors() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let mut problems = Vec::new();
    for (method, path, op) in operations(&doc) {
        let name = format!("{method} {path}");
        if op["summary"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{name}: no summary"));
        }
        if op["tags"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("{name}: no tag"));
        }
        if let Some(body) = op.get("requestBody") {
            let media = &body["content"]["application/json"];
            if media["example"].is_null() {
                problems.push(format!("{name}: request body without an example"));
            }
        }
        let responses = op["responses"].as_object().unwrap();
        let mut successes = 0;
        for (status, response) in responses {
            let has_content = response
                .get("content")
                .and_then(Value::as_object)
                .is_some_and(|c| !c.is_empty());
            if status.starts_with('2') || status == "101" {
                successes += 1;
                if status != "204" && !has_content {
                    problems.push(format!("{name}: {status} without content"));
                }
            }
            if has_content {
                for (kind, media) in response["content"].as_object().unwrap() {
                    if media["example"].is_null() {
                        problems.push(format!("{name}: {status} {kind} without an example"));
                    }
                }
            }
        }
        if successes == 0 {
            problems.push(format!("{name}: no success response"));
        }
        let keyless = herald_server::api::docs::KEYLESS.contains(&path.as_str());
        if keyless {
            for status in ["400", "401", "429", "500"] {
                if !responses.contains_key(status) {
                    problems.push(format!("{name}: {status} not documented"));
                }
            }
            if op["security"].as_array().is_none_or(|s| !s.is_empty()) {
                problems.push(format!(
                    "{name}: a keyless operation must say it needs no key"
                ));
            }
        } else if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json" {
            for status in ["401", "403", "429", "500"] {
                if !responses.contains_key(status) {
                    problems.push(format!("{name}: {status} not documented"));
                }
            }
            if op["security"][0].get("api_key").is_none() {
                problems.push(format!("{name}: no security requirement"));
            }
        }
        if !responses.keys().any(|s| s.starts_with('4'))
            && path.starts_with("/api/")
            && path != "/api/v1/openapi.json"
        {
            problems.push(format!("{name}: no client error documented"));
        }
        // Every `{param}` in the path is a documented path parameter.
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
                && !params.contains(&name)
            {
                problems.push(format!("{name}: path parameter '{name}' not documented"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A validator for a schema of the document (a `$ref` into its components).
pub(crate) fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    if let Some(object) = root.as_object_mut() {
        object.insert("components".into(), doc["components"].clone());
    } else {
        root = json!({"allOf": [schema], "components": doc["components"]});
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {schema}: {e}"))
}

fn check(doc: &Value, what: &str, schema: &Value, value: &Value, problems: &mut Vec<String>) {
    let validator = validator(doc, schema);
    for e in validator.iter_errors(value) {
        problems.push(format!("{what}: {e} at {}", e.instance_path()));
    }
}

#[tokio::test]
async fn every_example_matches_its_schema() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let mut problems = Vec::new();
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        let name = format!("{method} {path}");
        if let Some(media) = op["requestBody"]["content"]["application/json"].as_object() {
            check(
                &doc,
                &format!("{name} request"),
                &media["schema"],
                &media["example"],
                &mut problems,
            );
            checked += 1;
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            if let Some(media) = response["content"]["application/json"].as_object()
                && media.contains_key("schema")
            {
                check(
                    &doc,
                    &format!("{name} {status}"),
                    &media["schema"],
                    &media["example"],
                    &mut problems,
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} examples checked");
    assert!(problems.is_empty(), "{problems:#?}");

    // The check can fail: an endpoint without its url does not pass.
    let mut wrong = Vec::new();
    check(
        &doc,
        "a broken example",
        &json!({"$ref": "#/components/schemas/EndpointOut"}),
        &json!({"id": "ep_01JD5Q9B7C2D3E4F5G6H7J8K9M"}),
        &mut wrong,
    );
    assert!(!wrong.is_empty());
}

/// The schema the document gives for an answer.
fn response_schema(doc: &Value, method: &str, path: &str, status: u16) -> Value {
    let schema = &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} {status} has no documented schema"
    );
    schema.clone()
}

#[tokio::test]
async fn real_answers_match_the_documented_schemas() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let key = server.api_key(Scope::All).await;
    let receiver = Receiver::ok().await;
    let http = &server.http;
    let mut problems = Vec::new();
    let mut seen = 0;

    let mut call =
        async |method: &str, doc_path: &str, url: String, body: Option<Value>, status: u16| {
            let mut request = http
                .request(method.to_uppercase().parse().unwrap(), server.url(&url))
                .bearer_auth(&key);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let res = request.send().await.unwrap();
            assert_eq!(res.status(), status, "{method} {url}");
            let value: Value = res.json().await.unwrap();
            check(
                &doc,
                &format!("{method} {doc_path} {status} (real answer)"),
                &response_schema(&doc, method, doc_path, status),
                &value,
                &mut problems,
            );
            seen += 1;
            value
        };

    let endpoint = call(
        "post",
        "/api/v1/endpoints",
        "/api/v1/endpoints".into(),
        Some(json!({"url": receiver.url, "event_types": ["order.*"]})),
        201,
    )
    .await;
    let ep = endpoint["id"].as_str().unwrap().to_string();
    let event = call(
        "post",
        "/api/v1/events",
        "/api/v1/events".into(),
        Some(json!({"event_type": "order.created", "payload": {"n": 1}, "idempotency_key": "k1"})),
        202,
    )
    .await;
    let evt = event["id"].as_str().unwrap().to_string();
    call(
        "post",
        "/api/v1/events",
        "/api/v1/events".into(),
        Some(json!({"event_type": "order.created", "payload": {"n": 1}, "idempotency_key": "k1"})),
        200,
    )
    .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    call("get", "/api/v1/tenant", "/api/v1/tenant".into(), None, 200).await;
    call(
        "get",
        "/api/v1/endpoints/{id}",
        format!("/api/v1/endpoints/{ep}"),
        None,
        200,
    )
    .await;
    call(
        "get",
        "/api/v1/endpoints",
        "/api/v1/endpoints".into(),
        None,
        200,
    )
    .await;
    call("get", "/api/v1/events", "/api/v1/events".into(), None, 200).await;
    call(
        "get",
        "/api/v1/event-types",
        "/api/v1/event-types".into(),
        None,
        200,
    )
    .await;
    call("get", "/api/v1/stats", "/api/v1/stats".into(), None, 200).await;
    call(
        "get",
        "/api/v1/checkpoints",
        "/api/v1/checkpoints".into(),
        None,
        200,
    )
    .await;
    call("get", "/api/v1/audit", "/api/v1/audit".into(), None, 200).await;
    call(
        "post",
        "/api/v1/replays",
        "/api/v1/replays".into(),
        Some(json!({"dry_run": true})),
        200,
    )
    .await;
    call(
        "post",
        "/api/v1/events/{id}/replay",
        format!("/api/v1/events/{evt}/replay"),
        Some(json!({})),
        202,
    )
    .await;
    call(
        "post",
        "/api/v1/endpoints/{id}/test",
        format!("/api/v1/endpoints/{ep}/test"),
        Some(json!({})),
        202,
    )
    .await;
    // The event after its deliveries settle (the replay and the test event too).
    receiver.wait_for(3, Duration::from_secs(10)).await;
    call(
        "get",
        "/api/v1/events/{id}",
        format!("/api/v1/events/{evt}"),
        None,
        200,
    )
    .await;
    // Expunged once its deliveries settled (none is in flight).
    call(
        "post",
        "/api/v1/events/{id}/expunge",
        format!("/api/v1/events/{evt}/expunge"),
        Some(json!({"reason": "erasure request"})),
        200,
    )
    .await;
    // An error answer has the documented error format.
    call(
        "get",
        "/api/v1/events/{id}",
        "/api/v1/events/evt_nope".into(),
        None,
        404,
    )
    .await;
    call(
        "post",
        "/api/v1/endpoints",
        "/api/v1/endpoints".into(),
        Some(json!({"url": "not a url", "event_types": ["a"]})),
        422,
    )
    .await;
    assert_eq!(seen, 18);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn herald_openapi_prints_the_document_the_server_serves() {
    let server = TestServer::start().await;
    let served = document(&server).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("openapi")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, served);
}
