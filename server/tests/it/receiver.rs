//! A webhook receiver for tests: answers from a script (then a default), and
//! records every request it gets.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with a `Retry-After` header (seconds).
    RetryAfter(u16, u64),
    /// Answer 200, but only after this long (past an endpoint's timeout, say).
    Hang(Duration),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<VecDeque<Reply>>>,
    default: Reply,
    received: Arc<Mutex<Vec<Received>>>,
}

pub struct Receiver {
    pub url: String,
    shared: Shared,
}

async fn hook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    shared.received.lock().unwrap().push(Received {
        headers,
        body,
        at: Instant::now(),
    });
    let reply = shared
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| shared.default.clone());
    let status = |code: u16| StatusCode::from_u16(code).unwrap();
    match reply {
        Reply::Status(code) => (status(code), format!("answered {code}")).into_response(),
        Reply::RetryAfter(code, secs) => (
            status(code),
            [("retry-after", secs.to_string())],
            "slow down",
        )
            .into_response(),
        Reply::Hang(pause) => {
            tokio::time::sleep(pause).await;
            (StatusCode::OK, "late").into_response()
        }
    }
}

impl Receiver {
    /// Answers with `script` in order, then with `default` forever.
    pub async fn start(script: Vec<Reply>, default: Reply) -> Self {
        let shared = Shared {
            script: Arc::new(Mutex::new(script.into())),
            default,
            received: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hook", post(hook))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, shared }
    }

    pub async fn ok() -> Self {
        Self::start(Vec::new(), Reply::Status(200)).await
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (or panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} requests within {within:?}, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
