//! Token-bucket rate limits kept in memory, per key (an API key, a client
//! address). Each Herald node limits what reaches it; with several nodes
//! behind a balancer the effective limit is the sum.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// `rate` tokens per `per`, holding at most `burst`. A rate of 0 allows everything.
#[derive(Debug)]
pub struct RateLimiter<K> {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

/// How many keys are kept before idle (full) buckets are dropped.
const PRUNE_AT: usize = 10_000;

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    pub fn new(rate: u32, per: Duration, burst: u32) -> Self {
        Self {
            per_sec: f64::from(rate) / per.as_secs_f64(),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_off(&self) -> bool {
        self.per_sec == 0.0
    }

    /// Takes a token for `key`, or says how long until one is available.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    /// Whether `key` has a token left, without taking it: how long until it
    /// has one when it has not. For limits that count only failures (bad API
    /// keys): look first, take a token once the failure happens.
    pub fn peek(&self, key: &K) -> Result<(), Duration> {
        self.peek_at(key, Instant::now())
    }

    fn peek_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.is_off() {
            return Ok(());
        }
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(bucket) = buckets.get(key) else {
            return Ok(());
        };
        let tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * self.per_sec)
            .min(self.burst);
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_sec))
        }
    }

    fn check_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.is_off() {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= PRUNE_AT {
            let (per_sec, burst) = (self.per_sec, self.burst);
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec < burst);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.per_sec;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_sec,
            ))
        }
    }
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = RateLimiter::new(10, Duration::from_secs(1), 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(&"k", t0).is_ok());
        }
        let wait = limiter.check_at(&"k", t0).unwrap_err();
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert!(limiter.check_at(&"other", t0).is_ok());
        // One token back after 100 ms.
        assert!(
            limiter
                .check_at(&"k", t0 + Duration::from_millis(101))
                .is_ok()
        );
        assert!(
            limiter
                .check_at(&"k", t0 + Duration::from_millis(102))
                .is_err()
        );
    }

    #[test]
    fn peeking_takes_no_token() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60), 2);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(limiter.peek_at(&"k", t0).is_ok());
        }
        assert!(limiter.check_at(&"k", t0).is_ok());
        assert!(limiter.check_at(&"k", t0).is_ok());
        let wait = limiter.peek_at(&"k", t0).unwrap_err();
        assert!(wait > Duration::from_secs(59), "{wait:?}");
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = RateLimiter::new(0, Duration::from_secs(1), 1);
        for _ in 0..1000 {
            assert!(limiter.check(&1).is_ok());
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
