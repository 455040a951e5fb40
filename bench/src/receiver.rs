//! The webhook receiver Herald delivers to: counts what arrives and, when a
//! payload carries the time it was published (`sent_us`, microseconds since
//! the Unix epoch on this machine's clock), how long it took to arrive. One
//! started with [`Receiver::acking`] also acknowledges every delivery that
//! carries a `herald-ack-token`, as an effectively-once receiver does once
//! its work is done.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use hdrhistogram::Histogram;

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

struct Inner {
    received: AtomicU64,
    latency_us: Mutex<Histogram<u64>>,
    /// Herald's acknowledgement URL, for a receiver that acknowledges.
    ack_to: Option<String>,
    acked: AtomicU64,
    http: reqwest::Client,
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The number after `"key":` in a JSON body, without parsing the rest.
pub fn number_after(body: &[u8], key: &str) -> Option<u64> {
    let key = format!("\"{key}\":");
    let at = body.windows(key.len()).position(|w| w == key.as_bytes())? + key.len();
    let digits: Vec<u8> = body[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// The `sent_us` number in a JSON body.
fn sent_us(body: &[u8]) -> Option<u64> {
    number_after(body, "sent_us")
}

async fn hook(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> &'static str {
    if let Some(sent) = sent_us(&body) {
        let took = now_us().saturating_sub(sent).max(1);
        let _ = inner.latency_us.lock().expect("histogram").record(took);
    }
    inner.received.fetch_add(1, Ordering::Relaxed);
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let (Some(url), Some(id), Some(token)) = (
        inner.ack_to.clone(),
        text("webhook-id"),
        text("herald-ack-token"),
    ) {
        // After the answer, as a receiver acknowledges once its work is done.
        let inner = inner.clone();
        tokio::spawn(async move {
            let sent = inner
                .http
                .post(url)
                .header("webhook-id", id)
                .header("herald-ack-token", token)
                .send()
                .await;
            if sent.is_ok_and(|r| r.status().is_success()) {
                inner.acked.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    "ok"
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(None).await
    }

    /// A receiver that acknowledges each delivery to Herald at `herald_base`.
    pub async fn acking(herald_base: &str) -> anyhow::Result<Self> {
        Self::start_with(Some(format!("{herald_base}/api/v1/acks"))).await
    }

    async fn start_with(ack_to: Option<String>) -> anyhow::Result<Self> {
        let inner = Arc::new(Inner {
            received: AtomicU64::new(0),
            latency_us: Mutex::new(histogram()),
            ack_to,
            acked: AtomicU64::new(0),
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .route("/hook", post(hook))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, inner })
    }

    pub fn received(&self) -> u64 {
        self.inner.received.load(Ordering::Relaxed)
    }

    /// Acknowledgements Herald took.
    pub fn acked(&self) -> u64 {
        self.inner.acked.load(Ordering::Relaxed)
    }

    /// Waits until Herald took `count` acknowledgements; false after `limit`.
    pub async fn wait_for_acks(&self, count: u64, limit: Duration) -> bool {
        let started = Instant::now();
        while self.acked() < count {
            if started.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }

    /// Ingest-to-receiver latencies recorded so far, and a fresh start.
    pub fn take_latency(&self) -> Histogram<u64> {
        std::mem::replace(
            &mut *self.inner.latency_us.lock().expect("histogram"),
            histogram(),
        )
    }

    /// Waits until `count` deliveries have arrived in all; false after `limit`.
    pub async fn wait_for(&self, count: u64, limit: Duration) -> bool {
        let started = Instant::now();
        while self.received() < count {
            if started.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_send_time_in_a_canonical_payload() {
        assert_eq!(
            super::sent_us(br#"{"n":3,"sent_us":1234567}"#),
            Some(1_234_567)
        );
        assert_eq!(super::sent_us(br#"{"n":3}"#), None);
    }
}
