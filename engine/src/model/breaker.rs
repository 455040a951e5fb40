//! Per-endpoint circuit breakers. Closed, an endpoint gets its deliveries as
//! usual; when the share of failed attempts over a sliding window passes a
//! threshold (with a minimum number of attempts), it opens: the endpoint's
//! due deliveries wait without attempts until a cool-down ends; then one
//! probe goes out (half-open). Its success closes the breaker; its failure
//! opens it again with a cool-down twice as long (up to a maximum). After
//! failing continuously for long enough, or for enough consecutive trips,
//! the endpoint is disabled.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An endpoint's breaker settings; every field has a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BreakerSettings {
    /// False: failures never open it (default true).
    #[serde(default = "on")]
    pub enabled: bool,
    /// The share of failed attempts in the window that opens it, in per cent,
    /// 1 to 100 (default 50).
    #[serde(default = "failure_percent")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub failure_percent: u32,
    /// Attempts the window must hold before it can open, 1 to 10000
    /// (default 20).
    #[serde(default = "min_attempts")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000))]
    pub min_attempts: u32,
    /// The window, in seconds, 60 to 3600 (default 120), counted in whole
    /// minutes: the current one and those before it that the window reaches.
    #[serde(default = "window_secs")]
    #[cfg_attr(feature = "openapi", schema(minimum = 60, maximum = 3_600))]
    pub window_secs: u32,
    /// How long it stays open before a probe, in seconds, 1 to 3600
    /// (default 30); each failed probe doubles it.
    #[serde(default = "cooldown_secs")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3_600))]
    pub cooldown_secs: u32,
    /// The longest cool-down, in seconds, from `cooldown_secs` to 86400
    /// (default 3600).
    #[serde(default = "max_cooldown_secs")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 86_400))]
    pub max_cooldown_secs: u32,
    /// Disable the endpoint once it has been open, without a successful
    /// probe, this long (seconds, 60 to 2592000; default 259200, three
    /// days); `null`: never for that.
    #[serde(default = "disable_after_secs")]
    #[cfg_attr(feature = "openapi", schema(minimum = 60, maximum = 2_592_000))]
    pub disable_after_secs: Option<u32>,
    /// Disable the endpoint after this many trips in a row without a
    /// successful probe, 1 to 1000; `null` (default): never for that.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000))]
    pub disable_after_trips: Option<u32>,
}

fn on() -> bool {
    true
}
fn failure_percent() -> u32 {
    50
}
fn min_attempts() -> u32 {
    20
}
fn window_secs() -> u32 {
    120
}
fn cooldown_secs() -> u32 {
    30
}
fn max_cooldown_secs() -> u32 {
    3_600
}
#[allow(clippy::unnecessary_wraps)]
fn disable_after_secs() -> Option<u32> {
    Some(3 * 24 * 3_600)
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            enabled: on(),
            failure_percent: failure_percent(),
            min_attempts: min_attempts(),
            window_secs: window_secs(),
            cooldown_secs: cooldown_secs(),
            max_cooldown_secs: max_cooldown_secs(),
            disable_after_secs: disable_after_secs(),
            disable_after_trips: None,
        }
    }
}

impl BreakerSettings {
    /// The first field out of bounds, and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let within = |field: &'static str, v: u32, lo: u32, hi: u32| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err((field, format!("must be from {lo} to {hi}")))
            }
        };
        within(
            "circuit_breaker.failure_percent",
            self.failure_percent,
            1,
            100,
        )?;
        within("circuit_breaker.min_attempts", self.min_attempts, 1, 10_000)?;
        within("circuit_breaker.window_secs", self.window_secs, 60, 3_600)?;
        within(
            "circuit_breaker.cooldown_secs",
            self.cooldown_secs,
            1,
            3_600,
        )?;
        within(
            "circuit_breaker.max_cooldown_secs",
            self.max_cooldown_secs,
            self.cooldown_secs,
            86_400,
        )?;
        if let Some(secs) = self.disable_after_secs {
            within("circuit_breaker.disable_after_secs", secs, 60, 2_592_000)?;
        }
        if let Some(trips) = self.disable_after_trips {
            within("circuit_breaker.disable_after_trips", trips, 1, 1_000)?;
        }
        Ok(())
    }

    /// Whether `failed` of `attempts` in the window open the breaker.
    pub fn trips(&self, attempts: u64, failed: u64) -> bool {
        self.enabled
            && attempts >= u64::from(self.min_attempts)
            && failed * 100 >= attempts * u64::from(self.failure_percent)
    }

    /// The cool-down after the `trip`-th trip in a row (1: the first):
    /// doubled each time, at most `max_cooldown_secs`.
    pub fn cooldown_ms(&self, trip: u32) -> i64 {
        let doubled = u64::from(self.cooldown_secs)
            .saturating_mul(1u64 << trip.saturating_sub(1).min(20))
            .min(u64::from(self.max_cooldown_secs));
        i64::try_from(doubled * 1_000).unwrap_or(i64::MAX)
    }

    /// Why a breaker that has failed since `failing_since` and tripped
    /// `trips` times in a row disables its endpoint at `now`, if it does.
    pub fn disables(&self, failing_since: i64, trips: u32, now: i64) -> Option<String> {
        if let Some(max) = self.disable_after_trips
            && trips >= max
        {
            return Some(format!("{trips} trips in a row without a successful probe"));
        }
        if let Some(secs) = self.disable_after_secs
            && now - failing_since >= i64::from(secs) * 1_000
        {
            return Some(format!(
                "failing for {} without a successful probe",
                crate::model::format_secs(u64::from(secs))
            ));
        }
        None
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Deliveries go out as usual.
    Closed,
    /// Deliveries wait until `probe_at`.
    Open,
    /// The cool-down is over: the next delivery is the probe (one at a time).
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// An endpoint's breaker now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakerOut {
    pub state: BreakerState,
    /// When it last opened (while open or half-open).
    pub opened_at: Option<DateTime<Utc>>,
    /// When the probe may go (while open or half-open).
    pub probe_at: Option<DateTime<Utc>>,
    /// Trips in a row without a successful probe.
    pub trips: u32,
    /// Since when it has been failing without a successful probe.
    pub failing_since: Option<DateTime<Utc>>,
}

impl BreakerOut {
    pub const CLOSED: BreakerOut = BreakerOut {
        state: BreakerState::Closed,
        opened_at: None,
        probe_at: None,
        trips: 0,
        failing_since: None,
    };
}

/// A change of an endpoint's breaker, as the live feed and the operations
/// endpoint tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BreakerChange {
    /// It opened (or opened again after a failed probe).
    Opened,
    /// A probe succeeded.
    Closed,
    /// It failed for too long, or tripped too often: the endpoint is disabled.
    Disabled,
}

impl BreakerChange {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerChange::Opened => "opened",
            BreakerChange::Closed => "closed",
            BreakerChange::Disabled => "disabled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_trips_on_the_share_of_failures_once_the_window_holds_enough() {
        let s = BreakerSettings::default();
        assert!(!s.trips(19, 19), "fewer attempts than the minimum");
        assert!(s.trips(20, 10), "half of twenty");
        assert!(!s.trips(20, 9));
        assert!(
            !BreakerSettings {
                enabled: false,
                ..s
            }
            .trips(100, 100)
        );
    }

    #[test]
    fn the_cool_down_doubles_up_to_its_maximum() {
        let s = BreakerSettings::default();
        assert_eq!(s.cooldown_ms(1), 30_000);
        assert_eq!(s.cooldown_ms(2), 60_000);
        assert_eq!(s.cooldown_ms(8), 3_600_000);
        assert_eq!(s.cooldown_ms(u32::MAX), 3_600_000);
    }

    #[test]
    fn it_disables_after_the_time_or_the_trips_given() {
        let s = BreakerSettings {
            disable_after_trips: Some(3),
            ..BreakerSettings::default()
        };
        assert_eq!(s.disables(0, 2, 1_000), None);
        assert!(
            s.disables(0, 3, 1_000)
                .is_some_and(|r| r.contains("3 trips"))
        );
        assert!(
            s.disables(0, 1, 3 * 24 * 3_600 * 1_000)
                .is_some_and(|r| r.contains("failing for"))
        );
        let never = BreakerSettings {
            disable_after_secs: None,
            ..BreakerSettings::default()
        };
        assert_eq!(never.disables(0, 500, i64::MAX / 2), None);
    }

    #[test]
    fn settings_default_field_by_field_and_refuse_what_is_out_of_bounds() {
        let s: BreakerSettings =
            serde_json::from_str(r#"{"failure_percent": 80, "disable_after_secs": null}"#).unwrap();
        assert_eq!(s.failure_percent, 80);
        assert_eq!(s.min_attempts, 20);
        assert_eq!(s.disable_after_secs, None);
        assert!(s.validate().is_ok());
        let bad = BreakerSettings {
            max_cooldown_secs: 10,
            ..BreakerSettings::default()
        };
        assert_eq!(
            bad.validate().unwrap_err().0,
            "circuit_breaker.max_cooldown_secs"
        );
    }
}
