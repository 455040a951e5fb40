//! The console's event types pages, through their server functions: the
//! schema editor's checks, a type's page (versions with their diffs,
//! recent validation failures) and the AsyncAPI download.

use herald_engine::model::Role;
use serde_json::{Value, json};

use crate::catalog::{bad_order, good_order, order_schema, register_orders, set_tenant};
use crate::client::{Api, status_and_body};
use crate::harness::TestServer;

async fn call(
    server: &TestServer,
    cookie: &str,
    function: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    status_and_body(server.console_call(cookie, function, form).await).await
}

async fn developer(server: &TestServer) -> String {
    server
        .create_user("dev@herald.test", "dev-password-1", Role::Developer)
        .await;
    server
        .sign_in("dev@herald.test", "dev-password-1")
        .await
        .expect("the developer signs in")
}

/// As typed: JSON that is not yet JSON is named with its place; a schema
/// that is not one says why; each example gets its verdict; a draft for a
/// registered type names what could refuse events its current version
/// accepts.
#[tokio::test]
async fn the_schema_editor_checks_a_draft_as_it_is_typed() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    register_orders(&api).await;
    let cookie = developer(&server).await;

    let (status, body) = call(
        &server,
        &cookie,
        "check_schema_draft",
        &[("schema", "{\"type\": ")],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("not JSON"), "{body}");

    let (status, body) = call(
        &server,
        &cookie,
        "check_schema_draft",
        &[("schema", r#"{"type": "nonsense"}"#)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["schema_error"]
            .as_str()
            .unwrap()
            .starts_with("not a JSON Schema"),
        "{body}"
    );

    let mut narrower = order_schema();
    narrower["required"] = json!(["order_id", "amount", "currency"]);
    let examples = json!([good_order(), bad_order()]).to_string();
    let (status, body) = call(
        &server,
        &cookie,
        "check_schema_draft",
        &[
            ("name", "order.created"),
            ("schema", &narrower.to_string()),
            ("examples", &examples),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["schema_error"], Value::Null, "{body}");
    assert_eq!(body["examples"][0]["problems"], json!([]), "{body}");
    let pointers: Vec<&str> = body["examples"][1]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pointer"].as_str().unwrap())
        .collect();
    assert!(
        pointers.contains(&"/amount") && pointers.contains(&"/currency"),
        "{body}"
    );
    assert_eq!(body["compared_with"], 1, "{body}");
    assert_eq!(
        body["incompatibilities"][0]["keyword"], "required",
        "{body}"
    );

    // Nothing was registered by checking.
    assert_eq!(
        api.get("/api/v1/event-types/order.created").await["version"],
        1
    );
}

/// A type's page: versions newest first with a diff from the one before;
/// refused events (enforce) with their problems and source; events
/// accepted with problems (warn) linked by id; a dry run's count.
#[tokio::test]
async fn a_type_page_shows_versions_diffs_and_recent_validation_failures() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let cookie = developer(&server).await;

    let (status, body) = call(
        &server,
        &cookie,
        "register_event_type",
        &[
            ("form[name]", "order.created"),
            ("form[description]", "An order was placed."),
            ("form[schema]", &order_schema().to_string()),
            ("form[examples]", &json!([bad_order()]).to_string()),
        ],
    )
    .await;
    assert_eq!(status, 422, "an example the schema refuses: {body}");
    assert!(body.to_string().contains("examples[0]"), "{body}");
    let (status, body) = call(
        &server,
        &cookie,
        "register_event_type",
        &[
            ("form[name]", "order.created"),
            ("form[schema]", &order_schema().to_string()),
            ("form[examples]", &json!([good_order()]).to_string()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 1, "{body}");

    set_tenant(&api, json!({"schema_mode": "enforce"})).await;
    let refused = api
        .post(
            "/api/v1/events",
            &json!({"event_type": "order.created", "source": "shop", "payload": bad_order()}),
        )
        .await;
    assert_eq!(refused.status().as_u16(), 422);
    set_tenant(&api, json!({"schema_mode": "warn"})).await;
    let flagged = api.publish("order.created", bad_order()).await;
    api.publish("order.created", good_order()).await;

    let mut wider = order_schema();
    wider["properties"]["note"] = json!({"type": "string"});
    let (status, body) = call(
        &server,
        &cookie,
        "add_schema_version",
        &[
            ("name", "order.created"),
            ("schema", &wider.to_string()),
            ("dry_run", "true"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["events_checked"].as_u64(),
            body["events_failing"].as_u64()
        ),
        (Some(2), Some(1)),
        "{body}"
    );
    assert_eq!(
        api.get("/api/v1/event-types/order.created").await["version"],
        1,
        "a dry run registers nothing"
    );
    let (status, body) = call(
        &server,
        &cookie,
        "add_schema_version",
        &[("name", "order.created"), ("schema", &wider.to_string())],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["registered"]["version"], 2, "{body}");

    let (status, page) = call(
        &server,
        &cookie,
        "get_event_type",
        &[("name", "order.created")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["events"], 2, "{page}");
    assert_eq!(page["mode"], "warn", "{page}");
    let changes = page["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{page}");
    assert_eq!(changes[0]["version"], 2, "newest first: {page}");
    let added: Vec<&str> = changes[0]["diff"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["sign"] == "+")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(added.iter().any(|l| l.contains("\"note\"")), "{page}");
    assert!(
        !changes[0]["diff"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["sign"] == "-"),
        "only added lines: {page}"
    );
    assert_eq!(changes[0]["incompatibilities"], json!([]), "{page}");
    assert!(
        changes[1]["diff"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["sign"] == "+"),
        "the first version is all new: {page}"
    );

    let refused = page["failures"]["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{page}");
    assert_eq!(refused[0]["source"], "shop", "{page}");
    assert_eq!(refused[0]["version"], 1, "{page}");
    let keywords: Vec<&str> = refused[0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["keyword"].as_str().unwrap())
        .collect();
    assert!(
        keywords.contains(&"minimum") && keywords.contains(&"required"),
        "{page}"
    );
    let flagged_list = page["failures"]["flagged"].as_array().unwrap();
    assert_eq!(flagged_list.len(), 1, "{page}");
    assert_eq!(flagged_list[0]["event_id"], flagged.as_str(), "{page}");
    // The API says the same.
    assert_eq!(
        api.get("/api/v1/event-types/order.created/failures").await,
        page["failures"]
    );
    let (status, body) = status_and_body(
        api.send(
            reqwest::Method::GET,
            "/api/v1/event-types/user.signed_up/failures",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 404, "not registered: {body}");
    // And the command line.
    let (ok, out, err) = crate::cli::remote(
        &server,
        &api.key,
        &["event-types", "failures", "order.created"],
    )
    .await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("WHEN"), "{out}");
    assert!(
        lines[1].contains("refused")
            && lines[1].contains("shop")
            && lines[1].contains("/amount: minimum"),
        "{out}"
    );
    assert!(
        lines[2].contains("flagged") && lines[2].contains(flagged.as_str()),
        "{out}"
    );

    // Deprecated, then archived, from the page; only what changed is sent.
    let (status, body) = call(
        &server,
        &cookie,
        "update_event_type",
        &[("name", "order.created"), ("deprecated", "true")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let now = api.get("/api/v1/event-types/order.created").await;
    assert_eq!(
        (now["deprecated"].clone(), now["archived"].clone()),
        (json!(true), json!(false)),
        "{now}"
    );
    let (status, body) = call(
        &server,
        &cookie,
        "update_event_type",
        &[
            ("name", "order.created"),
            ("deprecated", "true"),
            ("archived", "true"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        api.get("/api/v1/event-types/order.created").await["archived"],
        true
    );
    let audit = api.get("/api/v1/audit?target=order.created").await;
    let summaries: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"].as_str().unwrap_or_default())
        .collect();
    assert!(
        summaries
            .iter()
            .any(|s| s.contains("archived event type order.created")),
        "{audit}"
    );

    // A type only published, never registered, has a page without versions.
    api.publish("user.signed_up", json!({"id": "u1"})).await;
    let (status, page) = call(
        &server,
        &cookie,
        "get_event_type",
        &[("name", "user.signed_up")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        (page["detail"].clone(), page["events"].clone()),
        (Value::Null, json!(1)),
        "{page}"
    );
    let (status, body) = call(
        &server,
        &cookie,
        "get_event_type",
        &[("name", "nothing.here")],
    )
    .await;
    assert_eq!(status, 404, "{body}");
}

/// The console's AsyncAPI link: the API's document for the signed-in
/// user's tenant, as a download; nothing without a session.
#[tokio::test]
async fn the_console_downloads_the_asyncapi_document_with_a_session() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    register_orders(&api).await;
    server
        .create_user("viewer@herald.test", "viewer-password-1", Role::Viewer)
        .await;
    let cookie = server
        .sign_in("viewer@herald.test", "viewer-password-1")
        .await
        .unwrap();

    let res = server.console_page(&cookie, "/fn/asyncapi_document").await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
        "{:?}",
        res.headers()
    );
    let document: Value = res.json().await.unwrap();
    assert_eq!(document, api.get("/api/v1/event-types/asyncapi.json").await);
    assert!(
        document["channels"].to_string().contains("order.created"),
        "{document}"
    );

    let res = server.console_page("", "/asyncapi.json").await;
    assert_eq!(res.status().as_u16(), 303, "{:?}", res.headers());
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
}
