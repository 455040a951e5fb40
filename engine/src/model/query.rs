//! Text in URLs and list filters, the same for the REST API, the console and
//! the CLI: percent-encoding a query value, and reading a time.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Percent-encodes a query value: RFC 3986's unreserved characters stay,
/// every other byte becomes `%XX`.
pub fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An RFC 3339 time (`2026-11-30T09:00:00Z`), as the REST API takes them.
pub fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A time as people type it in the console: RFC 3339, or a browser's
/// `datetime-local` value (`2026-11-30T09:00`, with or without seconds, or
/// with a space), read as UTC.
pub fn parse_typed_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    parse_rfc3339(text).or_else(|| {
        ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .map(|t| t.and_utc())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_characters_stay_as_they_are() {
        assert_eq!(query_escape("order.created"), "order.created");
        assert_eq!(query_escape("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn times_read_as_rfc_3339_or_as_typed_in_utc() {
        let t = parse_rfc3339("2026-11-30T10:00:00+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-30T09:00:00+00:00");
        assert!(parse_rfc3339("2026-11-30T09:00").is_none());
        for typed in [
            "2026-11-30T09:00",
            "2026-11-30T09:00:00",
            "2026-11-30 09:00",
            " 2026-11-30T09:00:00Z ",
        ] {
            assert_eq!(parse_typed_time(typed), Some(t), "{typed}");
        }
        assert!(parse_typed_time("yesterday").is_none());
        assert!(parse_typed_time("").is_none());
    }
}
