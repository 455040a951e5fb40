//! The checks of `validate.rs`.

use std::collections::BTreeMap;

use super::*;
use crate::model::{EndpointIn, EventIn, Semantics};

fn endpoint_in(url: &str) -> EndpointIn {
    EndpointIn {
        kind: Default::default(),
        url: url.into(),
        event_types: vec!["*".into()],
        filter: None,
        transform: None,
        name: String::new(),
        description: String::new(),
        headers: BTreeMap::new(),
        semantics: Semantics::AtLeastOnce,
        retry_policy: None,
        retry_policy_id: None,
        timeout_ms: None,
        max_in_flight: None,
        ordering: Default::default(),
        on_dead: Default::default(),
        rate_limit: None,
        ack_timeout_secs: None,
        circuit_breaker: None,
        secret: None,
    }
}

fn field_of(result: Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(EngineError::Invalid { field, .. }) => field,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_endpoint_url_is_the_documented_syntax_and_is_normalised() {
    let made = endpoint(endpoint_in("HTTP://Hooks.Example:8080/a/./b?x=1")).unwrap();
    assert_eq!(made.url, "http://hooks.example:8080/a/b?x=1");
    for bad in [
        "hooks.example/x",
        "http:hooks.example",
        "http://2130706433/",
        " http://hooks.example/",
        "http://hooks.example/#top",
        "mailto:ops@example.com",
    ] {
        assert_eq!(field_of(endpoint(endpoint_in(bad))), "url", "{bad:?}");
    }
    let long = format!("http://h.example/{}", "a".repeat(2_048));
    assert_eq!(field_of(endpoint(endpoint_in(&long))), "url");
}

#[test]
fn reserved_header_names_are_refused_in_any_case_and_the_pattern_says_the_same() {
    let reserved = regex::Regex::new(&reserved_header_pattern()).unwrap();
    let names = FRAMING_HEADERS
        .iter()
        .chain(RESERVED_HEADERS.iter())
        .map(|n| (*n).to_owned())
        .chain(["proxy-authorization".into(), "herald-anything".into()]);
    for name in names {
        for spelled in [name.clone(), name.to_ascii_uppercase(), {
            let mut s = name.clone();
            s[..1].make_ascii_uppercase();
            s
        }] {
            let mut with = BTreeMap::new();
            with.insert(spelled.clone(), "v".to_owned());
            assert!(headers(&with).is_err(), "{spelled} was accepted");
            assert!(reserved.is_match(&spelled), "the pattern misses {spelled}");
        }
    }
    for fine in ["X-Team", "authorization", "x-herald", "proxyish", "tee"] {
        let mut with = BTreeMap::new();
        with.insert(fine.to_owned(), "v".to_owned());
        assert!(headers(&with).is_ok(), "{fine} was refused");
        assert!(!reserved.is_match(fine), "the pattern refuses {fine}");
    }
}

#[test]
fn header_values_are_visible_ascii_and_bounded() {
    let one = |value: &str| {
        let mut h = BTreeMap::new();
        h.insert("X-Team".to_owned(), value.to_owned());
        headers(&h)
    };
    assert!(one("orders team\tv2").is_ok());
    assert!(one("caf\u{e9}").is_err(), "non-ASCII");
    assert!(one("a\r\nb").is_err(), "a line break");
    assert!(one(&"v".repeat(MAX_HEADER_VALUE_BYTES)).is_ok());
    assert!(one(&"v".repeat(MAX_HEADER_VALUE_BYTES + 1)).is_err());
    let many: BTreeMap<String, String> = (0..=MAX_HEADERS)
        .map(|i| (format!("x-h{i}"), "v".to_owned()))
        .collect();
    assert!(headers(&many).is_err(), "more than {MAX_HEADERS}");
    let big: BTreeMap<String, String> = (0..5)
        .map(|i| (format!("x-h{i}"), "v".repeat(MAX_HEADER_VALUE_BYTES)))
        .collect();
    assert!(headers(&big).is_err(), "more than 16 KiB in all");
}

#[test]
fn an_event_keeps_its_keys_consistent_and_bounded() {
    let event_in = |key: Option<&str>| EventIn {
        event_type: "order.created".into(),
        payload: serde_json::json!({"n": 1}).into(),
        idempotency_key: key.map(str::to_owned),
        correlation_id: None,
        entity_id: None,
        ordering_key: None,
        metadata: None,
        source: None,
    };
    let from_header = event(event_in(None), Some("k-1"), None, 1024).unwrap();
    assert_eq!(from_header.idempotency_key.as_deref(), Some("k-1"));
    assert!(event(event_in(Some("k-1")), Some("k-1"), None, 1024).is_ok());
    assert_eq!(
        field_of(event(event_in(Some("k-1")), Some("k-2"), None, 1024)),
        "idempotency_key"
    );
    assert_eq!(
        field_of(event(event_in(None), Some(""), Some(3), 1024)),
        "events[3].idempotency_key"
    );
    let long = "é".repeat(MAX_KEY_LEN);
    assert!(
        event(event_in(Some(&long)), None, None, 1024).is_ok(),
        "characters, not bytes"
    );
    assert!(matches!(
        event(event_in(None), None, None, 4),
        Err(EngineError::TooLarge { .. })
    ));
}

#[test]
fn correlation_ids_are_short_header_safe_tokens() {
    assert!(correlation_id_ok("req-7f3a:b_c.d"));
    for bad in ["", "has space", "é", &"a".repeat(MAX_CORRELATION_LEN + 1)] {
        assert!(!correlation_id_ok(bad), "{bad:?}");
    }
}

#[test]
fn names_slugs_windows_and_timeouts_have_their_bounds() {
    assert!(policy_name("fast").is_ok());
    // Spaces as the document's pattern reads `\s` (ECMAScript): U+0085 is
    // not one, U+FEFF is.
    assert!(policy_name("\u{85}fast").is_ok());
    for bad in ["", " fast", "fast ", "\u{FEFF}fast", &"n".repeat(81)] {
        assert!(policy_name(bad).is_err(), "{bad:?}");
    }
    assert!(tenant_slug("acme-eu").is_ok());
    for bad in ["", "-acme", "Acme", "acme_eu", &"a".repeat(41)] {
        assert!(tenant_slug(bad).is_err(), "{bad:?}");
    }
    let window = |secs| crate::model::TenantPatch {
        payload_dedup_window_secs: Some(secs),
        ..Default::default()
    };
    assert!(tenant_patch(&window(None)).is_ok(), "null turns it off");
    assert!(tenant_patch(&window(Some(MAX_DEDUP_WINDOW_SECS))).is_ok());
    assert!(tenant_patch(&window(Some(0))).is_err());
    assert!(tenant_patch(&window(Some(MAX_DEDUP_WINDOW_SECS + 1))).is_err());
    let threshold = |n| crate::model::TenantPatch {
        dlq_alert_threshold: Some(n),
        ..Default::default()
    };
    assert!(tenant_patch(&threshold(None)).is_ok(), "null: no alert");
    assert!(tenant_patch(&threshold(Some(1))).is_ok());
    assert!(tenant_patch(&threshold(Some(MAX_DLQ_ALERT_THRESHOLD))).is_ok());
    assert!(tenant_patch(&threshold(Some(0))).is_err());
    assert!(tenant_patch(&threshold(Some(MAX_DLQ_ALERT_THRESHOLD + 1))).is_err());
    assert!(timeout(1).is_ok() && timeout(MAX_TIMEOUT_MS).is_ok());
    assert!(timeout(0).is_err() && timeout(MAX_TIMEOUT_MS + 1).is_err());
}

#[test]
fn an_endpoints_name_is_trimmed_bounded_and_one_line() {
    let named = |name: &str| EndpointIn {
        name: name.into(),
        ..endpoint_in("https://hooks.example/in")
    };
    assert_eq!(
        endpoint(named("  Billing service ")).unwrap().name,
        "Billing service"
    );
    assert_eq!(endpoint(named("")).unwrap().name, "");
    assert_eq!(endpoint(named(&"n".repeat(100))).unwrap().name.len(), 100);
    assert_eq!(field_of(endpoint(named(&"n".repeat(101)))), "name");
    assert_eq!(field_of(endpoint(named("two\nlines"))), "name");
}
