//! Per-endpoint rate limits: a token bucket the claims spend. It holds one
//! second's worth of deliveries (at least one) and refills at the limit's
//! rate; a claim takes no more of an endpoint's deliveries than it holds.

use serde::{Deserialize, Serialize};

/// The unit of a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RatePer {
    Second,
    Minute,
}

impl RatePer {
    /// The period in milliseconds.
    pub fn period_ms(self) -> i64 {
        match self {
            RatePer::Second => 1_000,
            RatePer::Minute => 60_000,
        }
    }

    /// The unit a stored period names (`None`: not one Herald writes).
    pub fn of_period_ms(ms: i64) -> Option<Self> {
        match ms {
            1_000 => Some(RatePer::Second),
            60_000 => Some(RatePer::Minute),
            _ => None,
        }
    }
}

/// At most `limit` deliveries `per` second or minute to one endpoint, over
/// every node. Throttled deliveries wait; they are not attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// 1 to 100000.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100_000))]
    pub limit: u32,
    pub per: RatePer,
}

/// The largest `limit`.
pub const MAX_RATE_LIMIT: u32 = 100_000;

impl RateLimit {
    /// Tokens per millisecond.
    pub fn per_ms(&self) -> f64 {
        f64::from(self.limit) / self.per.period_ms() as f64
    }

    /// The most tokens the bucket holds: one second's worth, at least one.
    pub fn capacity(&self) -> f64 {
        (self.per_ms() * 1_000.0).max(1.0)
    }

    /// The tokens at `now_ms` of a bucket that held `tokens` at
    /// `counted_at` (a full bucket when it was never counted).
    pub fn available(&self, counted: Option<(f64, i64)>, now_ms: i64) -> f64 {
        match counted {
            None => self.capacity(),
            Some((tokens, at)) => {
                (tokens + (now_ms - at).max(0) as f64 * self.per_ms()).min(self.capacity())
            }
        }
    }

    /// The limit as written in the console: `100/s`, `600/min`.
    pub fn text(&self) -> String {
        match self.per {
            RatePer::Second => format!("{}/s", self.limit),
            RatePer::Minute => format!("{}/min", self.limit),
        }
    }

    /// Reads `100/s`, `100/second`, `600/min` or `600/minute`.
    pub fn parse(text: &str) -> Option<Self> {
        let (n, unit) = text.trim().split_once('/')?;
        let limit: u32 = n.trim().parse().ok()?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => RatePer::Second,
            "m" | "min" | "minute" => RatePer::Minute,
            _ => return None,
        };
        Some(RateLimit { limit, per })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_a_second_and_refills_at_the_rate() {
        let ten = RateLimit {
            limit: 10,
            per: RatePer::Second,
        };
        assert_eq!(ten.capacity(), 10.0);
        assert_eq!(ten.available(None, 0), 10.0);
        assert_eq!(ten.available(Some((0.0, 1_000)), 1_500), 5.0);
        assert_eq!(ten.available(Some((0.0, 0)), 60_000), 10.0);
        assert_eq!(ten.available(Some((-3.0, 0)), 100), -2.0);
        // A clock behind the stored count refills nothing.
        assert_eq!(ten.available(Some((2.0, 5_000)), 4_000), 2.0);
        let slow = RateLimit {
            limit: 30,
            per: RatePer::Minute,
        };
        assert_eq!(slow.capacity(), 1.0);
        assert!((slow.available(Some((0.0, 0)), 1_000) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn limits_read_and_write_as_the_console_shows_them() {
        for text in ["100/s", "600/min"] {
            assert_eq!(RateLimit::parse(text).unwrap().text(), text);
        }
        assert_eq!(
            RateLimit::parse(" 5 / second "),
            Some(RateLimit {
                limit: 5,
                per: RatePer::Second
            })
        );
        for bad in ["", "100", "x/s", "100/h", "-1/s"] {
            assert_eq!(RateLimit::parse(bad), None, "{bad}");
        }
    }
}
