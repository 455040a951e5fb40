//! Content filters and transforms tried before they go live: the REST
//! API's `filter-test` and `transform-test` and the console's testers share
//! this.

use serde_json::Value;

use crate::model::filter::event_document;
use crate::model::{
    EventOut, EventQuery, Filter, FilterTestIn, FilterTestOut, TenantId, TransformTestIn,
    TransformTestOut,
};
use crate::service::Engine;
use crate::transform::TransformError;
use crate::validate::filter_message;
use crate::{EngineError, Result};

/// The filter document of a stored event.
pub fn document_of_stored(event: &EventOut) -> Value {
    event_document(
        &event.event_type,
        event.source.as_deref(),
        event.payload.clone(),
        event.metadata.clone(),
    )
}

impl Engine {
    /// Whether an event matches a filter, and why not. The event is a
    /// stored one (by id, or the newest of a type) or one given in full;
    /// a bad filter is refused naming its place.
    pub async fn filter_test(
        &self,
        tenant: TenantId,
        input: FilterTestIn,
    ) -> Result<FilterTestOut> {
        let filter = Filter::parse(&input.filter)
            .map_err(|e| EngineError::invalid("filter", filter_message(&e)))?;
        let given = [
            input.event_id.is_some(),
            input.event_type.is_some(),
            input.event.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(EngineError::invalid(
                "event",
                "name the event to try in exactly one way: event_id, event_type (its newest event) or event",
            ));
        }
        let (document, event_id) = if let Some(sample) = input.event {
            crate::model::event_type::validate_event_type(&sample.event_type)
                .map_err(|m| EngineError::invalid("event.event_type", m))?;
            if let Some(source) = &sample.source {
                crate::validate::source_name(source)
                    .map_err(|m| EngineError::invalid("event.source", m))?;
            }
            if sample.metadata.as_ref().is_some_and(|m| !m.is_object()) {
                return Err(EngineError::invalid(
                    "event.metadata",
                    "must be a JSON object",
                ));
            }
            if !sample.payload.is_object() {
                return Err(EngineError::invalid(
                    "event.payload",
                    "must be a JSON object",
                ));
            }
            let doc = event_document(
                &sample.event_type,
                sample.source.as_deref(),
                sample.payload,
                sample.metadata,
            );
            (doc, None)
        } else {
            let event = self
                .stored_event(tenant, input.event_id, input.event_type)
                .await?;
            (document_of_stored(&event), Some(event.id))
        };
        let why = filter.explain(&document);
        Ok(FilterTestOut {
            matches: why.is_none(),
            why,
            event_id,
            document,
        })
    }

    /// Checks that a transform compiles; `field` names it in the error.
    pub async fn check_transform(&self, field: &str, program: &str) -> Result<()> {
        self.transforms
            .check(program)
            .await
            .map_err(|e| transform_error(field, e))
    }

    /// What a transform makes of a stored event's payload (by id, or the
    /// newest of a type) or of one given in full. A program that does not
    /// compile, fails, runs too long or gives too much is refused with 422
    /// saying which.
    pub async fn transform_test(
        &self,
        tenant: TenantId,
        input: TransformTestIn,
    ) -> Result<TransformTestOut> {
        let given = [
            input.event_id.is_some(),
            input.event_type.is_some(),
            input.payload.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(EngineError::invalid(
                "event",
                "name the payload to try in exactly one way: event_id, event_type (its newest event) or payload",
            ));
        }
        self.check_transform("transform", &input.transform).await?;
        let (payload, event_id) = if let Some(payload) = input.payload {
            if !payload.is_object() {
                return Err(EngineError::invalid("payload", "must be a JSON object"));
            }
            (payload.to_string(), None)
        } else {
            let event = self
                .stored_event(tenant, input.event_id, input.event_type)
                .await?;
            (event.payload.to_string(), Some(event.id))
        };
        let output = self
            .transforms
            .run(&input.transform, &payload)
            .await
            .map_err(|e| transform_error("transform", e))?;
        Ok(TransformTestOut { output, event_id })
    }

    /// A stored event to try something on: by id, else the newest of a type.
    async fn stored_event(
        &self,
        tenant: TenantId,
        id: Option<crate::model::EventId>,
        event_type: Option<String>,
    ) -> Result<EventOut> {
        let id = match (id, event_type) {
            (Some(id), _) => id,
            (None, Some(event_type)) => self.newest_of_type(tenant, &event_type).await?,
            (None, None) => {
                return Err(EngineError::invalid(
                    "event",
                    "name the stored event to try",
                ));
            }
        };
        self.store
            .event_detail(tenant, id)
            .await?
            .map(|detail| detail.event)
            .ok_or_else(|| EngineError::not_found("event", id))
    }

    /// The id of the tenant's newest event of a type (404 when it has none).
    pub async fn newest_of_type(
        &self,
        tenant: TenantId,
        event_type: &str,
    ) -> Result<crate::model::EventId> {
        crate::model::event_type::validate_event_type(event_type)
            .map_err(|m| EngineError::invalid("event_type", m))?;
        let query = EventQuery {
            event_type: Some(event_type.to_owned()),
            ..EventQuery::default()
        };
        let page = self.store.list_events(tenant, &query, 1).await?;
        page.items
            .first()
            .map(|e| e.id)
            .ok_or_else(|| EngineError::not_found("event of type", event_type))
    }
}

/// A transform's failure as the caller's error: the program's fault is
/// theirs (422), a worker that cannot start is Herald's.
fn transform_error(field: &str, e: TransformError) -> EngineError {
    match e {
        TransformError::Unavailable(message) => EngineError::Internal(message),
        other => EngineError::invalid(field, other.to_string()),
    }
}
