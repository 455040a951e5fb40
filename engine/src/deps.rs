//! Optional external dependencies (Redis) and their health checks.
//!
//! Redis carries what several nodes share beyond the database: the rate
//! limits (`limit::SharedLimiter`) and the cross-node live feed
//! (`live::relay`). Herald never waits on it for long and never needs it to
//! deliver: a call that fails or takes longer than [`CALL_TIMEOUT`] opens a
//! short circuit ([`RETRY_AFTER`]) during which callers fall back to this node
//! alone, and the first call after it tries Redis again, so Redis coming back
//! is noticed by itself.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

/// The longest Herald waits for one Redis call before going on without it.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// How long after a failed call Redis is left alone.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A configured Redis, with every key and channel under this installation's
/// namespace (installations sharing one Redis never mix).
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    namespace: Arc<str>,
    connection: Arc<tokio::sync::Mutex<Option<ConnectionManager>>>,
    /// Set while Redis is out of reach: when to try again.
    retry_at: Arc<Mutex<Option<Instant>>>,
}

impl Redis {
    /// Parses the URL; no connection is made until it is used.
    pub fn open(url: &str) -> Result<Self, String> {
        redis::Client::open(url)
            .map(|client| Self {
                client,
                namespace: Arc::from("herald"),
                connection: Arc::default(),
                retry_at: Arc::default(),
            })
            .map_err(|e| e.to_string())
    }

    /// The same Redis with keys and channels under `installation` (the
    /// database this node shares with the others).
    #[must_use]
    pub fn for_installation(mut self, installation: &str) -> Self {
        self.namespace = Arc::from(format!("herald:{installation}"));
        self
    }

    /// A key or channel name of this installation.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.namespace)
    }

    /// The client, for connections of their own (pub/sub).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Whether Redis is believed to be answering (no recent failure).
    pub fn is_up(&self) -> bool {
        lock(&self.retry_at).is_none()
    }

    /// Runs one call on the shared connection within [`CALL_TIMEOUT`]; `None`
    /// when Redis is out of reach (now, or recently: then without trying).
    pub async fn call<T, F, Fut>(&self, what: &str, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if lock(&self.retry_at).is_some_and(|at| Instant::now() < at) {
            return None;
        }
        let attempt = async {
            let connection = self.connection().await?;
            call(connection).await
        };
        match tokio::time::timeout(CALL_TIMEOUT, attempt).await {
            Ok(Ok(value)) => {
                if lock(&self.retry_at).take().is_some() {
                    tracing::info!(
                        "Redis answers again: shared limits and the cross-node live feed are back"
                    );
                }
                Some(value)
            }
            Ok(Err(e)) => {
                self.failed(what, &e.to_string());
                self.forget_connection().await;
                None
            }
            Err(_) => {
                self.failed(what, "no answer in time");
                self.forget_connection().await;
                None
            }
        }
    }

    /// The next call connects afresh (a restarted Redis is a new server).
    async fn forget_connection(&self) {
        self.connection.lock().await.take();
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut held = self.connection.lock().await;
        if let Some(connection) = held.as_ref() {
            return Ok(connection.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(CALL_TIMEOUT)
            .set_response_timeout(CALL_TIMEOUT);
        let connection = self
            .client
            .get_connection_manager_with_config(config)
            .await?;
        *held = Some(connection.clone());
        Ok(connection)
    }

    /// A call failed: callers go on without Redis for [`RETRY_AFTER`].
    pub fn failed(&self, what: &str, error: &str) {
        let mut retry_at = lock(&self.retry_at);
        if retry_at.is_none() {
            tracing::warn!(
                %error,
                call = what,
                "Redis is out of reach: rate limits and the live feed are per node until it answers again"
            );
        }
        *retry_at = Some(Instant::now() + RETRY_AFTER);
    }

    /// Connects and sends PING, within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), String> {
        let attempt = async {
            let mut conn = self
                .client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let reply: String = redis::cmd("PING")
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("ping: {e}"))?;
            if reply == "PONG" {
                Ok(())
            } else {
                Err(format!("unexpected reply to PING: {reply}"))
            }
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis())))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
