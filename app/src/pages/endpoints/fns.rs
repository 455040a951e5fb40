//! Endpoints: list with health, create, edit, enable/disable, rotate the
//! secret, send a test event.

use chrono::{DateTime, Utc};
use herald_engine::model::{DeliveryState, EndpointBacklog, EndpointOut, ErrorClass, EventId};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

/// An endpoint with what is queued for it and the name of its policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointRow {
    pub endpoint: EndpointOut,
    pub backlog: EndpointBacklog,
    /// The named retry policy it follows, if any.
    pub policy_name: Option<String>,
    /// Its ordered streams held up by a DLQ entry (on its own page only).
    #[serde(default)]
    pub blocked: Vec<herald_engine::model::BlockedStream>,
    /// Its circuit breaker's latest transitions, newest first (on its own
    /// page only).
    #[serde(default)]
    pub breaker_history: Vec<herald_engine::model::AuditOut>,
    /// An inbox's depth and consumers (on its own page only).
    #[serde(default)]
    pub inbox: Option<herald_engine::model::InboxOut>,
}

/// A signing secret shown once: on creation or after a rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretShown {
    pub endpoint_id: String,
    pub secret: String,
    /// After a rotation: until when the previous secret keeps signing too.
    pub previous_valid_until: Option<DateTime<Utc>>,
    /// Saved anyway, but worth knowing (a URL the destination guard refuses).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// What became of a test event's first attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    pub event_id: EventId,
    pub state: DeliveryState,
    pub attempts: u32,
    pub status: Option<u16>,
    pub latency_ms: Option<u64>,
    pub error_class: Option<ErrorClass>,
    pub error_message: Option<String>,
}

/// Endpoints as `user` may see them: URL credentials and query values only for
/// those who may manage endpoints.
#[cfg(feature = "ssr")]
async fn rows(
    state: &crate::ssr::ConsoleState,
    tenant: herald_engine::model::TenantId,
    user: &herald_engine::model::UserOut,
    mut endpoints: Vec<EndpointOut>,
) -> Result<Vec<EndpointRow>, ConsoleError> {
    if !user
        .role
        .allows(herald_engine::model::Permission::ManageEndpoints)
    {
        for endpoint in &mut endpoints {
            endpoint.url = herald_engine::model::redact::mask_url(&endpoint.url);
        }
    }
    let ids: Vec<_> = endpoints.iter().map(|e| e.id).collect();
    let mut backlog = state.store.endpoint_backlog(tenant, &ids).await?;
    let mut names = std::collections::HashMap::new();
    for id in endpoints.iter().filter_map(|e| e.retry_policy_id) {
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(id)
            && let Some(policy) = state.store.get_retry_policy(tenant, id).await?
        {
            slot.insert(policy.name);
        }
    }
    Ok(endpoints
        .into_iter()
        .map(|endpoint| EndpointRow {
            backlog: backlog.remove(&endpoint.id).unwrap_or_default(),
            policy_name: endpoint
                .retry_policy_id
                .and_then(|id| names.get(&id).cloned()),
            endpoint,
            blocked: Vec::new(),
            breaker_history: Vec::new(),
            inbox: None,
        })
        .collect())
}

#[server(prefix = "/fn", endpoint = "list_endpoints")]
pub async fn list_endpoints(
    cursor: Option<String>,
) -> Result<herald_engine::model::Page<EndpointRow>, ConsoleError> {
    use crate::ssr::{Call, open, parse_id};
    use herald_engine::model::Permission;
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::Read).await?;
    let after = cursor
        .filter(|c| !c.is_empty())
        .map(|c| parse_id("cursor", &c))
        .transpose()?;
    let page = state.store.list_endpoints(tenant, after, 50).await?;
    Ok(herald_engine::model::Page {
        items: rows(&state, tenant, &user, page.items).await?,
        next_cursor: page.next_cursor,
    })
}

/// Breaker transitions an endpoint's page lists.
#[cfg(feature = "ssr")]
const BREAKER_HISTORY: usize = 10;

#[server(prefix = "/fn", endpoint = "get_endpoint")]
pub async fn get_endpoint(id: String) -> Result<EndpointRow, ConsoleError> {
    use crate::ssr::{Call, fail, open, parse_id};
    use herald_engine::model::Permission;
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::Read).await?;
    let endpoint = state
        .store
        .get_endpoint(tenant, parse_id("endpoint", &id)?)
        .await?
        .ok_or_else(|| {
            fail(ConsoleError::NotFound {
                message: format!("endpoint '{id}' was not found"),
            })
        })?;
    let ordered = endpoint.ordering != herald_engine::model::OrderingMode::None;
    let mut row = rows(&state, tenant, &user, vec![endpoint])
        .await?
        .pop()
        .ok_or_else(|| crate::ssr::internal("endpoint row vanished"))?;
    row.breaker_history = state
        .store
        .list_audit(
            Some(tenant),
            &herald_engine::model::AuditQuery {
                action: Some("endpoint.".into()),
                target: Some(id.clone()),
                ..Default::default()
            },
            100,
        )
        .await?
        .items
        .into_iter()
        .filter(|a| a.action.starts_with("endpoint.circuit_"))
        .take(BREAKER_HISTORY)
        .collect();
    if row.endpoint.kind == herald_engine::model::EndpointKind::Inbox {
        row.inbox = Some(state.engine.inbox_state(tenant, row.endpoint.id).await?);
    }
    if ordered || row.backlog.waiting > 0 {
        row.blocked = state
            .store
            .blocked_streams(tenant, row.endpoint.id, 20)
            .await?;
    }
    Ok(row)
}

/// The fields of the endpoint form, as typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointForm {
    /// `webhook` or `inbox` (on create only); empty for a webhook.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub url: String,
    /// Shown instead of the URL; empty for none.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Comma- or space-separated patterns.
    pub event_types: String,
    /// A content filter as JSON text; empty for none (on create) / to
    /// remove it (on edit).
    #[serde(default)]
    pub filter: String,
    /// A jq transform; empty for none (on create) / to remove it (on edit).
    #[serde(default)]
    pub transform: String,
    /// A named policy's id, or empty for the default schedule (on create) /
    /// no change (on edit).
    #[serde(default)]
    pub retry_policy_id: String,
    /// Seconds.
    #[serde(default)]
    pub timeout_secs: String,
    #[serde(default)]
    pub semantics: String,
    /// `Name: value` per line; on edit, empty keeps the current headers.
    #[serde(default)]
    pub headers: String,
    /// Requests in flight at once; empty for the server's default (on create)
    /// / no change (on edit).
    #[serde(default)]
    pub max_in_flight: String,
    /// `none`, `endpoint` or `key`; empty for the default (on create) / no
    /// change (on edit).
    #[serde(default)]
    pub ordering: String,
    /// `block` or `skip`; empty as for `ordering`.
    #[serde(default)]
    pub on_dead: String,
    /// `100/s` or `600/min`; `none` lifts it; empty for none (on create) /
    /// no change (on edit).
    #[serde(default)]
    pub rate_limit: String,
    /// Seconds to wait for an acknowledgement (effectively-once); empty for
    /// the default (on create) / no change (on edit).
    #[serde(default)]
    pub ack_timeout_secs: String,
}

#[cfg(feature = "ssr")]
mod checks {
    use super::EndpointForm;
    use crate::error::ConsoleError;
    use crate::forms::{parse_headers, split_patterns};
    use crate::ssr::{fail, invalid_field, parse_id};
    use herald_engine::model::{RetryPolicyId, Semantics};

    pub fn timeout_ms(text: &str) -> Result<Option<u32>, ConsoleError> {
        match text.trim() {
            "" => Ok(None),
            t => t
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(|s| Some((s * 1000.0).round() as u32))
                .ok_or_else(|| {
                    fail(ConsoleError::Invalid {
                        field: "timeout_ms".into(),
                        message: "must be a number of seconds, such as 15".into(),
                    })
                }),
        }
    }

    pub fn max_in_flight(text: &str) -> Result<Option<u32>, ConsoleError> {
        match text.trim() {
            "" => Ok(None),
            t => t.parse::<u32>().map(Some).map_err(|_| {
                fail(ConsoleError::Invalid {
                    field: "max_in_flight".into(),
                    message: "must be a whole number from 1 to 256".into(),
                })
            }),
        }
    }

    pub fn ack_timeout(text: &str) -> Result<Option<u32>, ConsoleError> {
        match text.trim() {
            "" => Ok(None),
            t => t.parse::<u32>().map(Some).map_err(|_| {
                fail(ConsoleError::Invalid {
                    field: "ack_timeout_secs".into(),
                    message: "must be a whole number of seconds, from 5 to 604800".into(),
                })
            }),
        }
    }

    pub fn semantics(text: &str) -> Result<Option<Semantics>, ConsoleError> {
        match text {
            "" => Ok(None),
            "at_least_once" => Ok(Some(Semantics::AtLeastOnce)),
            "at_most_once" => Ok(Some(Semantics::AtMostOnce)),
            "effectively_once" => Ok(Some(Semantics::EffectivelyOnce)),
            other => Err(fail(ConsoleError::Invalid {
                field: "semantics".into(),
                message: format!("'{other}' is not a delivery semantics"),
            })),
        }
    }

    /// A choice among a wire enum's names (`field` names it in the error);
    /// empty: none made.
    pub fn choice<T: std::str::FromStr<Err = herald_engine::model::ParseEnumError>>(
        field: &str,
        text: &str,
    ) -> Result<Option<T>, ConsoleError> {
        match text.trim() {
            "" => Ok(None),
            t => t.parse::<T>().map(Some).map_err(|e| {
                fail(ConsoleError::Invalid {
                    field: field.into(),
                    message: e.to_string(),
                })
            }),
        }
    }

    /// A rate limit as typed: `None` when left empty, `Some(None)` for
    /// `none`.
    pub fn rate_limit(
        text: &str,
    ) -> Result<Option<Option<herald_engine::model::RateLimit>>, ConsoleError> {
        match text.trim() {
            "" => Ok(None),
            "none" => Ok(Some(None)),
            t => herald_engine::model::RateLimit::parse(t)
                .map(|l| Some(Some(l)))
                .ok_or_else(|| {
                    fail(ConsoleError::Invalid {
                        field: "rate_limit".into(),
                        message: "write it as 100/s or 600/min (or none)".into(),
                    })
                }),
        }
    }

    pub fn policy(text: &str) -> Result<Option<RetryPolicyId>, ConsoleError> {
        match text.trim() {
            "" => Ok(None),
            id => parse_id("retry policy", id).map(Some),
        }
    }

    pub fn headers(
        form: &EndpointForm,
    ) -> Result<std::collections::BTreeMap<String, String>, ConsoleError> {
        parse_headers(&form.headers).map_err(invalid_field)
    }

    /// A content filter as typed: none when empty; JSON otherwise (the
    /// engine checks the rest).
    pub fn filter(text: &str) -> Result<Option<serde_json::Value>, ConsoleError> {
        match text.trim() {
            "" => Ok(None),
            t => serde_json::from_str(t).map(Some).map_err(|e| {
                fail(ConsoleError::Invalid {
                    field: "filter".into(),
                    message: format!("is not JSON: {e}"),
                })
            }),
        }
    }

    pub fn patterns(form: &EndpointForm) -> Vec<String> {
        split_patterns(&form.event_types)
    }
}

#[server(prefix = "/fn", endpoint = "create_endpoint")]
pub async fn create_endpoint(form: EndpointForm) -> Result<SecretShown, ConsoleError> {
    use crate::ssr::{Call, by_user, open};
    use herald_engine::model::{EndpointIn, Permission};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageEndpoints).await?;
    let input = EndpointIn {
        kind: checks::choice("kind", &form.kind)?.unwrap_or_default(),
        url: form.url.trim().to_string(),
        event_types: checks::patterns(&form),
        filter: checks::filter(&form.filter)?,
        transform: Some(form.transform.trim().to_string()).filter(|t| !t.is_empty()),
        name: form.name.trim().to_string(),
        description: form.description.trim().to_string(),
        headers: checks::headers(&form)?,
        semantics: checks::semantics(&form.semantics)?.unwrap_or_default(),
        retry_policy: None,
        retry_policy_id: checks::policy(&form.retry_policy_id)?,
        timeout_ms: checks::timeout_ms(&form.timeout_secs)?,
        max_in_flight: checks::max_in_flight(&form.max_in_flight)?,
        ordering: checks::choice("ordering", &form.ordering)?.unwrap_or_default(),
        on_dead: checks::choice("on_dead", &form.on_dead)?.unwrap_or_default(),
        rate_limit: checks::rate_limit(&form.rate_limit)?.flatten(),
        ack_timeout_secs: checks::ack_timeout(&form.ack_timeout_secs)?,
        circuit_breaker: None,
        secret: None,
    };
    let (endpoint, secret) = state
        .engine
        .create_endpoint(tenant, input, &by_user(&user))
        .await?;
    Ok(SecretShown {
        endpoint_id: endpoint.id.to_string(),
        secret,
        previous_valid_until: None,
        warnings: endpoint.warnings,
    })
}

#[server(prefix = "/fn", endpoint = "update_endpoint")]
pub async fn update_endpoint(id: String, form: EndpointForm) -> Result<EndpointOut, ConsoleError> {
    use crate::ssr::{Call, by_user, open, parse_id};
    use herald_engine::model::{EndpointPatch, Permission};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageEndpoints).await?;
    let headers = checks::headers(&form)?;
    let patch = EndpointPatch {
        url: Some(form.url.trim().to_string()),
        event_types: Some(checks::patterns(&form)),
        filter: Some(checks::filter(&form.filter)?),
        transform: Some(Some(form.transform.trim().to_string()).filter(|t| !t.is_empty())),
        name: Some(form.name.trim().to_string()),
        description: Some(form.description.trim().to_string()),
        headers: (!headers.is_empty()).then_some(headers),
        semantics: checks::semantics(&form.semantics)?,
        retry_policy: None,
        retry_policy_id: checks::policy(&form.retry_policy_id)?,
        timeout_ms: checks::timeout_ms(&form.timeout_secs)?,
        max_in_flight: checks::max_in_flight(&form.max_in_flight)?,
        ordering: checks::choice("ordering", &form.ordering)?,
        on_dead: checks::choice("on_dead", &form.on_dead)?,
        rate_limit: checks::rate_limit(&form.rate_limit)?,
        ack_timeout_secs: checks::ack_timeout(&form.ack_timeout_secs)?,
        circuit_breaker: None,
    };
    let endpoint = state
        .engine
        .update_endpoint(tenant, parse_id("endpoint", &id)?, patch, &by_user(&user))
        .await?;
    Ok(endpoint)
}

#[server(prefix = "/fn", endpoint = "set_endpoint_enabled")]
pub async fn set_endpoint_enabled(
    id: String,
    enabled: bool,
    reason: Option<String>,
) -> Result<EndpointOut, ConsoleError> {
    use crate::ssr::{Call, by_user, open, parse_id};
    use herald_engine::model::Permission;
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageEndpoints).await?;
    let endpoint = state
        .engine
        .set_endpoint_enabled(
            tenant,
            parse_id("endpoint", &id)?,
            enabled,
            reason,
            &by_user(&user),
        )
        .await?;
    Ok(endpoint)
}

#[server(prefix = "/fn", endpoint = "rotate_endpoint_secret")]
pub async fn rotate_endpoint_secret(id: String) -> Result<SecretShown, ConsoleError> {
    use crate::ssr::{Call, by_user, open, parse_id};
    use herald_engine::model::Permission;
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageEndpoints).await?;
    let rotated = state
        .engine
        .rotate_secret(
            tenant,
            parse_id("endpoint", &id)?,
            None,
            None,
            &by_user(&user),
        )
        .await?;
    Ok(SecretShown {
        endpoint_id: id,
        secret: rotated.secret,
        previous_valid_until: Some(rotated.previous_secret_valid_until),
        warnings: Vec::new(),
    })
}

/// Sends a test event and waits (up to the endpoint's timeout plus a little,
/// at most 20 s) for its first attempt, so the console can show the outcome.
#[server(prefix = "/fn", endpoint = "send_test_event")]
pub async fn send_test_event(id: String) -> Result<TestOutcome, ConsoleError> {
    use crate::ssr::{Call, by_user, open, parse_id};
    use herald_engine::model::Permission;
    use std::time::{Duration, Instant};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::SendTestEvent).await?;
    let endpoint_id = parse_id("endpoint", &id)?;
    let endpoint = state.store.get_endpoint(tenant, endpoint_id).await?;
    let event_id = state
        .engine
        .send_test_event(tenant, endpoint_id, None, None, &by_user(&user))
        .await?;
    let wait = Duration::from_millis(u64::from(endpoint.map_or(15_000, |e| e.timeout_ms)) + 2_000)
        .min(Duration::from_secs(20));
    let started = Instant::now();
    loop {
        let detail = state.store.event_detail(tenant, event_id).await?;
        let delivery = detail.and_then(|d| d.deliveries.into_iter().next());
        if let Some(d) = &delivery
            && (!d.attempt_log.is_empty() || started.elapsed() >= wait)
        {
            let last = d.attempt_log.last();
            return Ok(TestOutcome {
                event_id,
                state: d.state,
                attempts: d.attempts,
                status: last.and_then(|a| a.response_status),
                latency_ms: last.map(|a| a.latency_ms),
                error_class: last.and_then(|a| a.error_class),
                error_message: last.and_then(|a| a.error_message.clone()),
            });
        }
        if started.elapsed() >= wait {
            return Ok(TestOutcome {
                event_id,
                state: DeliveryState::Pending,
                attempts: 0,
                status: None,
                latency_ms: None,
                error_class: None,
                error_message: None,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The endpoint's latest deliveries with their last attempts, newest first.
#[server(prefix = "/fn", endpoint = "recent_deliveries")]
pub async fn recent_deliveries(
    id: String,
) -> Result<Vec<herald_engine::model::RecentDelivery>, ConsoleError> {
    use crate::ssr::{Call, open, parse_id};
    use herald_engine::model::Permission;
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    let endpoint = parse_id("endpoint", &id)?;
    if state.store.get_endpoint(tenant, endpoint).await?.is_none() {
        return Err(crate::ssr::fail(ConsoleError::NotFound {
            message: format!("endpoint '{id}' was not found"),
        }));
    }
    Ok(state
        .store
        .recent_deliveries(tenant, endpoint, RECENT_DELIVERIES)
        .await?)
}

/// How many of its latest deliveries an endpoint's page lists.
pub const RECENT_DELIVERIES: u32 = 10;

/// Tries a content filter, as typed in the endpoint form, on the newest
/// stored event of a type.
#[server(prefix = "/fn", endpoint = "test_filter")]
pub async fn test_filter(
    filter: String,
    event_type: String,
) -> Result<herald_engine::model::FilterTestOut, ConsoleError> {
    use crate::ssr::{Call, fail, open};
    use herald_engine::model::{FilterTestIn, Permission};
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    let Some(filter) = checks::filter(&filter)? else {
        return Err(fail(ConsoleError::Invalid {
            field: "filter".into(),
            message: "write a filter to test".into(),
        }));
    };
    let event_type = event_type.trim();
    if event_type.is_empty() {
        return Err(fail(ConsoleError::Invalid {
            field: "filter_event_type".into(),
            message: "name the event type whose newest event to test on".into(),
        }));
    }
    let input = FilterTestIn {
        filter,
        event_id: None,
        event_type: Some(event_type.to_owned()),
        event: None,
    };
    state
        .engine
        .filter_test(tenant, input)
        .await
        .map_err(|e| match e {
            herald_engine::EngineError::Invalid { field, message } if field == "event_type" => {
                fail(ConsoleError::Invalid {
                    field: "filter_event_type".into(),
                    message,
                })
            }
            other => other.into(),
        })
}

/// Tries a transform, as typed in the endpoint form, on the newest stored
/// event of a type: the body a receiver would get.
#[server(prefix = "/fn", endpoint = "test_transform")]
pub async fn test_transform(
    transform: String,
    event_type: String,
) -> Result<herald_engine::model::TransformTestOut, ConsoleError> {
    use crate::ssr::{Call, fail, open};
    use herald_engine::model::{Permission, TransformTestIn};
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    let event_type = event_type.trim();
    if event_type.is_empty() {
        return Err(fail(ConsoleError::Invalid {
            field: "transform_event_type".into(),
            message: "name the event type whose newest event to test on".into(),
        }));
    }
    let input = TransformTestIn {
        transform,
        event_id: None,
        event_type: Some(event_type.to_owned()),
        payload: None,
    };
    state
        .engine
        .transform_test(tenant, input)
        .await
        .map_err(|e| match e {
            herald_engine::EngineError::Invalid { field, message } if field == "event_type" => {
                fail(ConsoleError::Invalid {
                    field: "transform_event_type".into(),
                    message,
                })
            }
            other => other.into(),
        })
}
