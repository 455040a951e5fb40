//! Talking to a test server's API the way a publisher or integrator would.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald_engine::model::Scope;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::TestServer;
use crate::receiver::Received;

/// A retry policy fast enough for tests: three retries, one second apart.
pub fn fast_policy(max_attempts: u32) -> Value {
    json!({"backoff": {"kind": "schedule", "delays_secs": [1]}, "max_attempts": max_attempts, "jitter": 0.0})
}

pub struct Api<'a> {
    pub server: &'a TestServer,
    pub key: String,
}

impl<'a> Api<'a> {
    pub async fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            key: server.api_key(Scope::All).await,
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.server
            .http
            .post(self.server.url(path))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Any method, with an optional JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self
            .server
            .http
            .request(method, self.server.url(path))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        let res = self
            .server
            .http
            .get(self.server.url(path))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// Creates an endpoint; returns its id and signing secret.
    pub async fn endpoint(&self, url: &str, patterns: &[&str], extra: Value) -> (String, String) {
        let mut body = json!({"url": url, "event_types": patterns});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        let res = self.post("/api/v1/endpoints", &body).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let created: Value = res.json().await.unwrap();
        (
            created["id"].as_str().unwrap().into(),
            created["secret"].as_str().unwrap().into(),
        )
    }

    pub async fn publish(&self, event_type: &str, payload: Value) -> String {
        let res = self
            .post(
                "/api/v1/events",
                &json!({"event_type": event_type, "payload": payload}),
            )
            .await;
        assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .into()
    }

    /// Polls an event until `done` holds for its detail.
    pub async fn event_until(
        &self,
        id: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let detail = self.get(&format!("/api/v1/events/{id}")).await;
            if done(&detail) {
                return detail;
            }
            assert!(
                Instant::now() < deadline,
                "event never reached the expected state: {detail:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Standard Webhooks verification written out here, independently of Herald's signer.
pub fn signature_verifies(secret: &str, request: &Received) -> bool {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(request.header("webhook-id").as_bytes());
    mac.update(b".");
    mac.update(request.header("webhook-timestamp").as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    request
        .header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

pub fn states(detail: &Value) -> Vec<&str> {
    detail["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect()
}

/// Polls `path` until `done` holds.
pub async fn until(
    api: &Api<'_>,
    path: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let body = api.get(path).await;
        if done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never got there: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn status_and_body(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Publishes `n` events of `event_type` in batches of 1,000; returns their ids.
pub async fn publish_many(api: &Api<'_>, event_type: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(1_000) {
        let events: Vec<Value> = (start..n.min(start + 1_000))
            .map(|i| json!({"event_type": event_type, "payload": {"n": i}}))
            .collect();
        let res = api
            .post("/api/v1/events/batch", &json!({ "events": events }))
            .await;
        assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
        let body: Value = res.json().await.unwrap();
        ids.extend(
            body["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap().to_owned()),
        );
    }
    ids
}
