//! Ingest's decisions, the same on every backend: which events of a group
//! are new and which repeat one stored or made earlier in the group, with
//! their ids, sequence numbers and the endpoints each goes to. A backend
//! reads the tenant's state (`TenantState`) and writes the planned rows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::Result;
use crate::ingest::{
    BatchSeen, check_stored_under_key, goes_to, payload_dedup_applies, payload_digest,
};
use crate::model::{EventId, Filter, OrderingMode};
use crate::store::convert::from_json;
use crate::store::rows::EventRow;
use crate::store::{
    DuplicateOf, Ingested, IngestedEvent, NewEvent, Publish, from_millis, stored_id, to_millis,
};

/// A new event planned for the insert.
pub(crate) struct Row<'a> {
    pub(crate) id: EventId,
    /// The id as text, written into both inserts.
    pub(crate) id_text: String,
    pub(crate) seq: i64,
    pub(crate) event: &'a NewEvent,
    pub(crate) digest: Option<String>,
    /// The endpoints it goes to, as positions in the tenant's list.
    pub(crate) endpoints: Vec<usize>,
    pub(crate) received_ms: i64,
}

/// A tenant's dedup window and catalog revision beside each of its
/// endpoints (id, patterns, ordering, content filter), or once with no
/// endpoint, as ingest reads them.
pub(crate) type Listed = (
    Option<i64>,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The dedup window, the catalog revision and the endpoints of a tenant's
/// listed rows.
pub(crate) fn routes_of(listed: Vec<Listed>) -> Result<(Option<i64>, i64, Vec<Route>)> {
    let window_ms = listed.first().and_then(|(window, ..)| *window);
    let revision = listed.first().map_or(0, |(_, revision, ..)| *revision);
    let endpoints = listed
        .into_iter()
        .filter_map(|(_, _, id, patterns, ordering, filter)| {
            Some((id?, patterns?, ordering?, filter))
        })
        .map(|(id, patterns, ordering, filter)| {
            Route::listed(id, &patterns, &ordering, filter.as_deref())
        })
        .collect::<Result<Vec<Route>>>()?;
    Ok((window_ms, revision, endpoints))
}

/// An endpoint of the tenant, as ingest sees it.
pub(crate) struct Route {
    pub(crate) id: String,
    pub(crate) patterns: Vec<String>,
    pub(crate) ordering: OrderingMode,
    pub(crate) filter: Option<Arc<Filter>>,
}

impl Route {
    /// Reads an endpoint's row as listed (`event_types` and `filter` as
    /// JSON text).
    pub(crate) fn listed(
        id: String,
        patterns: &str,
        ordering: &str,
        filter: Option<&str>,
    ) -> Result<Self> {
        Ok(Route {
            filter: filter.and_then(|f| compiled_filter(&id, f)),
            id,
            patterns: from_json(patterns, "endpoint event types")?,
            ordering: stored_id(ordering)?,
        })
    }

    /// Whether `event` goes to this endpoint: its patterns, then its
    /// filter, over the event's document (made once per event, on first
    /// need, in `doc`). A test or operational event goes where it is
    /// addressed.
    pub(crate) fn takes(&self, event: &NewEvent, doc: &mut Option<Value>) -> bool {
        if !goes_to(event, &self.id, &self.patterns) {
            return false;
        }
        match &self.filter {
            Some(filter) if event.only_endpoint.is_none() => {
                filter.matches(doc.get_or_insert_with(|| document_of(event)))
            }
            _ => true,
        }
    }
}

/// The document a content filter reads for a new event.
pub(crate) fn document_of(event: &NewEvent) -> Value {
    crate::model::filter::event_document(
        &event.event_type,
        event.source.as_deref(),
        serde_json::from_str(&event.payload).unwrap_or(Value::Null),
        event.metadata.clone(),
    )
}

/// Filters compiled once per text and kept: ingest reads every endpoint's
/// filter on every request. Bounded: past this many, the cache starts over.
const FILTER_CACHE: usize = 4_096;

/// An endpoint's stored filter, compiled. A stored filter was checked when
/// it was saved; one that no longer parses (a limit lowered since) is logged
/// and ignored, so the endpoint gets every event of its types rather than
/// none.
pub(crate) fn compiled_filter(endpoint: &str, text: &str) -> Option<Arc<Filter>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Filter>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(found) = cache.lock().ok()?.get(text) {
        return Some(found.clone());
    }
    let parsed = serde_json::from_str::<Value>(text)
        .map_err(|e| e.to_string())
        .and_then(|v| Filter::parse(&v).map_err(|e| e.to_string()));
    match parsed {
        Ok(filter) => {
            let filter = Arc::new(filter);
            let mut cache = cache.lock().ok()?;
            if cache.len() >= FILTER_CACHE {
                cache.clear();
            }
            cache.insert(text.to_owned(), filter.clone());
            Some(filter)
        }
        Err(e) => {
            tracing::error!(endpoint, error = %e, "stored content filter does not parse; ignored");
            None
        }
    }
}

/// One delivery a planned event makes: the endpoint's id, and the stream
/// it joins there (`None`: unordered). A delivery of a stream is made
/// waiting (no due time) and armed once nothing of its stream is ahead.
pub(crate) struct Made<'r> {
    pub(crate) endpoint: &'r str,
    pub(crate) stream: Option<String>,
}

impl Row<'_> {
    /// The deliveries this event makes, at the tenant's endpoints `routes`.
    pub(crate) fn deliveries<'r>(&self, routes: &'r [Route]) -> impl Iterator<Item = Made<'r>> {
        let (key, entity) = (
            self.event.ordering_key.as_deref(),
            self.event.entity_id.as_deref(),
        );
        self.endpoints.iter().map(move |&at| Made {
            endpoint: routes[at].id.as_str(),
            stream: routes[at].ordering.stream_of(key, entity),
        })
    }
}

/// What a tenant's part of a group needs from the database, read once.
pub(crate) struct TenantState {
    pub(crate) endpoints: Vec<Route>,
    pub(crate) window_ms: Option<i64>,
    /// The tenant's catalog revision, as committed.
    pub(crate) catalog_revision: i64,
    pub(crate) next_seq: i64,
    /// Stored events under the group's idempotency keys.
    pub(crate) by_key: HashMap<String, EventRow>,
    /// Stored events inside the window with a payload of the group's, by
    /// payload, oldest first.
    pub(crate) by_payload: HashMap<String, Vec<EventRow>>,
}

/// Decides what one request makes: each event new (a row to insert, with the
/// endpoints it goes to) or a repeat of one stored or made earlier in the
/// group. A refused request adds nothing to `rows` or `seen`.
pub(crate) fn plan<'a>(
    state: &mut TenantState,
    seen: &mut BatchSeen,
    rows: &mut Vec<Row<'a>>,
    request: &'a Publish,
) -> Result<Vec<Ingested>> {
    if request
        .catalog_revision
        .is_some_and(|checked| checked != state.catalog_revision)
    {
        return Err(crate::EngineError::CatalogChanged);
    }
    let mut mine = BatchSeen::default();
    let mut made: Vec<Row<'a>> = Vec::new();
    let mut out = Vec::with_capacity(request.events.len());
    for event in &request.events {
        let digest =
            payload_dedup_applies(state.window_ms, event).then(|| payload_digest(&event.payload));
        if let Some(repeat) = repeat_of(state, seen, &mine, event, digest.as_deref())? {
            out.push(repeat);
            continue;
        }
        let id = EventId::new();
        let mut doc = None;
        let row = Row {
            id,
            id_text: id.text(),
            seq: state.next_seq + made.len() as i64,
            event,
            digest,
            endpoints: state
                .endpoints
                .iter()
                .enumerate()
                .filter(|(_, route)| route.takes(event, &mut doc))
                .map(|(at, _)| at)
                .collect(),
            received_ms: to_millis(request.now),
        };
        let stored = event_out(&row);
        mine.made(&stored, event, row.digest.as_deref());
        out.push(Ingested::Created {
            event: stored,
            deliveries: row.endpoints.len() as u32,
        });
        made.push(row);
    }
    state.next_seq += made.len() as i64;
    seen.absorb(mine);
    rows.extend(made);
    Ok(out)
}

/// The per-type counts of a tenant's new events (`seen.per_type()`) beside
/// how many of each were accepted with schema problems.
pub(crate) fn counts_per_type(seen: &BatchSeen, rows: &[Row<'_>]) -> Vec<(String, i64, i64)> {
    seen.per_type()
        .iter()
        .map(|(event_type, n)| {
            let warned = rows
                .iter()
                .filter(|r| {
                    &r.event.event_type == event_type && !r.event.schema_problems.is_empty()
                })
                .count() as i64;
            (event_type.clone(), *n, warned)
        })
        .collect()
}

/// An event's schema problems as stored: JSON, or null when it has none.
pub(crate) fn problems_text(event: &NewEvent) -> Result<Option<String>> {
    if event.schema_problems.is_empty() {
        return Ok(None);
    }
    crate::store::convert::json_text(&event.schema_problems).map(Some)
}

/// What the publisher gets back for a new event.
fn event_out(row: &Row<'_>) -> IngestedEvent {
    IngestedEvent {
        id: row.id,
        seq: row.seq,
        event_type: row.event.event_type.clone(),
        received_at: from_millis(row.received_ms),
    }
}

/// What the publisher gets back for a stored event it repeats: its payload
/// is not read back.
pub(crate) fn stored_event(row: &EventRow) -> Result<IngestedEvent> {
    Ok(IngestedEvent {
        id: stored_id(&row.id)?,
        seq: row.seq,
        event_type: row.event_type.clone(),
        received_at: from_millis(row.received_at),
    })
}

/// The event `event` repeats, if any: one under its idempotency key (earlier
/// in the group or stored), or one with its payload inside the tenant's dedup
/// window. A different event under the same key is a conflict.
fn repeat_of(
    state: &TenantState,
    seen: &BatchSeen,
    mine: &BatchSeen,
    event: &NewEvent,
    digest: Option<&str>,
) -> Result<Option<Ingested>> {
    let repeat = |event: IngestedEvent, why: DuplicateOf| Some(Ingested::Duplicate { event, why });
    if let Some(key) = &event.idempotency_key {
        for earlier in [mine, seen] {
            if let Some(original) = earlier.under_key(event)? {
                return Ok(repeat(original, DuplicateOf::IdempotencyKey));
            }
        }
        if let Some(row) = state.by_key.get(key) {
            check_stored_under_key(event, stored_id(&row.id)?, &row.event_type, &row.payload)?;
            return Ok(repeat(stored_event(row)?, DuplicateOf::IdempotencyKey));
        }
    }
    let Some(digest) = digest else {
        return Ok(None);
    };
    for earlier in [mine, seen] {
        if let Some(original) = earlier.same_payload(event, digest) {
            return Ok(repeat(original, DuplicateOf::PayloadWindow));
        }
    }
    // The query matched digests; the map holds payloads byte for byte.
    let stored = state
        .by_payload
        .get(&event.payload)
        .and_then(|rows| rows.iter().find(|r| r.event_type == event.event_type));
    match stored {
        Some(row) => Ok(repeat(stored_event(row)?, DuplicateOf::PayloadWindow)),
        None => Ok(None),
    }
}
