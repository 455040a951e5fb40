//! Event type names and the patterns endpoints subscribe with.
//!
//! A type is dot-separated segments of letters, digits, `_` and `-`
//! (`order.created`, `invoice.payment_failed`), at most 128 characters.
//! A pattern is a type in which any segment may be `*`: in the middle it
//! stands for exactly one segment, as the last segment for one or more. So
//! `order.*` matches `order.created` and `order.item.added`, `*.created`
//! matches `order.created` but not `order.item.created`, and `*` matches all.

pub const MAX_EVENT_TYPE_LEN: usize = 128;

fn segment_ok(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks an event type; the error says what is wrong with it.
pub fn validate_event_type(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_EVENT_TYPE_LEN {
        return Err(format!("must be 1 to {MAX_EVENT_TYPE_LEN} characters"));
    }
    if name.split('.').all(segment_ok) {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not an event type: use dot-separated words of letters, digits, '_' and '-', such as order.created",
            name.chars().take(64).collect::<String>()
        ))
    }
}

/// Checks a subscription pattern (an event type whose segments may be `*`).
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() || pattern.len() > MAX_EVENT_TYPE_LEN {
        return Err(format!("must be 1 to {MAX_EVENT_TYPE_LEN} characters"));
    }
    if pattern.split('.').all(|s| s == "*" || segment_ok(s)) {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not an event type pattern: use an event type in which whole segments may be '*', such as order.* or *",
            pattern.chars().take(64).collect::<String>()
        ))
    }
}

/// Whether `event_type` is matched by `pattern` (see the module documentation).
pub fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let segments: Vec<&str> = event_type.split('.').collect();
    let last = pattern.len() - 1;
    for (i, p) in pattern.iter().enumerate() {
        if i == last && *p == "*" {
            return segments.len() > i;
        }
        match segments.get(i) {
            Some(s) if *p == "*" || p == s => {}
            _ => return false,
        }
    }
    segments.len() == pattern.len()
}

/// Whether any of an endpoint's patterns matches the event type.
pub fn any_pattern_matches<S: AsRef<str>>(patterns: &[S], event_type: &str) -> bool {
    patterns
        .iter()
        .any(|p| pattern_matches(p.as_ref(), event_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_dotted_words() {
        for ok in [
            "order.created",
            "invoice.payment_failed",
            "user",
            "a-b.c_d.E9",
        ] {
            assert_eq!(validate_event_type(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "order..created",
            ".order",
            "order.",
            "order created",
            "order.*",
            "ordér",
            &"a".repeat(129),
        ] {
            assert!(validate_event_type(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patterns_allow_whole_segment_wildcards_only() {
        for ok in [
            "*",
            "order.*",
            "*.created",
            "order.*.added",
            "order.created",
        ] {
            assert_eq!(validate_pattern(ok), Ok(()), "{ok}");
        }
        for bad in ["", "order.cre*", "**", "order..*", "order .*"] {
            assert!(validate_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn matching_follows_the_documented_rules() {
        let cases = [
            ("*", "order.created", true),
            ("*", "user", true),
            ("order.*", "order.created", true),
            ("order.*", "order.item.added", true),
            ("order.*", "order", false),
            ("order.*", "orders.created", false),
            ("*.created", "order.created", true),
            ("*.created", "order.item.created", false),
            ("order.*.added", "order.item.added", true),
            ("order.*.added", "order.item.removed", false),
            ("order.created", "order.created", true),
            ("order.created", "order.created.v2", false),
            ("order.created", "order", false),
        ];
        for (pattern, event_type, expected) in cases {
            assert_eq!(
                pattern_matches(pattern, event_type),
                expected,
                "{pattern} vs {event_type}"
            );
        }
        assert!(any_pattern_matches(
            &["user.*", "order.created"],
            "order.created"
        ));
        assert!(!any_pattern_matches::<&str>(&[], "order.created"));
    }
}
