//! Values to and from their stored form, the same for every backend: times as
//! milliseconds since the epoch, ids and enums as text, JSON as text.

use chrono::{DateTime, TimeZone, Utc};

use crate::model::Semantics;
use crate::{EngineError, Result};

pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Parses an id or an enum value read back from the database; a malformed
/// one is corruption.
pub(crate) fn stored_id<T: std::str::FromStr>(value: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| EngineError::Internal(format!("corrupt value in database: {e}")))
}

/// A stored count, never negative.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| EngineError::Internal(format!("cannot encode JSON: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| EngineError::Internal(format!("corrupt {what} in database: {e}")))
}

pub(crate) fn semantics_of(text: &str) -> Semantics {
    match text {
        "at_most_once" => Semantics::AtMostOnce,
        "effectively_once" => Semantics::EffectivelyOnce,
        _ => Semantics::AtLeastOnce,
    }
}
