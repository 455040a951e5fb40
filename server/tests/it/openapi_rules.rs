//! The OpenAPI document's rules are the server's: every enum lists exactly
//! the values the code produces, and the patterns and the rules between
//! fields accept exactly what the server accepts.

use std::collections::BTreeSet;

use herald_engine::model::{EndpointKind, Scope};
use serde_json::{Value, json};

use crate::harness::TestServer;
use crate::openapi::{document, operations, validator};

/// Every value of an enum the code can produce, as the wire spells it.
fn wire<T: serde::Serialize>(values: &[T]) -> BTreeSet<String> {
    values
        .iter()
        .map(|v| {
            serde_json::to_value(v)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The values a schema of the document allows (its `enum`, or the `enum`s
/// of its `oneOf` branches, as utoipa writes documented variants).
fn documented(doc: &Value, schema: &str) -> BTreeSet<String> {
    let s = &doc["components"]["schemas"][schema];
    assert!(!s.is_null(), "no schema {schema} in the document");
    let mut out = BTreeSet::new();
    let mut collect = |s: &Value| {
        for v in s["enum"].as_array().into_iter().flatten() {
            out.insert(v.as_str().unwrap().to_owned());
        }
    };
    collect(s);
    for branch in s["oneOf"].as_array().into_iter().flatten() {
        collect(branch);
    }
    out
}

#[tokio::test]
async fn documented_enum_values_are_the_ones_the_code_produces() {
    use herald_engine::model::{
        DeliveryState, ErrorClass, Granularity, GroupBy, ReplayState, Semantics, Trigger,
    };
    use herald_engine::store::DuplicateOf;
    // Each list is next to a match that stops compiling when a variant is
    // added, so a new value cannot be left out of the comparison.
    let _ = |v: DeliveryState| match v {
        DeliveryState::Pending
        | DeliveryState::InFlight
        | DeliveryState::Succeeded
        | DeliveryState::Dead
        | DeliveryState::AwaitingAck => (),
    };
    let states = [
        DeliveryState::Pending,
        DeliveryState::InFlight,
        DeliveryState::Succeeded,
        DeliveryState::Dead,
        DeliveryState::AwaitingAck,
    ];
    let _ = |v: Semantics| match v {
        Semantics::AtLeastOnce | Semantics::AtMostOnce | Semantics::EffectivelyOnce => (),
    };
    let _ = |v: Trigger| match v {
        Trigger::Scheduled | Trigger::Manual | Trigger::Replay | Trigger::AckTimeout => (),
    };
    let _ = |v: ReplayState| match v {
        ReplayState::Pending
        | ReplayState::Running
        | ReplayState::Paused
        | ReplayState::Completed
        | ReplayState::Cancelled
        | ReplayState::Failed => (),
    };
    let _ = |v: GroupBy| match v {
        GroupBy::None | GroupBy::Endpoint | GroupBy::EventType => (),
    };
    let _ = |v: ErrorClass| match v {
        ErrorClass::Dns
        | ErrorClass::Connect
        | ErrorClass::Tls
        | ErrorClass::Timeout
        | ErrorClass::HttpStatus
        | ErrorClass::Connection
        | ErrorClass::InvalidUrl
        | ErrorClass::ResponseTooLarge
        | ErrorClass::BlockedDestination
        | ErrorClass::Internal
        | ErrorClass::Nacked
        | ErrorClass::Transform
        | ErrorClass::OutcomeUnknown => (),
    };
    let _ = |v: DuplicateOf| match v {
        DuplicateOf::IdempotencyKey | DuplicateOf::PayloadWindow => (),
    };

    let server = TestServer::start().await;
    let doc = document(&server).await;
    {
        use herald_server::error::ErrorCode as C;
        // `ErrorCode::ALL` must name every code: this stops compiling when
        // one is added, as a reminder to add it there too.
        let _ = |c: C| match c {
            C::InvalidRequest
            | C::Unauthenticated
            | C::Forbidden
            | C::NotFound
            | C::Conflict
            | C::IdempotencyConflict
            | C::PayloadTooLarge
            | C::UnsupportedMediaType
            | C::Invalid
            | C::SchemaViolation
            | C::UpgradeRequired
            | C::RateLimited
            | C::Internal => (),
        };
    }
    let expected = [
        ("DeliveryState", wire(&states)),
        (
            "Semantics",
            wire(&[
                Semantics::AtLeastOnce,
                Semantics::AtMostOnce,
                Semantics::EffectivelyOnce,
            ]),
        ),
        (
            "Trigger",
            wire(&[
                Trigger::Scheduled,
                Trigger::Manual,
                Trigger::Replay,
                Trigger::AckTimeout,
            ]),
        ),
        (
            "ReplayState",
            wire(&[
                ReplayState::Pending,
                ReplayState::Running,
                ReplayState::Paused,
                ReplayState::Completed,
                ReplayState::Cancelled,
                ReplayState::Failed,
            ]),
        ),
        (
            "GroupBy",
            wire(&[GroupBy::None, GroupBy::Endpoint, GroupBy::EventType]),
        ),
        ("Granularity", wire(&Granularity::ALL)),
        ("Scope", wire(&Scope::ALL)),
        ("EndpointKind", wire(&EndpointKind::ALL)),
        ("ErrorClass", wire(&ErrorClass::ANY)),
        ("DuplicateOf", wire(&DuplicateOf::ALL)),
        ("ErrorCode", wire(&herald_server::error::ErrorCode::ALL)),
    ];
    let mut problems = Vec::new();
    for (schema, code) in &expected {
        let documented = documented(&doc, schema);
        if &documented != code {
            problems.push(format!(
                "{schema}: documented {documented:?}, the code produces {code:?}"
            ));
        }
    }
    // The receipt's duplicate_reason is that enum, not free text.
    let reason = &doc["components"]["schemas"]["EventReceipt"]["properties"]["duplicate_reason"];
    if !reason
        .to_string()
        .contains("#/components/schemas/DuplicateOf")
    {
        problems.push(format!(
            "EventReceipt.duplicate_reason is not the DuplicateOf enum: {reason}"
        ));
    }
    // Enum values written into descriptions name every value the code has.
    let dlq = operations(&doc)
        .into_iter()
        .find(|(m, p, _)| m == "GET" && p == "/api/v1/dlq")
        .expect("GET /api/v1/dlq")
        .2;
    let class_param = dlq["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "error_class")
        .expect("error_class parameter");
    let text = class_param["description"].as_str().unwrap_or_default();
    for class in ErrorClass::ANY {
        if !text.contains(class.as_str()) {
            problems.push(format!(
                "GET /api/v1/dlq error_class does not mention '{}': {text}",
                class.as_str()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // And what the server really sends is documented: a payload-window repeat.
    let key = server.api_key(Scope::All).await;
    let res = server
        .http
        .patch(server.url("/api/v1/tenant"))
        .bearer_auth(&key)
        .json(&json!({"payload_dedup_window_secs": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let mut reasons = BTreeSet::new();
    for _ in 0..2 {
        let res = server
            .http
            .post(server.url("/api/v1/events"))
            .bearer_auth(&key)
            .json(&json!({"event_type": "order.created", "payload": {"n": 1}}))
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        if let Some(r) = body["duplicate_reason"].as_str() {
            reasons.insert(r.to_owned());
        }
    }
    assert_eq!(reasons.len(), 1, "the repeat names its reason");
    assert!(
        reasons.is_subset(&documented(&doc, "DuplicateOf")),
        "{reasons:?} is not documented"
    );
}

/// The string rules the document states for signing secrets are the ones the
/// server applies: over every length from 0 to 80 bytes, canonical base64,
/// base64 without its padding, with extra padding, with stray trailing bits
/// and in the URL-safe alphabet, the schema and `Secret::parse` agree.
#[tokio::test]
async fn the_secret_pattern_accepts_exactly_what_the_server_accepts() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use herald_engine::sign::Secret;
    use rand::RngCore;

    let server = TestServer::start().await;
    let doc = document(&server).await;
    let schemas = [
        &doc["components"]["schemas"]["EndpointIn"]["properties"]["secret"],
        &doc["components"]["schemas"]["RotateIn"]["properties"]["secret"],
    ];
    let mut samples = vec![
        "whsec_".to_owned(),
        "whsec".to_owned(),
        format!("WHSEC_{}", STANDARD.encode([1u8; 32])),
    ];
    let mut rng = rand::thread_rng();
    for n in 0..=80usize {
        let mut key = vec![0u8; n];
        rng.fill_bytes(&mut key);
        // Ends in the character whose low bits padding discards, set.
        if let Some(last) = key.last_mut() {
            *last |= 0x0f;
        }
        let canonical = STANDARD.encode(&key);
        let unpadded = canonical.trim_end_matches('=').to_owned();
        let mut stray_bits = canonical.clone();
        if canonical.ends_with('=') {
            let at = unpadded.len() - 1;
            let c = unpadded.as_bytes()[at] as char;
            let bumped = if c == '/' { '+' } else { (c as u8 + 1) as char };
            stray_bits.replace_range(at..=at, &bumped.to_string());
        }
        for encoded in [
            canonical.clone(),
            unpadded,
            format!("{canonical}="),
            stray_bits,
            URL_SAFE.encode(&key).replace('=', ""),
            format!(" {canonical}"),
        ] {
            samples.push(format!("whsec_{encoded}"));
        }
    }
    let mut accepted = 0;
    for schema in schemas {
        assert!(schema["pattern"].is_string(), "no pattern: {schema}");
        let validator = validator(&doc, schema);
        for s in &samples {
            let server_says = Secret::parse(s).is_ok();
            accepted += usize::from(server_says);
            assert_eq!(
                validator.is_valid(&json!(s)),
                server_says,
                "{s:?}: the schema and the server disagree"
            );
        }
    }
    // Both sides of the rule were tried.
    assert!(accepted > 40 && accepted < samples.len(), "{accepted}");
}

/// The rules between two fields that the document states as JSON Schema
/// (`oneOf`/`anyOf`) are the server's: each body below is valid by the
/// document exactly when the server does not refuse it as malformed.
#[tokio::test]
async fn the_rules_between_fields_in_the_document_are_the_servers() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let api = crate::client::Api::new(&server).await;
    let (endpoint, _) = api
        .endpoint("http://127.0.0.1:9/hook", &["*"], json!({}))
        .await;
    let policy = crate::client::fast_policy(3);
    let dlq_id = "dlq_01J00000000000000000000000";
    let cases = [
        ("/api/v1/dlq/reprocess", json!({"ids": [dlq_id]})),
        ("/api/v1/dlq/reprocess", json!({"filter": {}})),
        (
            "/api/v1/dlq/reprocess",
            json!({"ids": [dlq_id], "filter": null}),
        ),
        ("/api/v1/dlq/reprocess", json!({"ids": null, "filter": {}})),
        (
            "/api/v1/dlq/reprocess",
            json!({"ids": [dlq_id], "filter": {}}),
        ),
        ("/api/v1/dlq/reprocess", json!({})),
        (
            "/api/v1/dlq/reprocess",
            json!({"ids": null, "filter": null}),
        ),
        (
            "/api/v1/endpoints",
            json!({"url": "http://127.0.0.1:9/a", "event_types": ["*"], "retry_policy": policy}),
        ),
        (
            "/api/v1/endpoints",
            json!({"url": "http://127.0.0.1:9/a", "event_types": ["*"], "retry_policy": policy, "retry_policy_id": null}),
        ),
        (
            "/api/v1/endpoints",
            json!({"url": "http://127.0.0.1:9/a", "event_types": ["*"], "retry_policy": policy,
                   "retry_policy_id": "rp_01J00000000000000000000000"}),
        ),
        (
            &*format!("/api/v1/endpoints/{endpoint}"),
            json!({"retry_policy": policy, "retry_policy_id": "rp_01J00000000000000000000000"}),
        ),
        (
            &*format!("/api/v1/endpoints/{endpoint}"),
            json!({"retry_policy": null, "retry_policy_id": null}),
        ),
    ];
    let mut refused = 0;
    for (path, body) in cases {
        let (method, template) = if path.starts_with("/api/v1/endpoints/") {
            ("patch", "/api/v1/endpoints/{id}")
        } else {
            ("post", path)
        };
        let schema =
            &doc["paths"][template][method]["requestBody"]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{method} {template}");
        let valid = validator(&doc, schema).is_valid(&body);
        let res = api
            .send(method.to_uppercase().parse().unwrap(), path, Some(&body))
            .await;
        let status = res.status().as_u16();
        let malformed = matches!(status, 400 | 422);
        refused += usize::from(malformed);
        assert_eq!(
            valid, !malformed,
            "{method} {path} {body}: the document says valid={valid}, the server answered {status}"
        );
    }
    assert_eq!(refused, 5, "both sides of each rule were tried");
}

/// The endpoint URL syntax in the document is the server's: for URLs in the
/// forms people write and the forms the URL standard repairs, the pattern
/// matches exactly when the server creates the endpoint.
#[tokio::test]
async fn the_url_pattern_accepts_exactly_what_the_server_accepts() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let api = crate::client::Api::new(&server).await;
    let schema = &doc["components"]["schemas"]["EndpointIn"]["properties"]["url"];
    assert!(schema["pattern"].is_string(), "no pattern: {schema}");
    let validator = validator(&doc, schema);
    let urls = [
        // Accepted.
        "http://127.0.0.1:9/hook",
        "https://hooks.example.com/in?team=7&x=a%20b",
        "HTTPS://Hooks.Example.COM:8443/a/b/",
        "http://user:p%40ss@hooks.example/x",
        "http://[::1]:9/hook",
        "http://[2001:db8::7f00:1]/",
        "http://[::ffff:127.0.0.1]:8080/x",
        "http://[1:2:3:4:5:6:7::]/",
        "http://xn--mnchen-3ya.de/",
        "http://a_b.example/",
        "http://host:65535/",
        "http://host.example",
        "http://1.2.3.example/",
        // Refused: spaces, fragments, repaired forms, out-of-range parts.
        "",
        " http://host.example/",
        "http://host.example/ ",
        "http://host.example/#frag",
        "http:host.example",
        "http:\\\\host.example",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://256.1.1.1/",
        "http://01.2.3.4/",
        "http://host:65536/",
        "http://host:/",
        "http://münchen.de/",
        "http://host.example/ä",
        "ftp://host.example/",
        "http://",
        "http://[::1/",
        "http://[1:2:3:4:5:6:7:8:9]/",
        "http://a b/",
        "http://host.example/<x>",
    ];
    let mut accepted = 0;
    for url in urls {
        let body = json!({"url": url, "event_types": ["*"]});
        let (status, answer) =
            crate::client::status_and_body(api.post("/api/v1/endpoints", &body).await).await;
        assert!(status == 201 || status == 422, "{url:?}: {status} {answer}");
        accepted += usize::from(status == 201);
        assert_eq!(
            validator.is_valid(&json!(url)),
            status == 201,
            "{url:?}: the pattern and the server disagree ({status} {answer})"
        );
    }
    assert_eq!(accepted, 13);
}
