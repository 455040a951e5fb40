//! The list queries read back what they write and name what is wrong.

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
    assert_eq!(typed_time(t), "2026-11-30T09:00");
}

fn full_event_query() -> EventQuery {
    EventQuery {
        event_type: Some("order.created".into()),
        correlation_id: Some("a b&c=d/é".into()),
        entity_id: Some("cust 42".into()),
        source: Some("billing/v2".into()),
        endpoint_id: Some(EndpointId::nil()),
        state: Some(DeliveryState::InFlight),
        from: parse_rfc3339("2026-11-30T09:00:00Z"),
        to: parse_rfc3339("2026-11-30T10:00:00.5Z"),
        cursor: Some(EventId::nil()),
    }
}

#[test]
fn every_list_query_reads_back_what_it_writes() {
    let events = full_event_query();
    assert_eq!(events.to_string().parse::<EventQuery>(), Ok(events.clone()));
    let dlq = DlqQuery {
        endpoint_id: Some(EndpointId::nil()),
        event_type: Some("a.b".into()),
        error_class: Some(ErrorClass::OutcomeUnknown),
        from: events.from,
        to: events.to,
        cursor: Some(DlqEntryId::nil()),
    };
    assert_eq!(dlq.to_string().parse::<DlqQuery>(), Ok(dlq.clone()));
    let audit = AuditQuery {
        action: Some("endpoint.".into()),
        actor: Some("ops@example.com".into()),
        target: Some("x&y".into()),
        since: events.from,
        until: events.to,
        cursor: Some(AuditId::nil()),
    };
    assert_eq!(audit.to_string().parse::<AuditQuery>(), Ok(audit.clone()));
    let stats = StatsQuery {
        from: events.from,
        to: events.to,
        granularity: Some(Granularity::Hour),
        group_by: Some(GroupBy::EventType),
        endpoint_id: Some(EndpointId::nil()),
        event_type: Some("a.b".into()),
    };
    assert_eq!(stats.to_string().parse::<StatsQuery>(), Ok(stats.clone()));
    // Empty queries write nothing, and links to them carry no `?`.
    assert_eq!(EventQuery::default().to_string(), "");
    assert_eq!(href("/events", &EventQuery::default()), "/events");
    assert_eq!(
        href(
            "/dlq",
            &DlqQuery {
                event_type: Some("a b".into()),
                ..DlqQuery::default()
            }
        ),
        "/dlq?event_type=a%20b"
    );
    // Paging keeps the filters.
    let second = events.at(Some(&EventId::nil().to_string()));
    assert!(!second.is_first_page());
    assert_eq!(second.at(None).event_type, events.event_type);
    assert!(second.at(None).is_first_page());
    // Serde carries a query as its query string (server functions).
    let json = serde_json::to_string(&events).unwrap();
    assert_eq!(serde_json::from_str::<EventQuery>(&json).unwrap(), events);
}

#[test]
fn bad_parameters_are_named() {
    let err = |q: &str| q.parse::<EventQuery>().unwrap_err();
    assert_eq!(err("state=lost").field, "state");
    assert!(
        err("state=lost").message.contains("pending"),
        "{}",
        err("state=lost")
    );
    assert_eq!(err("endpoint_id=nope").field, "endpoint_id");
    assert_eq!(err("from=yesterday").field, "from");
    assert_eq!(err("cursor=x").field, "cursor");
    assert_eq!(err("colour=red").field, "colour");
    assert_eq!(err("state=dead&state=pending").field, "state");
    let backwards = "from=2026-11-30T10:00:00Z&to=2026-11-30T09:00:00Z";
    assert_eq!(
        err(backwards),
        QueryError::new("to", "must be later than from")
    );
    // An empty time or id on the wire is an error, empty text is "any".
    assert_eq!(err("from=").field, "from");
    assert_eq!(err("endpoint_id=").field, "endpoint_id");
    assert_eq!(
        "event_type=&state=".parse::<EventQuery>(),
        Ok(EventQuery::default())
    );
    assert_eq!(
        "error_class=oops".parse::<DlqQuery>().unwrap_err().field,
        "error_class"
    );
    assert_eq!(
        "granularity=week".parse::<StatsQuery>().unwrap_err().field,
        "granularity"
    );
}

#[test]
fn a_form_leaves_empty_fields_out_and_reads_typed_times_as_utc() {
    let form = |pairs: &[(&str, &str)]| {
        EventQuery::from_form(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    };
    let q = form(&[
        ("event_type", ""),
        ("endpoint_id", ""),
        ("from", "2026-11-30T09:00"),
        ("to", ""),
    ])
    .unwrap();
    assert_eq!(q.from, parse_rfc3339("2026-11-30T09:00:00Z"));
    assert_eq!(q.event_type, None);
    assert_eq!(q.endpoint_id, None);
    assert!("from=2026-11-30T09:00".parse::<EventQuery>().is_err());
    // A page's URL may carry parameters its list does not read.
    assert_eq!(form(&[("range", "1h")]), Ok(EventQuery::default()));
    assert_eq!(form(&[("from", "soon")]).unwrap_err().field, "from");
}

#[test]
fn an_action_ending_in_a_dot_names_an_area() {
    let q = |a: &str| AuditQuery {
        action: Some(a.into()),
        ..AuditQuery::default()
    };
    assert_eq!(
        q("endpoint.").action_match(),
        Some(ActionMatch::Prefix("endpoint."))
    );
    assert_eq!(
        q("endpoint.update").action_match(),
        Some(ActionMatch::Exact("endpoint.update"))
    );
    assert_eq!(AuditQuery::default().action_match(), None);
}

#[test]
fn a_cursor_is_any_ids_position_under_the_lists_prefix() {
    let dlq_entry = DlqEntryId::nil().to_string();
    let q: EventQuery = format!("cursor={dlq_entry}").parse().unwrap();
    assert_eq!(q.cursor, Some(EventId::nil()));
}
