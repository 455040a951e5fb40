//! The dead-letter queue from the console: list, inspect, reprocess (one,
//! selected, or all matching) and discard with a reason.

use herald_engine::model::{DlqDetail, DlqEntryOut, DlqQuery, Page, ReprocessOut};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

/// Entries on one page of the list.
pub const DLQ_PAGE: u32 = 50;

/// One page of the list and how many entries match in all.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DlqListing {
    pub page: Page<DlqEntryOut>,
    pub matching: u64,
}

#[server(prefix = "/fn", endpoint = "list_dlq")]
pub async fn list_dlq(query: DlqQuery) -> Result<DlqListing, ConsoleError> {
    use crate::ssr::{Call, open};
    use herald_engine::model::Permission;
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    let page = state.store.list_dlq(tenant, &query, DLQ_PAGE).await?;
    let matching = state.store.dlq_count(tenant, &query.all_pages()).await?;
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
    // The API takes a reprocess without one; the console always asks why.
    crate::ssr::require_reason(&reason)?;
    let actor = by_user(&user);
    let out = if all {
        state
            .engine
            .reprocess_dlq_matching(tenant, query.all_pages(), &actor, &reason)
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
