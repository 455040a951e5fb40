//! Play inboxes: one console call makes an endpoint pointing at a new inbox
//! and sends it a test event, which arrives without the network and
//! verifies; the inbox's URL takes requests from anywhere, checks each
//! signature and keeps the newest 100; expunging an event erases its copies.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::client::Api;
use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};

/// `v1,` and the signature of `{id}.{at}.{body}` under `secret` (`whsec_…`).
fn sign(secret: &str, id: &str, at: i64, body: &str) -> String {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{at}.{body}").as_bytes());
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// The play inbox of `endpoint` as the console reads it, once it holds `n` requests.
async fn requests(server: &TestServer, cookie: &str, endpoint: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = server
            .console_call(cookie, "play_requests", &[("endpoint_id", endpoint)])
            .await;
        assert_eq!(res.status(), 200);
        let play: Value = res.json().await.unwrap();
        let got = play["requests"].as_array().map_or(0, Vec::len);
        if got == n {
            return play;
        }
        assert!(Instant::now() < deadline, "{got} requests, not {n}: {play}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_play_inbox_takes_the_test_event_verifies_signatures_and_keeps_the_newest_100() {
    let server = TestServer::start().await;
    let cookie = server.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    let res = server.console_call(&cookie, "start_play", &[]).await;
    assert_eq!(res.status(), 200);
    let endpoint: String = res.json().await.unwrap();

    // The test event arrived from Herald itself, signed with the endpoint's secret.
    let play = requests(&server, &cookie, &endpoint, 1).await;
    let first = &play["requests"][0];
    assert_eq!(first["in_process"], true);
    assert_eq!(first["verified"], true, "{first}");
    assert_eq!(first["headers"]["herald-test"], "true");
    assert_eq!(first["headers"]["herald-event-type"], "herald.test");
    let url = play["url"].as_str().unwrap().to_owned();
    assert!(url.contains("/play/ply_"), "{url}");

    // Over HTTP: signed with the endpoint's secret (a new one, after a
    // rotation), unsigned, signed with something else, from too long ago.
    let api = Api::new(&server).await;
    let res = api
        .post(
            &format!("/api/v1/endpoints/{endpoint}/rotate-secret"),
            &json!({}),
        )
        .await;
    let secret = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = chrono::Utc::now().timestamp();
    let body = r#"{"hello":"play"}"#;
    let send = |signature: Option<String>, at: i64| {
        let mut request = server
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("webhook-id", "msg_from_outside")
            .header("webhook-timestamp", at.to_string())
            .header("authorization", "Bearer do-not-keep-me")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("webhook-signature", signature);
        }
        request.send()
    };
    let cases = [
        (
            Some(sign(&secret, "msg_from_outside", now, body)),
            now,
            true,
            "verified",
        ),
        (None, now, false, "Not signed"),
        (
            Some(sign(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_from_outside",
                now,
                body,
            )),
            now,
            false,
            "does not match",
        ),
        (
            Some(sign(&secret, "msg_from_outside", now - 3_600, body)),
            now - 3_600,
            false,
            "from Herald's clock",
        ),
    ];
    for (i, (signature, at, verified, says)) in cases.into_iter().enumerate() {
        let res = send(signature, at).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.json::<Value>().await.unwrap(),
            json!({"received": true})
        );
        let play = requests(&server, &cookie, &endpoint, i + 2).await;
        let newest = &play["requests"][0];
        assert_eq!(newest["in_process"], false);
        assert_eq!(newest["verified"], verified, "case {i}: {newest}");
        assert!(
            newest["verification"].as_str().unwrap().contains(says),
            "case {i}: {newest}"
        );
        assert_eq!(newest["body"], body);
        assert_eq!(newest["headers"]["authorization"], "[redacted]");
    }

    // No such inbox: a 404 naming it, nothing kept anywhere.
    let res = server
        .http
        .post(server.url("/play/ply_00000000000000000000000000"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let error: Value = res.json().await.unwrap();
    assert_eq!(error["error"]["code"], "not_found");

    // The newest 100 are kept: after 100 more, the test event and the
    // first four are gone, and the newest is the last sent.
    for n in 0..100 {
        let res = server
            .http
            .post(&url)
            .body(format!("{{\"n\":{n}}}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let play = requests(&server, &cookie, &endpoint, 100).await;
    assert_eq!(play["requests"][0]["body"], r#"{"n":99}"#);
    assert_eq!(play["requests"][99]["body"], r#"{"n":0}"#);
}

#[tokio::test]
async fn expunging_an_event_erases_what_a_play_inbox_kept_of_it() {
    let server = TestServer::start().await;
    let cookie = server.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    let res = server.console_call(&cookie, "start_play", &[]).await;
    let endpoint: String = res.json().await.unwrap();
    let api = Api::new(&server).await;
    let published = api
        .post(
            "/api/v1/events",
            &json!({"event_type": "order.created", "payload": {"card": "4111"}}),
        )
        .await;
    assert_eq!(published.status(), 202);
    let event = published.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The test event and the published one.
    let play = requests(&server, &cookie, &endpoint, 2).await;
    assert!(
        play["requests"][0]["body"]
            .as_str()
            .unwrap()
            .contains("4111"),
        "{play}"
    );

    // Expunging waits for no delivery in flight; the inbox's copy goes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = api
            .post(
                &format!("/api/v1/events/{event}/expunge"),
                &json!({"reason": "erasure request"}),
            )
            .await;
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status(), 409, "{}", res.text().await.unwrap());
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let play = requests(&server, &cookie, &endpoint, 1).await;
    assert_eq!(play["requests"][0]["headers"]["herald-test"], "true");
}
