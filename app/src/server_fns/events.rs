//! Events: the filtered list and one event with its deliveries and receipts.

use herald_engine::model::{EndpointOut, EventDetail, EventSummary, Page};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

/// Events on one page of the list.
pub const EVENTS_PAGE: u32 = 50;

/// The event list's filters as they appear in the URL; empty means "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventQuery {
    #[serde(default)]
    pub event_type: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub endpoint_id: String,
    #[serde(default)]
    pub correlation_id: String,
    /// `YYYY-MM-DDTHH:MM` (UTC), as a datetime-local input gives it, or RFC 3339.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// Keyset cursor: events older than this id.
    #[serde(default)]
    pub before: String,
}

#[cfg(feature = "ssr")]
pub(crate) fn parse_time(
    field: &str,
    text: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ConsoleError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Some(t) = herald_engine::model::query::parse_typed_time(text) {
        return Ok(Some(t));
    }
    Err(crate::ssr::fail(ConsoleError::Invalid {
        field: field.into(),
        message: format!("'{text}' is not a time like 2026-11-23T14:30 (UTC)"),
    }))
}

#[server(prefix = "/fn", endpoint = "list_events")]
pub async fn list_events(query: EventQuery) -> Result<Page<EventSummary>, ConsoleError> {
    use crate::ssr::{console_state, console_tenant, fail, parse_id, require};
    use herald_engine::model::{DeliveryState, Permission};
    use herald_engine::store::EventFilter;
    require(Permission::Read)?;
    let state = console_state()?;
    let tenant = console_tenant(&state).await?;
    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let delivery_state = match query.state.as_str() {
        "" => None,
        "pending" => Some(DeliveryState::Pending),
        "in_flight" => Some(DeliveryState::InFlight),
        "succeeded" => Some(DeliveryState::Succeeded),
        "dead" => Some(DeliveryState::Dead),
        other => {
            return Err(fail(ConsoleError::Invalid {
                field: "state".into(),
                message: format!("'{other}' is not a delivery state"),
            }));
        }
    };
    let filter = EventFilter {
        event_type: text(&query.event_type),
        correlation_id: text(&query.correlation_id),
        entity_id: None,
        endpoint_id: text(&query.endpoint_id)
            .map(|id| parse_id("endpoint", &id))
            .transpose()?,
        state: delivery_state,
        from: parse_time("from", &query.from)?,
        to: parse_time("to", &query.to)?,
        before: text(&query.before)
            .map(|id| parse_id("cursor", &id))
            .transpose()?,
    };
    Ok(state
        .store
        .list_events(tenant, &filter, EVENTS_PAGE)
        .await?)
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
            (e.id.to_string(), url)
        }));
        match page.next_cursor {
            Some(c) => after = Some(c.parse().map_err(internal)?),
            None => return Ok(out),
        }
    }
}
