//! Events: the filtered list and one event with its deliveries and receipts.

use herald_engine::model::{EndpointOut, EventDetail, EventQuery, EventSummary, Page};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

/// Events on one page of the list.
pub const EVENTS_PAGE: u32 = 50;

/// One page of events matching the query, newest first.
#[server(prefix = "/fn", endpoint = "list_events")]
pub async fn list_events(query: EventQuery) -> Result<Page<EventSummary>, ConsoleError> {
    use crate::ssr::{Call, open};
    use herald_engine::model::Permission;
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    Ok(state.store.list_events(tenant, &query, EVENTS_PAGE).await?)
}

/// An event, its deliveries and receipts, and the endpoints they went to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub detail: EventDetail,
    pub endpoints: Vec<EndpointOut>,
}

#[server(prefix = "/fn", endpoint = "get_event")]
pub async fn get_event(id: String) -> Result<EventPage, ConsoleError> {
    use crate::ssr::{console_state, console_tenant, fail, parse_id, require};
    use herald_engine::model::Permission;
    require(Permission::Read)?;
    let state = console_state()?;
    let tenant = console_tenant(&state).await?;
    let detail = state
        .store
        .event_detail(tenant, parse_id("event", &id)?)
        .await?
        .ok_or_else(|| {
            fail(ConsoleError::NotFound {
                message: format!("event '{id}' was not found"),
            })
        })?;
    let mut endpoints = Vec::new();
    for delivery in &detail.deliveries {
        if endpoints
            .iter()
            .any(|e: &EndpointOut| e.id == delivery.endpoint_id)
        {
            continue;
        }
        if let Some(e) = state
            .store
            .get_endpoint(tenant, delivery.endpoint_id)
            .await?
        {
            endpoints.push(e);
        }
    }
    Ok(EventPage { detail, endpoints })
}

/// Sends one stored event again now, to the chosen endpoints (none chosen:
/// every endpoint it matches), with a reason for the audit log.
#[server(prefix = "/fn", endpoint = "resend_event")]
pub async fn resend_event(
    id: String,
    // An empty list is left out of a form-encoded request: default it.
    #[server(default)] endpoint_ids: Vec<String>,
    reason: String,
) -> Result<Vec<herald_engine::model::ReplayedDelivery>, ConsoleError> {
    use crate::ssr::{Call, by_user, open, parse_id};
    use herald_engine::model::{EndpointId, EventReplayIn, Permission};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageReplays).await?;
    crate::ssr::require_reason(&reason)?;
    let event = parse_id("event", &id)?;
    let endpoint_ids = endpoint_ids
        .iter()
        .map(|e| parse_id::<EndpointId>("endpoint", e))
        .collect::<Result<Vec<_>, _>>()?;
    let input = EventReplayIn {
        reason,
        endpoint_ids: (!endpoint_ids.is_empty()).then_some(endpoint_ids),
    };
    Ok(state
        .engine
        .replay_event(tenant, event, input, &by_user(&user))
        .await?)
}

/// The event types the tenant has published, most recently seen first, for
/// the filters' and the replay form's event-type choice.
#[server(prefix = "/fn", endpoint = "event_type_choices")]
pub async fn event_type_choices() -> Result<Vec<String>, ConsoleError> {
    use crate::ssr::{Call, open};
    use herald_engine::model::Permission;
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    let mut types = state.store.event_types(tenant).await?;
    types.sort_by(|a, b| {
        b.last_seen_at
            .cmp(&a.last_seen_at)
            .then(a.event_type.cmp(&b.event_type))
    });
    Ok(types.into_iter().map(|t| t.event_type).collect())
}

/// Every endpoint, for the event list's endpoint filter.
#[server(prefix = "/fn", endpoint = "endpoint_choices")]
pub async fn endpoint_choices() -> Result<Vec<(String, String)>, ConsoleError> {
    use crate::ssr::{console_state, console_tenant, internal, require};
    use herald_engine::model::Permission;
    let user = require(Permission::Read)?;
    let whole = user.role.allows(Permission::ManageEndpoints);
    let state = console_state()?;
    let tenant = console_tenant(&state).await?;
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = state.store.list_endpoints(tenant, after, 200).await?;
        out.extend(page.items.into_iter().map(|e| {
            let url = if whole {
                e.url
            } else {
                herald_engine::model::redact::mask_url(&e.url)
            };
            let label = crate::components::ui::endpoint_words(&e.name, &url);
            (e.id.to_string(), label)
        }));
        match page.next_cursor {
            Some(c) => after = Some(c.parse().map_err(internal)?),
            None => return Ok(out),
        }
    }
}
