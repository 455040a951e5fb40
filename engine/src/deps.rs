//! Optional external dependencies (Redis) and their health checks.

use std::time::Duration;

/// A configured Redis. Today `/readyz` checks it and nothing else uses it; it
/// is where the live feed and shared rate limits will go when several nodes
/// share the work (DESIGN.md). Herald keeps delivering while it is down.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
}

impl Redis {
    /// Parses the URL; no connection is made until it is used.
    pub fn open(url: &str) -> Result<Self, String> {
        redis::Client::open(url)
            .map(|client| Self { client })
            .map_err(|e| e.to_string())
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
