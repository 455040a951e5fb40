//! Retry policies as plain data. A policy computes the delay before the next
//! attempt; the dispatcher never hard-codes one. Pure and clock-free (callers
//! pass the time and the random draw), so it also runs in the console's wasm to
//! preview a schedule.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// How the delay between attempts grows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Backoff {
    /// Explicit delays in seconds: the first retry waits `delays_secs[0]`, and so
    /// on; past the end the last delay repeats.
    Schedule {
        /// 1 to 100 delays, each 0 to 604800 s (7 days).
        #[cfg_attr(
            feature = "openapi",
            schema(value_type = Vec<DelaySecs>, min_items = 1, max_items = 100)
        )]
        delays_secs: Cow<'static, [u64]>,
    },
    /// `base_secs * factor^(retry - 1)`, never more than `cap_secs` (so a cap
    /// below the base makes every delay the cap).
    Exponential {
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 604_800))]
        base_secs: u64,
        #[cfg_attr(feature = "openapi", schema(minimum = 1.0, maximum = 10.0))]
        factor: f64,
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 604_800))]
        cap_secs: u64,
    },
}

/// One delay of a schedule, in seconds: the OpenAPI document's name for its bounds.
#[cfg(feature = "openapi")]
pub struct DelaySecs;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for DelaySecs {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(0))
            .maximum(Some(WEEK as f64))
            .description(Some("A delay in seconds, 0 to 604800 (7 days)."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for DelaySecs {}

/// When and how often a failed delivery is tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    pub backoff: Backoff,
    /// Attempts in all, the first one included (1 to 100).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub max_attempts: u32,
    /// Give up once this long has passed since the first attempt (1 to 2592000
    /// s, 30 days; none: no limit).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 2_592_000))]
    pub max_age_secs: Option<u64>,
    /// Each delay is moved by up to this fraction either way (0.0 to 0.5), so
    /// receivers that failed together are not retried in lockstep.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0.0, maximum = 0.5))]
    pub jitter: f64,
    /// A receiver's `Retry-After` (on 429/503) is honoured up to this many
    /// seconds (0 to 604800, 7 days; default 3600).
    #[serde(default = "default_retry_after_cap")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 604_800))]
    pub retry_after_cap_secs: u64,
    /// Response statuses that end a delivery at once, without a retry: its
    /// receiver says the request itself is wrong (for example `[400, 401,
    /// 403, 404, 422]`). At most 50 statuses from 300 to 599. Default none:
    /// every failure but 410 (which disables the endpoint) is retried.
    #[serde(default, skip_serializing_if = "<[u16]>::is_empty")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Vec<GiveUpStatus>, max_items = 50)
    )]
    pub give_up_on: Cow<'static, [u16]>,
}

/// A response status that ends a delivery at once: the OpenAPI document's
/// name for its bounds.
#[cfg(feature = "openapi")]
pub struct GiveUpStatus;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for GiveUpStatus {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(300))
            .maximum(Some(599))
            .description(Some("An HTTP status, 300 to 599."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for GiveUpStatus {}

/// The longest delay, `Retry-After` cap and base a policy may name: 7 days.
pub const WEEK: u64 = 7 * 24 * 3_600;
/// The longest `max_age_secs`: 30 days.
pub const MAX_AGE_SECS: u64 = 30 * 24 * 3_600;

const fn default_retry_after_cap() -> u64 {
    3_600
}

/// Why a delivery will not be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GiveUp {
    MaxAttempts,
    MaxAge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again after this many milliseconds.
    RetryInMs(u64),
    GiveUp(GiveUp),
}

impl RetryPolicy {
    /// The Standard Webhooks example schedule: immediately, then 5 s, 5 min,
    /// 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h later (ten attempts).
    pub const STANDARD: RetryPolicy = RetryPolicy {
        backoff: Backoff::Schedule {
            delays_secs: Cow::Borrowed(&[
                5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400,
            ]),
        },
        max_attempts: 10,
        max_age_secs: None,
        jitter: 0.1,
        retry_after_cap_secs: default_retry_after_cap(),
        give_up_on: Cow::Borrowed(&[]),
    };

    pub fn schedule(delays_secs: Vec<u64>) -> Self {
        let max_attempts = u32::try_from(delays_secs.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        RetryPolicy {
            backoff: Backoff::Schedule {
                delays_secs: Cow::Owned(delays_secs),
            },
            max_attempts,
            ..Self::STANDARD
        }
    }

    pub fn exponential(base_secs: u64, factor: f64, cap_secs: u64) -> Self {
        RetryPolicy {
            backoff: Backoff::Exponential {
                base_secs,
                factor,
                cap_secs,
            },
            ..Self::STANDARD
        }
    }

    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    pub fn with_max_age_secs(mut self, secs: Option<u64>) -> Self {
        self.max_age_secs = secs;
        self
    }

    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Checks a policy from outside; the message names the field at fault.
    /// Whether a response with this status ends the delivery at once.
    pub fn gives_up_on(&self, status: u16) -> bool {
        self.give_up_on.contains(&status)
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.max_attempts) {
            return Err("max_attempts: must be from 1 to 100".into());
        }
        if !(0.0..=0.5).contains(&self.jitter) {
            return Err("jitter: must be from 0.0 to 0.5".into());
        }
        if self
            .max_age_secs
            .is_some_and(|age| age == 0 || age > MAX_AGE_SECS)
        {
            return Err(format!(
                "max_age_secs: must be from 1 to {MAX_AGE_SECS} (30 days), or absent for no limit"
            ));
        }
        if self.retry_after_cap_secs > WEEK {
            return Err(format!(
                "retry_after_cap_secs: must be from 0 to {WEEK} (7 days)"
            ));
        }
        if self.give_up_on.len() > 50 {
            return Err("give_up_on: at most 50 statuses".into());
        }
        if let Some(bad) = self.give_up_on.iter().find(|s| !(300..=599).contains(*s)) {
            return Err(format!(
                "give_up_on: {bad} is not a failure status (300 to 599)"
            ));
        }
        match &self.backoff {
            Backoff::Schedule { delays_secs } => {
                if delays_secs.is_empty() {
                    return Err("backoff.delays_secs: needs at least one delay".into());
                }
                if delays_secs.len() > 100 {
                    return Err("backoff.delays_secs: at most 100 delays".into());
                }
                if delays_secs.iter().any(|d| *d > WEEK) {
                    return Err(
                        "backoff.delays_secs: each delay must be at most 604800 s (7 days)".into(),
                    );
                }
            }
            Backoff::Exponential {
                base_secs,
                factor,
                cap_secs,
            } => {
                if *base_secs == 0 || *base_secs > WEEK {
                    return Err("backoff.base_secs: must be from 1 to 604800".into());
                }
                if !factor.is_finite() || !(1.0..=10.0).contains(factor) {
                    return Err("backoff.factor: must be from 1.0 to 10.0".into());
                }
                if *cap_secs == 0 || *cap_secs > WEEK {
                    return Err("backoff.cap_secs: must be from 1 to 604800".into());
                }
            }
        }
        Ok(())
    }

    /// The planned delay in seconds before retry number `retry` (1 = the first
    /// retry, after the first attempt failed), without jitter.
    pub fn base_delay_secs(&self, retry: u32) -> u64 {
        let retry = retry.max(1);
        match &self.backoff {
            Backoff::Schedule { delays_secs } => {
                let i = usize::try_from(retry - 1)
                    .unwrap_or(usize::MAX)
                    .min(delays_secs.len().saturating_sub(1));
                delays_secs.get(i).copied().unwrap_or(0)
            }
            Backoff::Exponential {
                base_secs,
                factor,
                cap_secs,
            } => {
                let grown =
                    *base_secs as f64 * factor.powi(i32::try_from(retry - 1).unwrap_or(i32::MAX));
                if grown.is_finite() {
                    (grown as u64).min(*cap_secs)
                } else {
                    *cap_secs
                }
            }
        }
    }

    /// What to do after attempt number `attempts_made` failed.
    ///
    /// `age_ms` is the time since the first attempt, `retry_after_ms` the
    /// receiver's `Retry-After` when it sent one with a 429 or 503, and `draw` a
    /// uniform random number in [0, 1) for the jitter.
    pub fn next(
        &self,
        attempts_made: u32,
        age_ms: u64,
        retry_after_ms: Option<u64>,
        draw: f64,
    ) -> Next {
        if attempts_made >= self.max_attempts {
            return Next::GiveUp(GiveUp::MaxAttempts);
        }
        let planned_ms = self.base_delay_secs(attempts_made).saturating_mul(1_000);
        let spread = (draw.clamp(0.0, 1.0) * 2.0 - 1.0) * self.jitter;
        let jittered = (planned_ms as f64 * (1.0 + spread)).max(0.0) as u64;
        let delay_ms = match retry_after_ms {
            // The receiver asked for a pause: at least that, within the cap.
            // The cap is bounded again here: a policy stored before the
            // bound existed must not park a delivery for centuries.
            Some(asked) => {
                let cap = self.retry_after_cap_secs.min(WEEK);
                jittered.max(asked.min(cap.saturating_mul(1_000)))
            }
            None => jittered,
        };
        if let Some(max_age) = self.max_age_secs
            && age_ms.saturating_add(delay_ms) > max_age.saturating_mul(1_000)
        {
            return Next::GiveUp(GiveUp::MaxAge);
        }
        Next::RetryInMs(delay_ms)
    }

    /// Offsets in seconds from the first attempt at which each attempt is
    /// planned (the first is 0), without jitter: the schedule preview.
    pub fn preview_offsets_secs(&self) -> Vec<u64> {
        let mut offsets = vec![0u64];
        let mut at = 0u64;
        for retry in 1..self.max_attempts {
            at = at.saturating_add(self.base_delay_secs(retry));
            if self.max_age_secs.is_some_and(|max| at > max) {
                break;
            }
            offsets.push(at);
        }
        offsets
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::STANDARD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_JITTER: f64 = 0.5;

    #[test]
    fn the_default_is_the_standard_webhooks_schedule() {
        let p = RetryPolicy::default();
        assert_eq!(p.validate(), Ok(()));
        let hours = |h: u64| h * 3_600;
        assert_eq!(
            p.preview_offsets_secs(),
            vec![
                0,
                5,
                5 + 300,
                5 + 300 + 1_800,
                5 + 300 + 1_800 + hours(2),
                5 + 300 + 1_800 + hours(2 + 5),
                5 + 300 + 1_800 + hours(2 + 5 + 10),
                5 + 300 + 1_800 + hours(2 + 5 + 10 + 14),
                5 + 300 + 1_800 + hours(2 + 5 + 10 + 14 + 20),
                5 + 300 + 1_800 + hours(2 + 5 + 10 + 14 + 20 + 24),
            ]
        );
        assert_eq!(p.next(1, 0, None, NO_JITTER), Next::RetryInMs(5_000));
        assert_eq!(p.next(2, 0, None, NO_JITTER), Next::RetryInMs(300_000));
        assert_eq!(
            p.next(10, 0, None, NO_JITTER),
            Next::GiveUp(GiveUp::MaxAttempts)
        );
    }

    #[test]
    fn exponential_grows_by_its_factor_up_to_the_cap() {
        let p = RetryPolicy::exponential(2, 3.0, 100)
            .with_max_attempts(8)
            .with_jitter(0.0);
        let delays: Vec<u64> = (1..8).map(|r| p.base_delay_secs(r)).collect();
        assert_eq!(delays, vec![2, 6, 18, 54, 100, 100, 100]);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let p = RetryPolicy::schedule(vec![100])
            .with_max_attempts(5)
            .with_jitter(0.2);
        for i in 0..=100 {
            let draw = f64::from(i) / 100.0;
            let Next::RetryInMs(ms) = p.next(1, 0, None, draw) else {
                panic!("must retry")
            };
            assert!((80_000..=120_000).contains(&ms), "{ms} for draw {draw}");
        }
        assert_eq!(p.next(1, 0, None, 0.0), Next::RetryInMs(80_000));
        assert_eq!(p.next(1, 0, None, 1.0), Next::RetryInMs(120_000));
    }

    #[test]
    fn retry_after_is_honoured_within_its_cap() {
        let mut p = RetryPolicy::schedule(vec![1])
            .with_max_attempts(3)
            .with_jitter(0.0);
        assert_eq!(
            p.next(1, 0, Some(30_000), NO_JITTER),
            Next::RetryInMs(30_000)
        );
        p.retry_after_cap_secs = 10;
        assert_eq!(
            p.next(1, 0, Some(30_000), NO_JITTER),
            Next::RetryInMs(10_000)
        );
        // A shorter Retry-After never shortens the planned delay.
        let slow = RetryPolicy::schedule(vec![60]).with_jitter(0.0);
        assert_eq!(
            slow.next(1, 0, Some(1_000), NO_JITTER),
            Next::RetryInMs(60_000)
        );
    }

    #[test]
    fn max_age_ends_retries_before_the_next_one_would_pass_it() {
        let p = RetryPolicy::schedule(vec![10, 10, 10])
            .with_jitter(0.0)
            .with_max_age_secs(Some(25));
        assert_eq!(p.next(1, 0, None, NO_JITTER), Next::RetryInMs(10_000));
        assert_eq!(p.next(2, 10_000, None, NO_JITTER), Next::RetryInMs(10_000));
        assert_eq!(
            p.next(3, 20_000, None, NO_JITTER),
            Next::GiveUp(GiveUp::MaxAge)
        );
        assert_eq!(p.preview_offsets_secs(), vec![0, 10, 20]);
    }

    #[test]
    fn a_schedule_repeats_its_last_delay() {
        let p = RetryPolicy::schedule(vec![1, 2]).with_max_attempts(5);
        assert_eq!(p.preview_offsets_secs(), vec![0, 1, 3, 5, 7]);
    }

    #[test]
    fn invalid_policies_name_the_field() {
        let bad = [
            (RetryPolicy::default().with_max_attempts(0), "max_attempts"),
            (RetryPolicy::default().with_jitter(0.9), "jitter"),
            (RetryPolicy::exponential(0, 2.0, 10), "base_secs"),
            (RetryPolicy::exponential(5, 0.5, 10), "factor"),
            (RetryPolicy::exponential(5, 2.0, 0), "cap_secs"),
            (RetryPolicy::exponential(5, 2.0, WEEK + 1), "cap_secs"),
            (
                RetryPolicy::schedule(vec![]).with_max_attempts(3),
                "delays_secs",
            ),
            (RetryPolicy::schedule(vec![1_000_000]), "delays_secs"),
            (
                RetryPolicy::default().with_max_age_secs(Some(0)),
                "max_age_secs",
            ),
            (
                RetryPolicy::default().with_max_age_secs(Some(u64::MAX)),
                "max_age_secs",
            ),
            (
                RetryPolicy {
                    retry_after_cap_secs: u64::MAX,
                    ..RetryPolicy::default()
                },
                "retry_after_cap_secs",
            ),
            (
                RetryPolicy {
                    retry_after_cap_secs: WEEK + 1,
                    ..RetryPolicy::default()
                },
                "retry_after_cap_secs",
            ),
            (
                RetryPolicy {
                    give_up_on: vec![404, 200].into(),
                    ..RetryPolicy::default()
                },
                "give_up_on",
            ),
            (
                RetryPolicy {
                    give_up_on: vec![400; 51].into(),
                    ..RetryPolicy::default()
                },
                "give_up_on",
            ),
        ];
        for (policy, field) in bad {
            let err = policy.validate().expect_err(field);
            assert!(
                err.starts_with(field) || err.contains(field),
                "{err} should name {field}"
            );
        }
    }

    #[test]
    fn the_largest_valid_policy_is_accepted() {
        let widest = RetryPolicy {
            retry_after_cap_secs: WEEK,
            give_up_on: (300..350).collect::<Vec<u16>>().into(),
            ..RetryPolicy::schedule(vec![WEEK; 100])
                .with_max_attempts(100)
                .with_max_age_secs(Some(MAX_AGE_SECS))
        };
        assert_eq!(widest.validate(), Ok(()));
        // A stored policy from before the bound waits at most the bound.
        let unbounded = RetryPolicy {
            retry_after_cap_secs: u64::MAX,
            ..RetryPolicy::default()
        };
        assert_eq!(
            unbounded.next(1, 0, Some(u64::MAX), NO_JITTER),
            Next::RetryInMs(WEEK * 1_000)
        );
    }

    #[test]
    fn policies_round_trip_through_json() {
        let p = RetryPolicy::exponential(1, 2.0, 60).with_max_attempts(4);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains(r#""kind":"exponential""#), "{json}");
        assert_eq!(serde_json::from_str::<RetryPolicy>(&json).unwrap(), p);
        let typo =
            r#"{"backoff":{"kind":"schedule","delays_secs":[1]},"max_attempts":2,"jiter":0.1}"#;
        assert!(serde_json::from_str::<RetryPolicy>(typo).is_err());
    }
}
