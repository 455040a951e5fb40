//! A webhook receiver for tests: answers from a script (then a default), and
//! records every request it gets.
//!
//! It speaks HTTP/1.1 itself over a plain socket (keep-alive included) so that
//! it can also misbehave in ways a web framework will not: close the connection
//! without answering, or answer with an enormous body.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with a `Retry-After` header (seconds).
    RetryAfter(u16, u64),
    /// Answer 200, but only after this long (past an endpoint's timeout, say).
    Hang(Duration),
    /// Read the request, then close the connection without a word.
    Drop,
    /// Answer 200 with a body of this many bytes.
    Body(usize),
    /// Answer 302 pointing elsewhere.
    Redirect(String),
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

/// Chooses a reply from a request's body and the requests before it (the
/// script and default answer when it gives none).
pub type Judge = Arc<dyn Fn(&[u8], &[Received]) -> Option<Reply> + Send + Sync>;

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<VecDeque<Reply>>>,
    default: Reply,
    judge: Option<Judge>,
    received: Arc<Mutex<Vec<Received>>>,
    /// When each request in `received` (same positions) was answered.
    answered_at: Arc<Mutex<Vec<Option<Instant>>>>,
    /// Requests being answered now, by `webhook-id`.
    answering: Arc<Mutex<std::collections::HashMap<String, usize>>>,
    /// Requests that arrived while another of the same `webhook-id` was
    /// still being answered.
    overlapping: Arc<Mutex<Vec<String>>>,
}

pub struct Receiver {
    pub url: String,
    shared: Shared,
}

/// Reads one request (head and `content-length` body); `None` when the peer
/// closed the connection or sent something this receiver does not parse.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(HeaderMap, Bytes)> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).ok()?.to_string();
    let mut headers = HeaderMap::new();
    for line in head.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
            HeaderValue::from_str(value.trim()).ok()?,
        );
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = Bytes::copy_from_slice(&buf[head_end..head_end + length]);
    buf.drain(..head_end + length);
    Some((headers, body))
}

/// Marks a request answered (or abandoned) when dropped.
struct Answered {
    shared: Shared,
    webhook_id: String,
}

impl Drop for Answered {
    fn drop(&mut self) {
        let mut answering = self.shared.answering.lock().unwrap();
        if let Some(n) = answering.get_mut(&self.webhook_id) {
            *n -= 1;
            if *n == 0 {
                answering.remove(&self.webhook_id);
            }
        }
    }
}

fn response(status: u16, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} Scripted\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

async fn serve_connection(mut stream: TcpStream, shared: Shared) {
    let mut buf = Vec::new();
    while let Some((headers, body)) = read_request(&mut stream, &mut buf).await {
        let webhook_id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        {
            let mut answering = shared.answering.lock().unwrap();
            let now = answering.entry(webhook_id.clone()).or_default();
            if *now > 0 {
                shared.overlapping.lock().unwrap().push(webhook_id.clone());
            }
            *now += 1;
        }
        let _answered = Answered {
            shared: shared.clone(),
            webhook_id,
        };
        let judged = shared.judge.as_ref().and_then(|judge| {
            let earlier = shared.received.lock().unwrap().clone();
            judge(&body, &earlier)
        });
        let at = {
            let mut received = shared.received.lock().unwrap();
            received.push(Received {
                headers,
                body,
                at: Instant::now(),
            });
            shared.answered_at.lock().unwrap().push(None);
            received.len() - 1
        };
        let reply = judged.unwrap_or_else(|| {
            shared
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| shared.default.clone())
        });
        let bytes = match reply {
            Reply::Status(code) => response(code, "", format!("answered {code}").as_bytes()),
            Reply::RetryAfter(code, secs) => {
                response(code, &format!("retry-after: {secs}\r\n"), b"slow down")
            }
            Reply::Hang(pause) => {
                tokio::time::sleep(pause).await;
                response(200, "", b"late")
            }
            Reply::Drop => return,
            Reply::Body(size) => response(200, "", &vec![b'x'; size]),
            Reply::Redirect(to) => response(302, &format!("location: {to}\r\n"), b"moved"),
        };
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
        shared.answered_at.lock().unwrap()[at] = Some(Instant::now());
    }
}

impl Receiver {
    /// Answers with `script` in order, then with `default` forever.
    pub async fn start(script: Vec<Reply>, default: Reply) -> Self {
        Self::start_on("127.0.0.1", script, default).await
    }

    /// [`Receiver::start`] listening on `ip`.
    pub async fn start_on(ip: &str, script: Vec<Reply>, default: Reply) -> Self {
        Self::serve(ip, script, default, None).await
    }

    /// Answers each request as `judge` decides from its body and the
    /// requests before it, else with `default`.
    pub async fn judging(
        judge: impl Fn(&[u8], &[Received]) -> Option<Reply> + Send + Sync + 'static,
        default: Reply,
    ) -> Self {
        Self::serve("127.0.0.1", Vec::new(), default, Some(Arc::new(judge))).await
    }

    async fn serve(ip: &str, script: Vec<Reply>, default: Reply, judge: Option<Judge>) -> Self {
        let shared = Shared {
            script: Arc::new(Mutex::new(script.into())),
            default,
            judge,
            received: Arc::default(),
            answered_at: Arc::default(),
            answering: Arc::default(),
            overlapping: Arc::default(),
        };
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let accepting = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_connection(stream, accepting.clone()));
            }
        });
        Self { url, shared }
    }

    pub async fn ok() -> Self {
        Self::start(Vec::new(), Reply::Status(200)).await
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// When each request of [`Receiver::received`] (same positions) was
    /// answered; `None` while it is being answered, or if it never was.
    pub fn answered_at(&self) -> Vec<Option<Instant>> {
        self.shared.answered_at.lock().unwrap().clone()
    }

    /// The `webhook-id`s of requests that arrived while another request of
    /// the same id was still being answered.
    pub fn overlapping(&self) -> Vec<String> {
        self.shared.overlapping.lock().unwrap().clone()
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
