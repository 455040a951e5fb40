//! Which of a tenant's endpoints a replayed event goes to: those active
//! now whose type patterns, then content filter, take it.

use std::cell::OnceCell;

use serde_json::Value;

use super::DbConnection;
use crate::Result;
use crate::model::event_type::any_pattern_matches;
use crate::store::convert::from_json;
use crate::store::ingest_plan::compiled_filter;

/// An active endpoint as a replay sees it: what it subscribes to.
pub(super) struct Target {
    pub(super) id: String,
    patterns: Vec<String>,
    filter: Option<std::sync::Arc<crate::model::Filter>>,
}

impl Target {
    /// Whether the event goes to this endpoint now: its type patterns, then
    /// its content filter over the event's document (made by `make` on
    /// first need and kept in `doc` for the other endpoints).
    pub(super) fn takes(
        &self,
        event_type: &str,
        doc: &OnceCell<Option<Value>>,
        make: &dyn Fn() -> Option<Value>,
    ) -> bool {
        if !any_pattern_matches(&self.patterns, event_type) {
            return false;
        }
        match &self.filter {
            Some(filter) => doc
                .get_or_init(make)
                .as_ref()
                .is_some_and(|d| filter.matches(d)),
            None => true,
        }
    }
}

/// The tenant's active endpoints with their subscriptions.
pub(super) async fn active_endpoints(conn: &mut DbConnection, tenant: &str) -> Result<Vec<Target>> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "select id, event_types, filter from endpoints where tenant_id = $1 and deleted_at is null and disabled_at is null",
    )
    .bind(tenant)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(id, patterns, filter)| {
            Ok(Target {
                filter: filter.and_then(|f| compiled_filter(&id, &f)),
                patterns: from_json(&patterns, "endpoint event types")?,
                id,
            })
        })
        .collect()
}

/// The filter document of a stored event, from its columns (`None`: a
/// payload that does not read, which no filter matches).
pub(super) fn stored_document(
    event_type: &str,
    payload: &str,
    source: Option<&str>,
    metadata: Option<&str>,
) -> Option<Value> {
    let payload = serde_json::from_str(payload).ok()?;
    let metadata = metadata.and_then(|m| serde_json::from_str(m).ok());
    Some(crate::model::filter::event_document(
        event_type, source, payload, metadata,
    ))
}
