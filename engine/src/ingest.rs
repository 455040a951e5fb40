//! Ingest. The writer gathers publish requests for group commit: every
//! request that arrived while the previous group was being written goes into
//! the next one, one transaction for all (each request all or nothing on its
//! own), and each caller is answered only after the commit. Under load one
//! commit serves many requests; a lone request is written at once. It sits
//! beside the dispatcher's receipt writer, at the same layer.
//!
//! Below the writer: what ingest decides apart from the SQL, for every
//! backend to call: which endpoints an event goes to, whether it repeats an
//! event stored or made earlier in its batch, and what the per-type counts
//! add up to.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::model::EventId;
use crate::model::event_type::any_pattern_matches;
use crate::store::{Ingested, IngestedEvent, NewEvent, Publish, Store};
use crate::{EngineError, Result};

/// Requests waiting for the writer before publishers are made to wait.
const QUEUE_DEPTH: usize = 1_024;
/// A group stops taking requests once it holds this many events.
const GROUP_EVENTS: usize = 4_000;

type Request = (Publish, oneshot::Sender<Result<Vec<Ingested>>>);

/// The handle publishers hand their requests to.
#[derive(Clone)]
pub struct IngestWriter {
    queue: mpsc::Sender<Request>,
}

impl IngestWriter {
    /// Starts the writer over `store`; it ends when every handle is gone.
    pub fn spawn(store: Arc<dyn Store>) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(tracing::Instrument::instrument(
            write_ingests(store, requests),
            tracing::info_span!("ingest_writer", correlation_id = "ingest"),
        ));
        Self { queue }
    }

    /// Hands a request to the writer and waits for its group's commit.
    pub async fn submit(&self, publish: Publish) -> Result<Vec<Ingested>> {
        let (reply, answer) = oneshot::channel();
        let stopped = || EngineError::Internal("the ingest writer has stopped".into());
        self.queue
            .send((publish, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_ingests(store: Arc<dyn Store>, mut requests: mpsc::Receiver<Request>) {
    while let Some(first) = requests.recv().await {
        let mut events = first.0.events.len();
        let mut group = vec![first];
        while events < GROUP_EVENTS {
            match requests.try_recv() {
                Ok(next) => {
                    events += next.0.events.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let (publishes, replies): (Vec<Publish>, Vec<_>) = group.into_iter().unzip();
        match store.ingest_group(publishes).await {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    // A publisher that went away before the answer still had
                    // its events stored: the answer has no one to go to.
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = replies.len(), "an ingest transaction failed; nothing in it was stored");
                for reply in replies {
                    let _ = reply.send(Err(EngineError::Internal(format!(
                        "the events could not be stored: {e}"
                    ))));
                }
            }
        }
    }
}

/// Whether `event` goes to the endpoint `endpoint` with these `patterns`: a
/// test event to its one endpoint only, any other event to every endpoint
/// with a matching pattern.
pub fn goes_to(event: &NewEvent, endpoint: &str, patterns: &[String]) -> bool {
    match event.only_endpoint {
        Some(only) => only.to_string() == endpoint,
        None => any_pattern_matches(patterns, &event.event_type),
    }
}

/// Whether the payload dedup window applies to `event`: the tenant has one,
/// and it is not a test event (those are addressed on purpose, every time).
pub fn payload_dedup_applies(window_ms: Option<i64>, event: &NewEvent) -> bool {
    window_ms.is_some() && event.only_endpoint.is_none()
}

/// An event stored under `event`'s idempotency key must be that event: the
/// same type and payload. Anything else under the key is a conflict.
pub fn check_stored_under_key(
    event: &NewEvent,
    stored_id: EventId,
    stored_type: &str,
    stored_payload: &str,
) -> Result<()> {
    if stored_type == event.event_type && stored_payload == event.payload {
        return Ok(());
    }
    Err(EngineError::IdempotencyConflict {
        key: event.idempotency_key.clone().unwrap_or_default(),
        original: stored_id,
    })
}

/// The SHA-256 of a payload in hex: what the dedup window compares. Computed
/// only for tenants with a window.
pub fn payload_digest(payload: &str) -> String {
    crate::auth::sha256_hex(payload.as_bytes())
}

/// The events made so far in one batch (or one group commit), by idempotency
/// key and by payload, so a repeat inside it is caught before the database is
/// asked.
#[derive(Debug, Default)]
pub struct BatchSeen {
    /// Key → the event and the payload it came with.
    keys: HashMap<String, (IngestedEvent, String)>,
    /// (type, payload digest) → the event, for events the window applies to.
    payloads: HashMap<(String, String), IngestedEvent>,
    /// Events made per type, in first-seen order.
    per_type: Vec<(String, i64)>,
}

impl BatchSeen {
    /// The event made earlier in the batch under `event`'s key: a repeat when
    /// it is the same event, a conflict when it is not.
    pub fn under_key(&self, event: &NewEvent) -> Result<Option<IngestedEvent>> {
        let Some(key) = &event.idempotency_key else {
            return Ok(None);
        };
        let Some((original, payload)) = self.keys.get(key) else {
            return Ok(None);
        };
        if original.event_type != event.event_type || *payload != event.payload {
            return Err(EngineError::IdempotencyConflict {
                key: key.clone(),
                original: original.id,
            });
        }
        Ok(Some(original.clone()))
    }

    /// The event made earlier in the batch with `event`'s type and a payload
    /// whose digest is `digest`.
    pub fn same_payload(&self, event: &NewEvent, digest: &str) -> Option<IngestedEvent> {
        self.payloads
            .get(&(event.event_type.clone(), digest.to_owned()))
            .cloned()
    }

    /// Notes an event just made from `event`; `digest` is its payload's when
    /// the dedup window applies to it.
    pub fn made(&mut self, stored: &IngestedEvent, event: &NewEvent, digest: Option<&str>) {
        if let Some(key) = &event.idempotency_key {
            self.keys
                .insert(key.clone(), (stored.clone(), event.payload.clone()));
        }
        if let Some(digest) = digest {
            self.payloads.insert(
                (stored.event_type.clone(), digest.to_owned()),
                stored.clone(),
            );
        }
        self.count(&stored.event_type, 1);
    }

    fn count(&mut self, event_type: &str, n: i64) {
        match self.per_type.iter_mut().find(|(t, _)| t == event_type) {
            Some((_, sum)) => *sum += n,
            None => self.per_type.push((event_type.to_owned(), n)),
        }
    }

    /// Takes in what `later` saw (a request that succeeded after the ones
    /// already here).
    pub fn absorb(&mut self, later: BatchSeen) {
        self.keys.extend(later.keys);
        self.payloads.extend(later.payloads);
        for (event_type, n) in later.per_type {
            self.count(&event_type, n);
        }
    }

    /// Events made per type, for the event-type statistics.
    pub fn per_type(&self) -> &[(String, i64)] {
        &self.per_type
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EndpointId;

    fn new_event(event_type: &str, payload: &str, key: Option<&str>) -> NewEvent {
        NewEvent {
            event_type: event_type.into(),
            payload: payload.into(),
            idempotency_key: key.map(str::to_owned),
            correlation_id: None,
            entity_id: None,
            ordering_key: None,
            metadata: None,
            source: None,
            only_endpoint: None,
            operational: false,
            schema_version: None,
            schema_problems: Vec::new(),
        }
    }

    fn stored(event: &NewEvent) -> IngestedEvent {
        IngestedEvent {
            id: EventId::new(),
            seq: 1,
            event_type: event.event_type.clone(),
            received_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn an_event_goes_to_matching_endpoints_and_a_test_event_to_its_own_only() {
        let order = new_event("order.created", "{}", None);
        let patterns = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(goes_to(&order, "ep_a", &patterns(&["order.*"])));
        assert!(!goes_to(&order, "ep_a", &patterns(&["user.*"])));
        let target = EndpointId::new();
        let test = NewEvent {
            only_endpoint: Some(target),
            ..order
        };
        assert!(goes_to(&test, &target.to_string(), &patterns(&["user.*"])));
        assert!(!goes_to(&test, "ep_other", &patterns(&["*"])));
    }

    #[test]
    fn a_key_names_one_event_in_a_batch_and_in_the_store() {
        let mut seen = BatchSeen::default();
        let first = new_event("a.b", r#"{"n":1}"#, Some("k"));
        assert!(seen.under_key(&first).unwrap().is_none());
        let made = stored(&first);
        seen.made(&made, &first, None);
        assert_eq!(seen.under_key(&first).unwrap(), Some(made.clone()));
        let other = new_event("a.b", r#"{"n":2}"#, Some("k"));
        assert!(matches!(
            seen.under_key(&other),
            Err(EngineError::IdempotencyConflict { original, .. }) if original == made.id
        ));
        assert!(check_stored_under_key(&first, made.id, "a.b", r#"{"n":1}"#).is_ok());
        assert!(check_stored_under_key(&first, made.id, "a.c", r#"{"n":1}"#).is_err());
        assert!(check_stored_under_key(&first, made.id, "a.b", r#"{"n":3}"#).is_err());
    }

    #[test]
    fn payload_repeats_count_only_with_a_window_and_never_for_test_events() {
        let event = new_event("a.b", "{}", None);
        let test = NewEvent {
            only_endpoint: Some(EndpointId::new()),
            operational: false,
            ..event.clone()
        };
        assert!(payload_dedup_applies(Some(60_000), &event));
        assert!(!payload_dedup_applies(None, &event));
        assert!(!payload_dedup_applies(Some(60_000), &test));

        let mut seen = BatchSeen::default();
        let digest = payload_digest(&event.payload);
        seen.made(&stored(&event), &event, None);
        assert!(
            seen.same_payload(&event, &digest).is_none(),
            "no window, no memory"
        );
        let made = stored(&event);
        seen.made(&made, &event, Some(&digest));
        assert_eq!(seen.same_payload(&event, &digest), Some(made));
        assert_eq!(seen.per_type(), &[("a.b".to_string(), 2)]);
    }
}
