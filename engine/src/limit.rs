//! Token-bucket rate limits per key (an API key, a client address).
//!
//! [`RateLimiter`] keeps its buckets in this node's memory. [`SharedLimiter`]
//! holds one limit across every node through Redis: the bucket lives in
//! Redis, and a node takes its tokens in chunks (a script refills and takes
//! atomically, on Redis's clock), spending them locally, so Redis is asked
//! once per chunk, not once per request. A node never spends more than it was
//! given, so together the nodes admit at most what the one bucket allows;
//! tokens a node took and did not use within [`HOLD`] are dropped (the limit
//! errs on the strict side). Without Redis, or while it is out of reach, a
//! shared limiter falls back to its node's own bucket.

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

/// How long a node may keep tokens it took from Redis before they lapse.
pub const HOLD: Duration = Duration::from_secs(1);

/// Refills a bucket (`KEYS[1]`: fields `tokens`, `at`) at `ARGV[1]` tokens
/// per millisecond up to `ARGV[2]`, and takes up to `ARGV[3]` of them, by
/// Redis's clock. Returns `{taken, 0}`, or `{0, milliseconds until one}`.
const TAKE_SCRIPT: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken = math.min(want, math.floor(tokens))
tokens = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
if taken > 0 then
  return {taken, 0}
end
return {0, math.ceil((1 - tokens) / rate)}
";

/// Tokens a node took from the shared bucket and has not spent yet.
#[derive(Debug, Clone, Copy)]
struct Held {
    tokens: u32,
    at: Instant,
}

/// One limit across every node sharing a Redis (see the module's notes);
/// this node's own [`RateLimiter`] when there is no Redis or it is down.
pub struct SharedLimiter<K> {
    /// Names the limit in Redis's keys (`api`, `login`, `bad_key`).
    name: &'static str,
    local: RateLimiter<K>,
    redis: Option<crate::deps::Redis>,
    script: redis::Script,
    /// Tokens taken from Redis at a time.
    chunk: u32,
    held: Mutex<HashMap<K, Held>>,
    /// Keys Redis refused, until when.
    refused: Mutex<HashMap<K, Instant>>,
}

impl<K: Eq + Hash + Clone + std::fmt::Display> SharedLimiter<K> {
    /// `rate` tokens per `per`, holding at most `burst`, across the nodes on
    /// `redis` (per node without it). A rate of 0 allows everything.
    pub fn new(
        name: &'static str,
        rate: u32,
        per: Duration,
        burst: u32,
        redis: Option<crate::deps::Redis>,
    ) -> Self {
        let local = RateLimiter::new(rate, per, burst);
        // A tenth of a second's worth, at most an eighth of the burst: Redis
        // is asked some ten times a second per busy key and node, and a node
        // holding a chunk it does not use keeps little from the others.
        let chunk = (local.per_sec / 10.0)
            .min(local.burst / 8.0)
            .floor()
            .max(1.0) as u32;
        Self {
            name,
            local,
            redis,
            script: redis::Script::new(TAKE_SCRIPT),
            chunk,
            held: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_off(&self) -> bool {
        self.local.is_off()
    }

    /// Takes a token for `key`, or says how long until one is available.
    pub async fn check(&self, key: &K) -> Result<(), Duration> {
        if self.is_off() {
            return Ok(());
        }
        let Some(redis) = &self.redis else {
            return self.local.check(key);
        };
        if self.spend_held(key) {
            return Ok(());
        }
        if let Some(wait) = self.refused_for(key) {
            return Err(wait);
        }
        match self.take(redis, key).await {
            Some(Ok(taken)) => {
                if taken > 1 {
                    let mut held = lock(&self.held);
                    if held.len() >= PRUNE_AT {
                        held.retain(|_, h| h.at.elapsed() < HOLD);
                    }
                    held.insert(
                        key.clone(),
                        Held {
                            tokens: taken - 1,
                            at: Instant::now(),
                        },
                    );
                }
                Ok(())
            }
            Some(Err(wait)) => {
                let mut refused = lock(&self.refused);
                if refused.len() >= PRUNE_AT {
                    let now = Instant::now();
                    refused.retain(|_, until| *until > now);
                }
                refused.insert(key.clone(), Instant::now() + wait);
                Err(wait)
            }
            None => self.local.check(key),
        }
    }

    /// Whether `key` may go on, without taking a token: for limits that count
    /// only failures (bad API keys). Shared, it answers from what this node
    /// knows (tokens in hand, a recent refusal), never asking Redis.
    pub fn peek(&self, key: &K) -> Result<(), Duration> {
        match &self.redis {
            Some(redis) if redis.is_up() => self.refused_for(key).map_or(Ok(()), Err),
            _ => self.local.peek(key),
        }
    }

    fn spend_held(&self, key: &K) -> bool {
        let mut held = lock(&self.held);
        match held.get_mut(key) {
            Some(h) if h.tokens > 0 && h.at.elapsed() < HOLD => {
                h.tokens -= 1;
                true
            }
            Some(_) => {
                held.remove(key);
                false
            }
            None => false,
        }
    }

    fn refused_for(&self, key: &K) -> Option<Duration> {
        let refused = lock(&self.refused);
        refused
            .get(key)
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|wait| !wait.is_zero())
    }

    /// Up to a chunk of tokens from the shared bucket: `Ok(taken)`, or
    /// `Err(wait)` when it is empty; `None` when Redis is out of reach.
    async fn take(&self, redis: &crate::deps::Redis, key: &K) -> Option<Result<u32, Duration>> {
        let bucket = redis.name(&format!("limit:{}:{key}", self.name));
        let per_ms = self.local.per_sec / 1_000.0;
        let (burst, chunk) = (self.local.burst, self.chunk);
        let script = &self.script;
        let reply: (u32, u64) = redis
            .call("rate limit", |mut connection| async move {
                script
                    .key(bucket)
                    .arg(per_ms)
                    .arg(burst)
                    .arg(chunk)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        Some(match reply {
            (0, wait_ms) => Err(Duration::from_millis(wait_ms.max(1))),
            (taken, _) => Ok(taken),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
