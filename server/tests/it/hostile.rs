//! What a hostile tester tried (`SECURITY-REVIEW.md`), each refused with a
//! clear 4xx, contained, or answered cleanly: never a 500, a panic, a leak or
//! a change to someone else's data.

use std::time::Duration;

use herald_engine::model::{Role, Scope};
use serde_json::{Value, json};

use crate::client::{Api, status_and_body};
use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn test_events_are_marked_and_only_a_publisher_chooses_their_type() {
    let server = TestServer::start().await;
    let all = Api::new(&server).await;
    let manage = Api {
        server: &server,
        key: server.api_key(Scope::Manage).await,
    };
    let receiver = Receiver::ok().await;
    let (endpoint, _) = all.endpoint(&receiver.url, &["order.*"], json!({})).await;
    let test = format!("/api/v1/endpoints/{endpoint}/test");

    // A key that may not publish cannot make a test event look like a real one.
    let (status, body) = status_and_body(
        manage
            .post(
                &test,
                &json!({"event_type": "order.paid", "payload": {"amount": 100000}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("herald.test"),
        "{body}"
    );
    // It may send herald.test (with its own payload), marked.
    let (status, body) =
        status_and_body(manage.post(&test, &json!({"payload": {"amount": 1}})).await).await;
    assert_eq!(status, 202, "{body}");
    // A key that may publish chooses the type; still marked.
    let (status, body) =
        status_and_body(all.post(&test, &json!({"event_type": "order.paid"})).await).await;
    assert_eq!(status, 202, "{body}");
    // A real event is not marked.
    all.publish("order.created", json!({"real": true})).await;

    let got = receiver.wait_for(3, Duration::from_secs(20)).await;
    let seen: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            (
                r.header("herald-event-type").to_owned(),
                r.header("herald-test").to_owned(),
            )
        })
        .collect();
    assert!(
        seen.contains(&("herald.test".into(), "true".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("order.paid".into(), "true".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("order.created".into(), String::new())),
        "{seen:?}"
    );
}

/// Posts the sign-in form with `next`; returns the status and `Location`.
async fn sign_in_with_next(server: &TestServer, next: &str) -> (u16, String) {
    let res = server
        .http
        .post(server.url("/fn/login"))
        .header("accept", "text/html")
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("next", next),
        ])
        .send()
        .await
        .unwrap();
    let location = res
        .headers()
        .get("location")
        .or_else(|| res.headers().get("serverfnredirect"))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    (res.status().as_u16(), location)
}

#[tokio::test]
async fn sign_in_never_redirects_off_site_and_never_fails_on_next() {
    let server = TestServer::start_with(|c| c.login_rate_limit = 0).await;
    for next in [
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\\evil.example",
        "//evil.example",
        "/\x0b/x",
        "/\x0c/x",
        "/\x00/x",
        "/\x7f/x",
        "https://evil.example/",
    ] {
        let (status, location) = sign_in_with_next(&server, next).await;
        assert!(status < 500, "next={next:?}: {status}");
        assert_eq!(location, "/", "next={next:?} must not be followed");
    }
    let (_, location) = sign_in_with_next(&server, "/events?type=order.%2A").await;
    assert_eq!(
        location, "/events?type=order.%2A",
        "a local path is followed"
    );
}

#[tokio::test]
async fn url_credentials_are_masked_for_readers_and_in_the_audit_log() {
    let server = TestServer::start().await;
    let all = Api::new(&server).await;
    let read = Api {
        server: &server,
        key: server.api_key(Scope::Read).await,
    };
    let receiver = Receiver::ok().await;
    let url = receiver
        .url
        .replacen("http://", "http://user:s3cr3t-pass@", 1)
        + "?token=abc123";
    let (endpoint, _) = all.endpoint(&url, &["n.n"], json!({})).await;

    let whole = all.get(&format!("/api/v1/endpoints/{endpoint}")).await;
    assert_eq!(whole["url"], url.as_str(), "a manager sees it whole");
    for body in [
        read.get(&format!("/api/v1/endpoints/{endpoint}")).await,
        read.get("/api/v1/endpoints").await,
        all.get("/api/v1/audit?action=endpoint.create").await,
    ] {
        let text = body.to_string();
        assert!(
            !text.contains("s3cr3t-pass") && !text.contains("abc123"),
            "a secret shows: {text}"
        );
    }
    let masked = read.get(&format!("/api/v1/endpoints/{endpoint}")).await;
    assert!(
        masked["url"].as_str().unwrap().contains("***@127.0.0.1")
            && masked["url"].as_str().unwrap().ends_with("?token=***"),
        "{masked}"
    );
}

#[tokio::test]
async fn a_live_socket_opened_with_a_key_closes_when_the_key_is_revoked() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let server = TestServer::start().await;
    let admin = Api::new(&server).await;
    let (status, created) = status_and_body(
        admin
            .post(
                "/api/v1/api-keys",
                &json!({"name": "watcher", "scope": "read"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let mut request = server
        .url("/api/v1/live")
        .replacen("http", "ws", 1)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", created["key"].as_str().unwrap())
            .parse()
            .unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let res = admin
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/api-keys/{}", created["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                other => panic!("the socket ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("the socket closes within 10 s of the revocation")
    .expect("a close frame with a reason");
    assert_eq!(u16::from(closed.code), 4001);
    assert!(closed.reason.contains("revoked"), "{}", closed.reason);
}

/// A client whose requests come from `ip` (any 127.x address reaches the server).
fn client_from(server: &TestServer, ip: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ORIGIN, server.base.parse().unwrap());
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn sign_in_from(server: &TestServer, ip: &str, email: &str, password: &str) -> u16 {
    client_from(server, ip)
        .post(server.url("/fn/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn knowing_an_email_is_not_enough_to_keep_its_owner_out() {
    let server = TestServer::start_with(|c| c.login_rate_limit = 0).await;
    let (email, password) = ("ops@herald.test", "ops-password-1");
    server.create_user(email, password, Role::Operator).await;

    // A guesser at one address locks only that address out.
    for _ in 0..5 {
        assert_eq!(
            sign_in_from(&server, "127.0.0.2", email, "guess").await,
            401
        );
    }
    assert_eq!(
        sign_in_from(&server, "127.0.0.2", email, password).await,
        429,
        "the guessing address waits, even with the right password"
    );
    assert_eq!(
        sign_in_from(&server, "127.0.0.3", email, password).await,
        200,
        "the owner, elsewhere, signs in"
    );

    // Guessing spread over many addresses locks the account after 50 failures
    // for every address that failed recently: each new address then gets one
    // guess, not five.
    for i in 0..10 {
        let ip = format!("127.0.1.{}", i + 1);
        for _ in 0..5 {
            assert_eq!(sign_in_from(&server, &ip, email, "guess").await, 401);
        }
    }
    assert_eq!(
        sign_in_from(&server, "127.0.1.200", email, "guess").await,
        401
    );
    assert_eq!(
        sign_in_from(&server, "127.0.1.200", email, password).await,
        429,
        "after one failure during the account's lock, an address waits"
    );
    assert_eq!(
        sign_in_from(&server, "127.0.2.2", email, password).await,
        200,
        "an address with no recent failures still gets in"
    );
}

#[tokio::test]
async fn a_correlation_id_that_cannot_be_a_header_is_refused_at_ingest() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    for bad in [
        "a\nb",
        "a\rb",
        "a\u{0}b",
        "a\u{7f}b",
        "a b",
        "x".repeat(129).as_str(),
    ] {
        let (status, body) = status_and_body(
            api.post(
                "/api/v1/events",
                &json!({"event_type": "corr.x", "payload": {}, "correlation_id": bad}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("correlation_id"),
            "{body}"
        );
    }
    let (status, body) = status_and_body(
        api.post(
            "/api/v1/events",
            &json!({"event_type": "corr.x", "payload": {}, "correlation_id": "req-42:a.b_c"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn caller_input_never_answers_500() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    // Ranges at chrono's limits: wholly before 1970 is an empty answer, a
    // `from` after the default `to` (now) is a 422.
    for (query, expected) in [
        ("to=-262143-01-01T00:00:00Z", 200),
        (
            "from=-262143-01-01T00:00:00Z&to=-262143-01-01T01:00:00Z",
            200,
        ),
        ("from=1900-01-01T00:00:00Z&to=1969-12-31T23:59:59Z", 200),
        ("from=%2B262142-01-01T00:00:00Z", 422),
    ] {
        let res = api
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/stats?{query}"),
                None,
            )
            .await;
        let (status, body) = status_and_body(res).await;
        assert_eq!(status, expected, "{query}: {body}");
        if status == 200 {
            assert_eq!(body["series"][0]["points"], json!([]), "{query}: {body}");
            assert_eq!(body["total"]["attempts"], 0, "{query}: {body}");
        }
    }
    // A range partly before 1970 is clipped to it.
    let res = api
        .send(
            reqwest::Method::GET,
            "/api/v1/stats?from=1969-12-01T00:00:00Z&to=1970-01-02T00:00:00Z&granularity=day",
            None,
        )
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["from"], "1970-01-01T00:00:00Z", "{body}");
    // The default range by minute is a day: allowed.
    let res = api
        .send(
            reqwest::Method::GET,
            "/api/v1/stats?granularity=minute",
            None,
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // Server functions answer arguments they cannot decode with 400.
    let cookie = server.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    for (name, body, content_type) in [
        (
            "list_events",
            "".as_bytes().to_vec(),
            "application/x-www-form-urlencoded",
        ),
        (
            "list_dlq",
            b"".to_vec(),
            "application/x-www-form-urlencoded",
        ),
        (
            "start_replay",
            b"".to_vec(),
            "application/x-www-form-urlencoded",
        ),
        (
            "save_retry_policy",
            b"".to_vec(),
            "application/x-www-form-urlencoded",
        ),
        (
            "reprocess_dlq",
            b"ids=abc&all=maybe".to_vec(),
            "application/x-www-form-urlencoded",
        ),
        ("get_event", b"{\"id\": 1}".to_vec(), "application/json"),
        (
            "get_event",
            b"id=\xff\xfe".to_vec(),
            "application/x-www-form-urlencoded",
        ),
    ] {
        let res = server
            .http
            .post(server.url(&format!("/fn/{name}")))
            .header("cookie", &cookie)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(status, 400, "{name}: {text}");
        assert!(text.contains("\"code\":\"invalid\""), "{name}: {text}");
    }
}

#[tokio::test]
async fn endpoint_headers_cannot_change_framing_and_are_bounded() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    for name in [
        "Transfer-Encoding",
        "Connection",
        "Upgrade",
        "TE",
        "Expect",
        "Content-Encoding",
        "Keep-Alive",
        "Proxy-Authorization",
        "proxy-connection",
    ] {
        let (status, body) = status_and_body(
            api.post(
                "/api/v1/endpoints",
                &json!({"url": receiver.url, "event_types": ["h.x"], "headers": {name: "chunked"}}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422, "{name}: {body}");
        assert!(body.to_string().contains(name), "{name}: {body}");
    }
    let (status, body) = status_and_body(
        api.post(
            "/api/v1/endpoints",
            &json!({"url": receiver.url, "event_types": ["h.x"], "headers": {"X-Big": "v".repeat(4 * 1024 + 1)}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let many: serde_json::Map<String, Value> = (0..5)
        .map(|i| (format!("X-Part-{i}"), Value::String("v".repeat(4_000))))
        .collect();
    let (status, body) = status_and_body(
        api.post(
            "/api/v1/endpoints",
            &json!({"url": receiver.url, "event_types": ["h.x"], "headers": many}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("16384"), "{body}");
    // An ordinary custom header is fine, and arrives.
    api.endpoint(
        &receiver.url,
        &["h.x"],
        json!({"headers": {"X-Api-Key": "k"}}),
    )
    .await;
    api.publish("h.x", json!({"a": 1})).await;
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].header("x-api-key"), "k");
    assert_eq!(&got[0].body[..], br#"{"a":1}"#);
}

#[tokio::test]
async fn the_api_contract_holds_at_its_edges() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let (endpoint, _) = api.endpoint(&receiver.url, &["a.b"], json!({})).await;

    // Arrays are not objects, whatever serde would make of them.
    for (method, path, body) in [
        (
            reqwest::Method::PATCH,
            format!("/api/v1/endpoints/{endpoint}"),
            json!([null, ["x.y"]]),
        ),
        (reqwest::Method::PATCH, "/api/v1/tenant".into(), json!([])),
        (
            reqwest::Method::POST,
            format!("/api/v1/endpoints/{endpoint}/disable"),
            json!([]),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/endpoints/{endpoint}/rotate-secret"),
            json!([]),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/endpoints/{endpoint}/test"),
            json!([]),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/events".into(),
            json!(["a.b", {}]),
        ),
    ] {
        let (status, answer) =
            status_and_body(api.send(method.clone(), &path, Some(&body)).await).await;
        assert_eq!(status, 422, "{method} {path} {body}: {answer}");
        assert!(answer.to_string().contains("not an array"), "{answer}");
    }
    let detail = api.get(&format!("/api/v1/endpoints/{endpoint}")).await;
    assert_eq!(detail["event_types"], json!(["a.b"]), "nothing changed");
    assert_eq!(detail["enabled"], true, "nothing changed");

    // Checkpoints page like every other list.
    for name in ["c1", "c2", "c3"] {
        let res = api
            .post("/api/v1/checkpoints", &json!({"name": name}))
            .await;
        assert_eq!(res.status(), 201);
    }
    let first = api.get("/api/v1/checkpoints?limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = api
        .get(&format!("/api/v1/checkpoints?limit=2&cursor={cursor}"))
        .await;
    let names: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c3", "c2", "c1"], "newest first, each once");
    assert!(second["next_cursor"].is_null());
    // Both kinds of list (plain paging, and filters read as the console
    // reads them) refuse the same bad paging; `limit=` has no empty form.
    for list in ["checkpoints", "audit", "events", "dlq"] {
        for query in [
            "limit=0",
            "limit=-1",
            "limit=abc",
            "limit=",
            "unknown_param=1",
            "cursor=nope",
        ] {
            let res = api
                .send(
                    reqwest::Method::GET,
                    &format!("/api/v1/{list}?{query}"),
                    None,
                )
                .await;
            assert_eq!(res.status(), 400, "{list}?{query}");
        }
    }

    // JSON's one number type: 3.0 is an integer to the OpenAPI document, so
    // the server takes it as one; a payload keeps its own bytes.
    let (status, body) = status_and_body(
        api.post(
            "/api/v1/retry-policies/preview",
            &json!({"backoff": {"kind": "schedule", "delays_secs": [5.0]}, "max_attempts": 3.0}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = status_and_body(
        api.post(
            "/api/v1/events",
            &json!({"event_type": "a.b", "payload": {"x": 1.5, "y": 2.0}, "metadata": {"z": 3.0}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let stored = api
        .get(&format!("/api/v1/events/{}", body["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        stored["payload"].to_string(),
        r#"{"x":1.5,"y":2.0}"#,
        "{stored}"
    );
    // An empty free-text parameter is no filter; an empty date is an error.
    let res = api
        .send(
            reqwest::Method::GET,
            "/api/v1/events?state=&event_type=",
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = api
        .send(reqwest::Method::GET, "/api/v1/events?from=", None)
        .await;
    assert_eq!(res.status(), 400);

    // An undeclared method is a 405 naming the declared ones, probes included.
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/events"] {
        let res = server
            .http
            .request(reqwest::Method::TRACE, server.url(path))
            .bearer_auth(&api.key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "TRACE {path}");
        assert!(
            res.headers().contains_key("allow"),
            "TRACE {path}: no Allow"
        );
    }
}

#[tokio::test]
async fn retry_policy_fields_are_bounded_everywhere_they_are_accepted() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let unbounded = json!({"backoff": {"kind": "schedule", "delays_secs": [1]}, "max_attempts": 3,
        "retry_after_cap_secs": 18446744073709551615_u64});
    let huge_age = json!({"backoff": {"kind": "schedule", "delays_secs": [1]}, "max_attempts": 3,
        "max_age_secs": 18446744073709551615_u64});
    for policy in [unbounded, huge_age] {
        for (path, body) in [
            ("/api/v1/retry-policies/preview", policy.clone()),
            (
                "/api/v1/retry-policies",
                json!({"name": "p", "policy": policy}),
            ),
            (
                "/api/v1/endpoints",
                json!({"url": "https://93.184.216.34/", "event_types": ["a.b"], "retry_policy": policy}),
            ),
        ] {
            let (status, answer) = status_and_body(api.post(path, &body).await).await;
            assert_eq!(status, 422, "{path}: {answer}");
        }
    }
}

#[tokio::test]
async fn a_huge_retry_after_is_honoured_within_the_cap_and_the_delivery_goes_on() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let receiver = Receiver::start(Vec::new(), Reply::RetryAfter(429, u64::MAX)).await;
    api.endpoint(
        &receiver.url,
        &["ra.x"],
        json!({"retry_policy": {"backoff": {"kind": "schedule", "delays_secs": [1]},
            "max_attempts": 3, "retry_after_cap_secs": 604800}}),
    )
    .await;
    let event = api.publish("ra.x", json!({})).await;
    let detail = api
        .event_until(&event, Duration::from_secs(20), |d| {
            d["deliveries"][0]["attempt_log"]
                .as_array()
                .is_some_and(|l| l.len() == 1)
                && d["deliveries"][0]["state"] == "pending"
        })
        .await;
    let next: chrono::DateTime<chrono::Utc> = detail["deliveries"][0]["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let wait = next - chrono::Utc::now();
    assert!(
        wait > chrono::Duration::days(6) && wait <= chrono::Duration::days(7),
        "the receiver's pause, within the 7-day cap: {wait}"
    );
}
