//! Turning console form fields into engine input, in one place for both sides:
//! the browser uses it for the live retry-schedule preview, the server to check
//! what was submitted.

use herald_engine::retry::{Backoff, RetryPolicy};

/// A form field at fault and why, shown beside that field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn field_error(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// A duration such as `30`, `30s`, `5m`, `2h` or `1d`, in seconds.
pub fn parse_duration_secs(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "s" | "sec" | "secs" => 1,
        "m" | "min" | "mins" => 60,
        "h" | "hr" | "hrs" => 3_600,
        "d" | "day" | "days" => 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}

pub use herald_engine::model::format_secs as format_duration_secs;

/// The fields of the retry-policy form, as typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyFields {
    /// `schedule` or `exponential`.
    pub kind: String,
    /// Comma-separated delays, for a schedule: `5s, 5m, 30m`.
    pub delays: String,
    pub base: String,
    pub factor: String,
    pub cap: String,
    pub max_attempts: String,
    /// Empty for no limit.
    pub max_age: String,
    /// Percent, 0 to 50.
    pub jitter_percent: String,
    /// Comma-separated statuses that end a delivery at once: `400, 404`.
    pub give_up_on: String,
}

impl PolicyFields {
    /// The form filled in from a stored policy.
    pub fn from_policy(policy: &RetryPolicy) -> Self {
        let mut fields = PolicyFields {
            max_attempts: policy.max_attempts.to_string(),
            max_age: policy
                .max_age_secs
                .map(format_duration_secs)
                .unwrap_or_default(),
            jitter_percent: format!("{}", (policy.jitter * 100.0).round()),
            give_up_on: give_up_text(policy),
            ..Default::default()
        };
        match &policy.backoff {
            Backoff::Schedule { delays_secs } => {
                fields.kind = "schedule".into();
                fields.delays = delays_secs
                    .iter()
                    .map(|d| format_duration_secs(*d).replace(' ', ""))
                    .collect::<Vec<_>>()
                    .join(", ");
                fields.base = "5s".into();
                fields.factor = "2".into();
                fields.cap = "1h".into();
            }
            Backoff::Exponential {
                base_secs,
                factor,
                cap_secs,
            } => {
                fields.kind = "exponential".into();
                fields.base = format_duration_secs(*base_secs).replace(' ', "");
                fields.factor = factor.to_string();
                fields.cap = format_duration_secs(*cap_secs).replace(' ', "");
            }
        }
        fields
    }

    /// The policy these fields describe, checked by the engine's own rules.
    pub fn to_policy(&self) -> Result<RetryPolicy, FieldError> {
        let duration = |field: &'static str, text: &str| {
            parse_duration_secs(text).ok_or_else(|| {
                field_error(
                    field,
                    format!("'{text}' is not a duration like 30s, 5m, 2h or 1d"),
                )
            })
        };
        let backoff = match self.kind.as_str() {
            "schedule" => {
                let delays = self
                    .delays
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(|d| duration("delays", d))
                    .collect::<Result<Vec<_>, _>>()?;
                Backoff::Schedule {
                    delays_secs: delays.into(),
                }
            }
            "exponential" => Backoff::Exponential {
                base_secs: duration("base", &self.base)?,
                factor: self
                    .factor
                    .trim()
                    .parse()
                    .map_err(|_| field_error("factor", "must be a number such as 2 or 1.5"))?,
                cap_secs: duration("cap", &self.cap)?,
            },
            other => {
                return Err(field_error(
                    "kind",
                    format!("'{other}' is not a kind of backoff; choose schedule or exponential"),
                ));
            }
        };
        let max_attempts = self
            .max_attempts
            .trim()
            .parse()
            .map_err(|_| field_error("max_attempts", "must be a whole number from 1 to 100"))?;
        let max_age_secs = match self.max_age.trim() {
            "" => None,
            text => Some(duration("max_age", text)?),
        };
        let jitter: f64 = match self.jitter_percent.trim() {
            "" => 0.0,
            text => text
                .parse::<f64>()
                .map_err(|_| field_error("jitter", "must be a percentage from 0 to 50"))?,
        };
        let give_up_on = self
            .give_up_on
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<u16>().map_err(|_| {
                    field_error(
                        "give_up_on",
                        format!("'{t}' is not an HTTP status such as 404"),
                    )
                })
            })
            .collect::<Result<Vec<u16>, _>>()?;
        let policy = RetryPolicy {
            backoff,
            max_attempts,
            max_age_secs,
            jitter: jitter / 100.0,
            retry_after_cap_secs: RetryPolicy::STANDARD.retry_after_cap_secs,
            give_up_on: give_up_on.into(),
        };
        policy.validate().map_err(|message| {
            let field = match message.split(':').next().unwrap_or_default() {
                "max_attempts" => "max_attempts",
                "jitter" => "jitter",
                "max_age_secs" => "max_age",
                "backoff.delays_secs" => "delays",
                "backoff.base_secs" => "base",
                "backoff.factor" => "factor",
                "backoff.cap_secs" => "cap",
                "give_up_on" => "give_up_on",
                _ => "policy",
            };
            let message = message
                .split_once(": ")
                .map(|(_, m)| m.to_string())
                .unwrap_or(message);
            field_error(field, message)
        })?;
        Ok(policy)
    }
}

/// The statuses a policy gives up on at once, as typed in its form.
pub fn give_up_text(policy: &RetryPolicy) -> String {
    policy
        .give_up_on
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Subscription patterns typed as a comma- or space-separated list.
pub fn split_patterns(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Custom headers typed one per line as `Name: value`.
pub fn parse_headers(text: &str) -> Result<std::collections::BTreeMap<String, String>, FieldError> {
    let mut headers = std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            field_error(
                "headers",
                format!("line {}: write each header as 'Name: value'", i + 1),
            )
        })?;
        headers.insert(name.trim().to_string(), value.trim().to_string());
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print_in_plain_units() {
        assert_eq!(parse_duration_secs("30"), Some(30));
        assert_eq!(parse_duration_secs(" 5m "), Some(300));
        assert_eq!(parse_duration_secs("2h"), Some(7_200));
        assert_eq!(parse_duration_secs("1d"), Some(86_400));
        assert_eq!(parse_duration_secs("soon"), None);
        assert_eq!(parse_duration_secs("5w"), None);
        assert_eq!(format_duration_secs(0), "0s");
        assert_eq!(format_duration_secs(300), "5m");
        assert_eq!(format_duration_secs(9_000), "2h 30m");
        assert_eq!(format_duration_secs(90_061), "1d 1h");
    }

    #[test]
    fn the_standard_policy_survives_the_form_round_trip() {
        let fields = PolicyFields::from_policy(&RetryPolicy::STANDARD);
        assert_eq!(fields.kind, "schedule");
        assert_eq!(fields.delays, "5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 1d");
        assert_eq!(fields.to_policy().unwrap(), RetryPolicy::STANDARD);
    }

    #[test]
    fn a_bad_field_is_named() {
        let mut fields = PolicyFields::from_policy(&RetryPolicy::STANDARD);
        fields.delays = "5s, later".into();
        assert_eq!(fields.to_policy().unwrap_err().field, "delays");
        fields = PolicyFields::from_policy(&RetryPolicy::STANDARD);
        fields.max_attempts = "0".into();
        let err = fields.to_policy().unwrap_err();
        assert_eq!(err.field, "max_attempts");
        assert!(err.message.contains("1 to 100"), "{}", err.message);
        fields = PolicyFields::from_policy(&RetryPolicy::STANDARD);
        fields.kind = "exponential".into();
        fields.factor = "20".into();
        assert_eq!(fields.to_policy().unwrap_err().field, "factor");
    }

    #[test]
    fn patterns_and_headers_parse_from_text() {
        assert_eq!(
            split_patterns("order.*, user.created  *"),
            ["order.*", "user.created", "*"]
        );
        let headers = parse_headers("X-Team: payments\n\nAuthorization: Bearer abc").unwrap();
        assert_eq!(headers["X-Team"], "payments");
        assert_eq!(headers["Authorization"], "Bearer abc");
        assert_eq!(parse_headers("nonsense").unwrap_err().field, "headers");
    }
}
