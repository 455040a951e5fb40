//! One query type per list, read and written the same way by the REST API,
//! the console's URLs and the CLI: [`EventQuery`], [`DlqQuery`],
//! [`AuditQuery`] and [`StatsQuery`]. Each is parsed once, from a query
//! string ([`ListQuery::parse`]) or a submitted form
//! ([`ListQuery::from_form`]), and written back with `Display`, so a link to a
//! filtered list is `href("/events", &query)`.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::{
    AuditId, DeliveryState, DlqEntryId, EndpointId, ErrorClass, EventId, Granularity, GroupBy,
    IdParseError,
};

/// Every byte but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query value: RFC 3986's unreserved characters stay,
/// every other byte becomes `%XX`.
pub fn query_escape(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string()
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

/// A time as a `datetime-local` input shows it (UTC, to the minute).
pub fn typed_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

/// `path` with the query's parameters, or `path` alone when it has none.
pub fn href(path: &str, query: &impl ListQuery) -> String {
    let query = query.to_writer().to_string();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// A keyset cursor: a position in creation order, which an id's ULID names
/// whatever its prefix. `T`'s own ids and any other id's ULID are accepted.
pub fn parse_cursor<T>(raw: &str) -> Result<T, IdParseError>
where
    T: std::str::FromStr<Err = IdParseError>,
{
    raw.parse::<T>().or_else(|e| {
        raw.split_once('_')
            .and_then(|(_, ulid)| format!("{}{ulid}", e.prefix).parse::<T>().ok())
            .ok_or(e)
    })
}

/// A list parameter that cannot be read: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct QueryError {
    pub field: String,
    pub message: String,
}

impl QueryError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        QueryError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Where parameters come from, which decides two details of reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The REST API and the CLI: times are RFC 3339; an empty value means
    /// "not given" only for text and choices (an empty time or id is an error).
    Wire,
    /// A submitted form in the console: an empty field means "any", and a
    /// time may be a `datetime-local` value, read as UTC.
    Form,
}

/// How a list parameter is read (the [`Reader`] method of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Choice,
    Id,
    Cursor,
    Time,
}

impl Kind {
    /// Text and choices read an empty value as "not given"; on the wire an
    /// empty id, cursor or time is an error.
    pub fn empty_is_absent(self) -> bool {
        matches!(self, Kind::Text | Kind::Choice)
    }
}

/// Reads one list's parameters by name; what is left unread is an error.
pub struct Reader {
    pairs: Vec<(String, String)>,
    source: Source,
}

impl Reader {
    pub fn new(pairs: Vec<(String, String)>, source: Source) -> Self {
        let pairs = match source {
            Source::Wire => pairs,
            Source::Form => pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
        };
        Reader { pairs, source }
    }

    fn take(&mut self, name: &str) -> Result<Option<String>, QueryError> {
        let mut found = None;
        let mut i = 0;
        while i < self.pairs.len() {
            if self.pairs[i].0 == name {
                if found.is_some() {
                    return Err(QueryError::new(name, "given more than once"));
                }
                found = Some(self.pairs.remove(i).1);
            } else {
                i += 1;
            }
        }
        Ok(found)
    }

    /// The value as written: `name=` is an empty value, not "not given"
    /// (a number, which has no empty form).
    pub fn raw(&mut self, name: &str) -> Result<Option<String>, QueryError> {
        self.take(name)
    }

    /// Free text; empty is "not given".
    pub fn text(&mut self, name: &str) -> Result<Option<String>, QueryError> {
        Ok(self.take(name)?.filter(|v| !v.is_empty()))
    }

    /// One of a set of names; empty is "not given".
    pub fn choice<T>(&mut self, name: &str) -> Result<Option<T>, QueryError>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        self.text(name)?
            .map(|v| v.parse().map_err(|e| QueryError::new(name, format!("{e}"))))
            .transpose()
    }

    /// An id of one kind.
    pub fn id<T>(&mut self, name: &str) -> Result<Option<T>, QueryError>
    where
        T: std::str::FromStr<Err = IdParseError>,
    {
        self.take(name)?
            .map(|v| v.parse().map_err(|e| QueryError::new(name, format!("{e}"))))
            .transpose()
    }

    /// A keyset cursor: a position in creation order, which an id's ULID names
    /// whatever its prefix (one of the list's own ids, or any id's ULID under
    /// the list's prefix).
    pub fn cursor<T>(&mut self, name: &str) -> Result<Option<T>, QueryError>
    where
        T: std::str::FromStr<Err = IdParseError>,
    {
        self.take(name)?
            .map(|raw| parse_cursor(&raw).map_err(|e| QueryError::new(name, format!("{e}"))))
            .transpose()
    }

    /// A time: RFC 3339, or in a form also a `datetime-local` value (UTC).
    pub fn time(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, QueryError> {
        let Some(raw) = self.take(name)? else {
            return Ok(None);
        };
        let parsed = match self.source {
            // As serde reads a `DateTime` (years beyond 9999 included).
            Source::Wire => raw
                .trim()
                .parse::<DateTime<chrono::FixedOffset>>()
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            Source::Form => parse_typed_time(&raw),
        };
        parsed.map(Some).ok_or_else(|| {
            let shown: String = raw.chars().take(64).collect();
            QueryError::new(
                name,
                match self.source {
                    Source::Wire => {
                        format!("'{shown}' is not an RFC 3339 time such as 2026-01-31T12:00:00Z")
                    }
                    Source::Form => {
                        format!("'{shown}' is not a time such as 2026-11-30T09:00 (UTC)")
                    }
                },
            )
        })
    }

    /// Ends reading: on the wire, a parameter no one asked for is an error
    /// (a page's URL may carry others, which its list ignores).
    pub fn finish(self, known: &[&str]) -> Result<(), QueryError> {
        match self.pairs.into_iter().next() {
            _ if self.source == Source::Form => Ok(()),
            None => Ok(()),
            Some((name, _)) => Err(QueryError::new(
                &name.chars().take(64).collect::<String>(),
                format!(
                    "not a parameter of this list (expected {})",
                    known.join(", ")
                ),
            )),
        }
    }
}

/// Writes a list's parameters in a fixed order, leaving out those not given.
#[derive(Default)]
pub struct Writer {
    pairs: Vec<(&'static str, String)>,
}

impl Writer {
    pub fn put(&mut self, name: &'static str, value: Option<impl fmt::Display>) {
        if let Some(value) = value {
            self.pairs.push((name, value.to_string()));
        }
    }

    pub fn time(&mut self, name: &'static str, value: Option<DateTime<Utc>>) {
        self.put(
            name,
            value.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        );
    }

    pub fn pairs(&self) -> &[(&'static str, String)] {
        &self.pairs
    }
}

impl fmt::Display for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            write!(f, "{name}={}", query_escape(value))?;
        }
        Ok(())
    }
}

/// A list's filters: read from and written to query parameters.
pub trait ListQuery: Sized {
    /// The parameter names, in the order they are written.
    const FIELDS: &'static [&'static str];

    /// Each parameter with how it is read.
    const PARAMS: &'static [(&'static str, Kind)];

    /// Reads every parameter the list takes, then checks what it read.
    fn read(r: &mut Reader) -> Result<Self, QueryError>;

    fn write(&self, w: &mut Writer);

    /// From a query string (`a=1&b=2`, percent-encoded), as the API gets it.
    fn parse(query: &str) -> Result<Self, QueryError> {
        Self::from_pairs(decode(query), Source::Wire)
    }

    /// From a console form's fields (or its URL's parameters).
    fn from_form(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, QueryError> {
        Self::from_pairs(pairs.into_iter().collect(), Source::Form)
    }

    fn from_pairs(pairs: Vec<(String, String)>, source: Source) -> Result<Self, QueryError> {
        let mut reader = Reader::new(pairs, source);
        let query = Self::read(&mut reader)?;
        reader.finish(Self::FIELDS)?;
        Ok(query)
    }

    /// The parameters as written, for callers that add their own (`limit`).
    fn to_writer(&self) -> Writer {
        let mut w = Writer::default();
        self.write(&mut w);
        w
    }
}

/// A list query that pages by keyset cursor.
pub trait Paged: ListQuery + Clone {
    /// The same filters at another page (`None`: the first); a cursor that
    /// cannot be read leads to the first page.
    fn at(&self, cursor: Option<&str>) -> Self;

    fn is_first_page(&self) -> bool;
}

macro_rules! paged {
    ($($ty:ty),*) => {$(
        impl Paged for $ty {
            fn at(&self, cursor: Option<&str>) -> Self {
                Self {
                    cursor: cursor.and_then(|c| parse_cursor(c).ok()),
                    ..self.clone()
                }
            }

            fn is_first_page(&self) -> bool {
                self.cursor.is_none()
            }
        }
    )*};
}

paged!(EventQuery, DlqQuery, AuditQuery);

/// The pairs of a percent-encoded query string (`+` is a space).
pub fn decode(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `from` must come before `to` when both are given.
fn ordered(
    from: (&str, Option<DateTime<Utc>>),
    to: (&str, Option<DateTime<Utc>>),
) -> Result<(), QueryError> {
    match (from.1, to.1) {
        (Some(a), Some(b)) if b <= a => Err(QueryError::new(
            to.0,
            format!("must be later than {}", from.0),
        )),
        _ => Ok(()),
    }
}

/// [`ListQuery`] for a query struct from its fields, each named once with
/// how [`Reader`] reads it (`text`, `choice`, `id`, `cursor` or `time`), in the
/// order they are written; `ordered(a, b)` adds the check that `a` is before `b`.
macro_rules! list_query {
    ($ty:ident { $($field:ident: $kind:ident),* $(,)? } $(ordered($from:ident, $to:ident))?) => {
        impl ListQuery for $ty {
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];
            const PARAMS: &'static [(&'static str, Kind)] =
                &[$((stringify!($field), list_query!(@kind $kind))),*];

            fn read(r: &mut Reader) -> Result<Self, QueryError> {
                let q = $ty { $($field: r.$kind(stringify!($field))?),* };
                $(ordered((stringify!($from), q.$from), (stringify!($to), q.$to))?;)?
                Ok(q)
            }

            fn write(&self, w: &mut Writer) {
                $(list_query!(@write w, $kind, stringify!($field), self.$field);)*
            }
        }
    };
    (@kind text) => { Kind::Text };
    (@kind choice) => { Kind::Choice };
    (@kind id) => { Kind::Id };
    (@kind cursor) => { Kind::Cursor };
    (@kind time) => { Kind::Time };
    (@write $w:ident, time, $name:expr, $value:expr) => {
        $w.time($name, $value)
    };
    (@write $w:ident, $kind:ident, $name:expr, $value:expr) => {
        $w.put($name, $value.as_ref())
    };
}

/// `Display`, `FromStr` and serde as the query string, for each list query.
macro_rules! query_string_forms {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.to_writer(), f)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = QueryError;
            fn from_str(s: &str) -> Result<Self, QueryError> {
                <$ty as ListQuery>::parse(s)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

query_string_forms!(EventQuery, DlqQuery, AuditQuery, StatsQuery);

/// The event list's filters; every one narrows it. Newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct EventQuery {
    /// An exact event type.
    pub event_type: Option<String>,
    pub correlation_id: Option<String>,
    pub entity_id: Option<String>,
    /// Events published by this source (exact).
    pub source: Option<String>,
    /// Events with a delivery to this endpoint.
    pub endpoint_id: Option<EndpointId>,
    /// Events with a delivery in this state: pending, in_flight, succeeded or dead.
    pub state: Option<DeliveryState>,
    /// Received at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Received before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// `next_cursor` from the previous page.
    #[cfg_attr(
        feature = "openapi",
        param(value_type = Option<String>, pattern = "^[a-z]+_[0-7][0-9A-HJKMNP-TV-Z]{25}$")
    )]
    pub cursor: Option<EventId>,
}

list_query!(EventQuery {
    event_type: text,
    correlation_id: text,
    entity_id: text,
    source: text,
    endpoint_id: id,
    state: choice,
    from: time,
    to: time,
    cursor: cursor,
} ordered(from, to));

/// The dead-letter queue's filters; every one narrows it. Newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DlqQuery {
    pub endpoint_id: Option<EndpointId>,
    /// An exact event type.
    pub event_type: Option<String>,
    /// The last attempt's error class (`outcome_unknown` for at-most-once deliveries
    /// whose worker stopped mid-request): dns, connect, tls, timeout, http_status,
    /// connection, invalid_url, response_too_large, blocked_destination, internal,
    /// nacked (an inbox consumer handed it back), transform (the transform
    /// failed; nothing was sent),
    /// outcome_unknown.
    pub error_class: Option<ErrorClass>,
    /// Entered the DLQ at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entered the DLQ before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// `next_cursor` from the previous page.
    #[cfg_attr(
        feature = "openapi",
        param(value_type = Option<String>, pattern = "^[a-z]+_[0-7][0-9A-HJKMNP-TV-Z]{25}$")
    )]
    pub cursor: Option<DlqEntryId>,
}

impl DlqQuery {
    /// The same filters from the first entry on: what "all matching" means.
    pub fn all_pages(&self) -> DlqQuery {
        DlqQuery {
            cursor: None,
            ..self.clone()
        }
    }
}

list_query!(DlqQuery {
    endpoint_id: id,
    event_type: text,
    error_class: choice,
    from: time,
    to: time,
    cursor: cursor,
} ordered(from, to));

/// The audit log's filters; all optional, combined with AND. Newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// An exact action (`endpoint.update`) or a prefix ending in `.` (`endpoint.`).
    pub action: Option<String>,
    /// Part of the actor (`ops@`, `key_01J…`).
    pub actor: Option<String>,
    /// An exact target id or email.
    pub target: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// `next_cursor` from the previous page.
    #[cfg_attr(
        feature = "openapi",
        param(value_type = Option<String>, pattern = "^[a-z]+_[0-7][0-9A-HJKMNP-TV-Z]{25}$")
    )]
    pub cursor: Option<AuditId>,
}

/// How an audit filter's action matches: one action, or a whole area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionMatch<'a> {
    Exact(&'a str),
    /// Every action starting with this (it ends in `.`).
    Prefix(&'a str),
}

impl AuditQuery {
    /// `endpoint.update` names one action; `endpoint.` (ending in a dot) every
    /// action of that area.
    pub fn action_match(&self) -> Option<ActionMatch<'_>> {
        self.action.as_deref().map(|a| {
            if a.ends_with('.') {
                ActionMatch::Prefix(a)
            } else {
                ActionMatch::Exact(a)
            }
        })
    }
}

list_query!(AuditQuery {
    action: text,
    actor: text,
    target: text,
    since: time,
    until: time,
    cursor: cursor,
} ordered(since, until));

/// A statistics request: a time range, its granularity and how to split it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct StatsQuery {
    /// Default: 24 hours before `to`. The range is clipped to the years 1970
    /// to 9999; a range wholly outside them has no buckets.
    pub from: Option<DateTime<Utc>>,
    /// Default: now.
    pub to: Option<DateTime<Utc>>,
    /// minute, hour or day; default: by the range (minutes up to 6 h, hours up to 14 days).
    pub granularity: Option<Granularity>,
    /// none (default), endpoint or event_type.
    pub group_by: Option<GroupBy>,
    /// Only this endpoint's attempts.
    pub endpoint_id: Option<EndpointId>,
    /// Only this event type's attempts.
    pub event_type: Option<String>,
}

list_query!(StatsQuery {
    from: time,
    to: time,
    granularity: choice,
    group_by: choice,
    endpoint_id: id,
    event_type: text,
});

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
