//! The dead-letter queue from the console: list, inspect, reprocess (one,
//! selected, or all matching) and discard with a reason.

use herald_engine::model::{DlqDetail, DlqEntryOut, Page, ReprocessOut};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

/// Entries on one page of the list.
pub const DLQ_PAGE: u32 = 50;

/// The DLQ list's filters as they appear in the URL; empty means "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DlqQuery {
    #[serde(default)]
    pub endpoint_id: String,
    #[serde(default)]
    pub event_type: String,
    #[serde(default)]
    pub error_class: String,
    /// Keyset cursor: entries older than this id.
    #[serde(default)]
    pub before: String,
}

/// One page of the list and how many entries match in all.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DlqListing {
    pub page: Page<DlqEntryOut>,
    pub matching: u64,
}

#[cfg(feature = "ssr")]
fn filter_of(q: &DlqQuery) -> Result<herald_engine::store::DlqFilter, ConsoleError> {
    use crate::ssr::fail;
    use herald_engine::model::ErrorClass;
    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let invalid = |field: &str, message: String| {
        fail(ConsoleError::Invalid {
            field: field.into(),
            message,
        })
    };
    Ok(herald_engine::store::DlqFilter {
        endpoint_id: text(&q.endpoint_id)
            .map(|e| {
                e.parse()
                    .map_err(|e| invalid("endpoint_id", format!("{e}")))
            })
            .transpose()?,
        event_type: text(&q.event_type),
        error_class: text(&q.error_class)
            .map(|c| {
                serde_json::from_value::<ErrorClass>(serde_json::Value::String(c.clone()))
                    .map_err(|_| invalid("error_class", format!("'{c}' is not an error class")))
            })
            .transpose()?,
        from: None,
        to: None,
        before: text(&q.before)
            .map(|b| b.parse().map_err(|e| invalid("before", format!("{e}"))))
            .transpose()?,
    })
}

#[server(prefix = "/fn", endpoint = "list_dlq")]
pub async fn list_dlq(query: DlqQuery) -> Result<DlqListing, ConsoleError> {
    use crate::ssr::{console_state, console_tenant, require};
    use herald_engine::model::Permission;
    require(Permission::Read)?;
    let state = console_state()?;
    let tenant = console_tenant(&state).await?;
    let filter = filter_of(&query)?;
    let page = state.store.list_dlq(tenant, &filter, DLQ_PAGE).await?;
    let all = herald_engine::store::DlqFilter {
        before: None,
        ..filter
    };
    let matching = state.store.dlq_count(tenant, &all).await?;
    Ok(DlqListing { page, matching })
}

#[server(prefix = "/fn", endpoint = "get_dlq_entry")]
pub async fn get_dlq_entry(id: String) -> Result<DlqDetail, ConsoleError> {
    use crate::ssr::{console_state, console_tenant, fail, parse_id, require};
    use herald_engine::model::{DlqEntryId, Permission};
    require(Permission::Read)?;
    let state = console_state()?;
    let tenant = console_tenant(&state).await?;
    let entry: DlqEntryId = parse_id("DLQ entry", &id)?;
    state.store.dlq_entry(tenant, entry).await?.ok_or_else(|| {
        fail(ConsoleError::NotFound {
            message: format!("DLQ entry '{id}' is not in the queue (reprocessed or discarded?)"),
        })
    })
}

/// Reprocesses the listed entries, or with `all` every entry matching `query`.
#[server(prefix = "/fn", endpoint = "reprocess_dlq")]
pub async fn reprocess_dlq(
    // An empty list is left out of a form-encoded request: default it.
    #[server(default)] ids: Vec<String>,
    all: bool,
    query: DlqQuery,
    reason: String,
) -> Result<ReprocessOut, ConsoleError> {
    use crate::ssr::{Call, by_user, open, parse_id};
    use herald_engine::model::{DlqEntryId, Permission};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageDlq).await?;
    let actor = by_user(&user);
    let out = if all {
        let filter = filter_of(&DlqQuery {
            before: String::new(),
            ..query
        })?;
        state
            .engine
            .reprocess_dlq_matching(tenant, filter, &actor, &reason)
            .await?
    } else {
        let ids = ids
            .iter()
            .map(|id| parse_id::<DlqEntryId>("DLQ entry", id))
            .collect::<Result<Vec<_>, _>>()?;
        state
            .engine
            .reprocess_dlq(tenant, &ids, &actor, &reason)
            .await?
    };
    Ok(out)
}

#[server(prefix = "/fn", endpoint = "discard_dlq")]
pub async fn discard_dlq(id: String, reason: String) -> Result<(), ConsoleError> {
    use crate::ssr::{Call, by_user, open, parse_id};
    use herald_engine::model::{DlqEntryId, Permission};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageDlq).await?;
    let entry: DlqEntryId = parse_id("DLQ entry", &id)?;
    state
        .engine
        .discard_dlq(tenant, entry, &by_user(&user), &reason)
        .await?;
    Ok(())
}
