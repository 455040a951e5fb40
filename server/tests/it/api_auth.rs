use herald_engine::model::Scope;
use serde_json::{Value, json};

use crate::harness::TestServer;

async fn error_of(res: reqwest::Response) -> (u16, Value, Option<String>) {
    let status = res.status().as_u16();
    let header = res
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = res.json().await.unwrap();
    (status, body, header)
}

#[tokio::test]
async fn api_routes_need_a_key() {
    let server = TestServer::start().await;
    let res = server
        .http
        .get(server.url("/api/v1/tenant"))
        .send()
        .await
        .unwrap();
    let (status, body, correlation) = error_of(res).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );
    // The error names the same correlation id the response header carries.
    assert_eq!(
        body["error"]["correlation_id"].as_str(),
        correlation.as_deref()
    );

    for header in [
        "Basic abc",
        "Bearer not-a-herald-key",
        "Bearer hrld_unknownkeyvalue",
    ] {
        let res = server
            .http
            .get(server.url("/api/v1/tenant"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{header}");
    }
}

#[tokio::test]
async fn a_valid_key_gets_its_tenant() {
    let server = TestServer::start().await;
    let key = server.api_key(Scope::Read).await;
    let res = server
        .http
        .get(server.url("/api/v1/tenant"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["slug"], "default");
    assert!(body["id"].as_str().unwrap().starts_with("ten_"));
}

#[tokio::test]
async fn a_key_whose_scope_is_too_small_is_refused() {
    let server = TestServer::start().await;
    let ingest = server.api_key(Scope::Ingest).await;
    let res = server
        .http
        .get(server.url("/api/v1/tenant"))
        .bearer_auth(&ingest)
        .send()
        .await
        .unwrap();
    let (status, body, _) = error_of(res).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'ingest'"),
        "{body}"
    );

    let read = server.api_key(Scope::Read).await;
    let res = server
        .http
        .post(server.url("/api/v1/api-keys"))
        .bearer_auth(&read)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn keys_create_keys_no_stronger_than_themselves() {
    let server = TestServer::start().await;
    let manage = server.api_key(Scope::Manage).await;
    let res = server
        .http
        .post(server.url("/api/v1/api-keys"))
        .bearer_auth(&manage)
        .json(&json!({"name": "dashboard reader", "scope": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let new_key = created["key"].as_str().unwrap();
    assert!(new_key.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["scope"], "read");

    // The new key works, and the listing never shows a secret.
    let res = server
        .http
        .get(server.url("/api/v1/tenant"))
        .bearer_auth(new_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let list: Value = server
        .http
        .get(server.url("/api/v1/api-keys"))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(new_key));

    // Manage cannot publish, so it cannot mint a key that can.
    let res = server
        .http
        .post(server.url("/api/v1/api-keys"))
        .bearer_auth(&manage)
        .json(&json!({"name": "escalation", "scope": "all"}))
        .send()
        .await
        .unwrap();
    let (status, body, _) = error_of(res).await;
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("publish"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let server = TestServer::start().await;
    let key = server.api_key(Scope::All).await;
    let post = |body: &'static str, content_type: &'static str| {
        server
            .http
            .post(server.url("/api/v1/api-keys"))
            .bearer_auth(&key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let (status, body, _) = error_of(post("{not json", "application/json").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{body}"
    );

    let (status, _, _) = error_of(post(r#"{"name":"x"}"#, "text/plain").await.unwrap()).await;
    assert_eq!(status, 415);

    let (status, body, _) = error_of(
        post(r#"{"name":"x","scope":"root"}"#, "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("scope"),
        "{body}"
    );

    let (status, body, _) = error_of(
        post(r#"{"name":"x","colour":"red"}"#, "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{body}"
    );

    let (status, body, _) =
        error_of(post(r#"{"name":"   "}"#, "application/json").await.unwrap()).await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("name"),
        "{body}"
    );

    let res = server
        .http
        .get(server.url("/api/v1/api-keys?limit=0"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let (status, body, _) = error_of(res).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );

    // Nothing was created by any of it: only the test's own key exists.
    let list: Value = server
        .http
        .get(server.url("/api/v1/api-keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_api_routes_are_json_404s() {
    let server = TestServer::start().await;
    let res = server
        .http
        .get(server.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    let (status, body, _) = error_of(res).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn correlation_ids_are_echoed_when_sane_and_replaced_otherwise() {
    let server = TestServer::start().await;
    let res = server
        .http
        .get(server.url("/healthz"))
        .header("x-correlation-id", "checkout-42.retry:1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-correlation-id"], "checkout-42.retry:1");

    let res = server
        .http
        .get(server.url("/api/v1/tenant"))
        .header("x-correlation-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let (_, body, header) = error_of(res).await;
    let header = header.expect("a correlation id is always returned");
    assert_ne!(header, "bad id with spaces");
    assert_eq!(header.len(), 26, "a fresh ULID: {header}");
    assert_eq!(body["error"]["correlation_id"], header.as_str());
}

#[tokio::test]
async fn api_key_pages_follow_their_cursor() {
    let server = TestServer::start().await;
    let key = server.api_key(Scope::All).await;
    for _ in 0..4 {
        server.api_key(Scope::Read).await;
    }
    let mut seen = Vec::new();
    let mut url = server.url("/api/v1/api-keys?limit=2");
    loop {
        let page: Value = server
            .http
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|k| k["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => url = server.url(&format!("/api/v1/api-keys?limit=2&cursor={cursor}")),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "ids come once each, in order");
}

#[tokio::test]
async fn bad_keys_are_throttled_per_address_before_any_lookup() {
    let server = TestServer::start_with(|c| c.bad_key_rate_limit = 5).await;
    let get = |auth: &'static str| {
        server
            .http
            .get(server.url("/api/v1/tenant"))
            .header("authorization", auth)
            .send()
    };
    // Unknown and malformed keys alike count against the address.
    for auth in [
        "Bearer hk_unknown_1",
        "Bearer hk_unknown_2",
        "Bearer not-a-key",
        "Basic dXNlcjpwYXNz",
        "Bearer hk_unknown_3",
    ] {
        assert_eq!(get(auth).await.unwrap().status(), 401, "{auth}");
    }
    let res = get("Bearer hk_unknown_4").await.unwrap();
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");

    // Past the limit the database is not asked: with the store closed, the
    // answer is still 429, never a 500 from a failed lookup.
    server.running.state.store.close().await;
    assert_eq!(get("Bearer hk_unknown_5").await.unwrap().status(), 429);
}
