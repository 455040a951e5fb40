//! Small pieces every page uses: times, states, error notices, field errors.

use chrono::{DateTime, Utc};
use herald_engine::model::{DeliveryState, ErrorClass};
use leptos::prelude::*;

use crate::error::ConsoleError;

/// A time as people read it in an operations console: UTC, to the second.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A delivery state as a labelled badge.
#[component]
pub fn StateBadge(state: DeliveryState) -> impl IntoView {
    let (label, class) = match state {
        DeliveryState::Pending => ("pending", "badge warn"),
        DeliveryState::InFlight => ("in flight", "badge info"),
        DeliveryState::Succeeded => ("succeeded", "badge ok"),
        DeliveryState::Dead => ("dead", "badge bad"),
        DeliveryState::AwaitingAck => ("awaiting ack", "badge info"),
    };
    view! { <span class=class>{label}</span> }
}

/// An error class in words, for a table cell or a filter choice.
pub fn error_class_label(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Dns => "Host not found",
        ErrorClass::Connect => "Connection refused",
        ErrorClass::Tls => "TLS failed",
        ErrorClass::Timeout => "Timed out",
        ErrorClass::HttpStatus => "HTTP error status",
        ErrorClass::Connection => "Connection broken",
        ErrorClass::InvalidUrl => "Invalid URL",
        ErrorClass::ResponseTooLarge => "Answer too large",
        ErrorClass::BlockedDestination => "Blocked address",
        ErrorClass::Internal => "Herald's own failure",
        ErrorClass::Nacked => "Handed back",
        ErrorClass::Transform => "Transform failed",
        ErrorClass::OutcomeUnknown => "Outcome unknown",
    }
}

/// What went wrong with a delivery, as people say it: "HTTP 500" when the
/// receiver answered, the error class in words otherwise.
pub fn failure_words(class: Option<ErrorClass>, status: Option<u16>) -> String {
    match (class, status) {
        (Some(ErrorClass::HttpStatus) | None, Some(status)) => format!("HTTP {status}"),
        (Some(class), _) => error_class_label(class).to_string(),
        (None, None) => "—".to_string(),
    }
}

/// A failed load or action, announced to assistive technology.
#[component]
pub fn ErrorNotice(error: ConsoleError) -> impl IntoView {
    view! { <p class="error" role="alert">{error.to_string()}</p> }
}

/// The message under a form field when the last submission failed on it.
#[component]
pub fn FieldMessage(
    #[prop(into)] error: Signal<Option<ConsoleError>>,
    name: &'static str,
    #[prop(into)] id: String,
) -> impl IntoView {
    let message = move || error.get().and_then(|e| e.for_field(name));
    view! {
        <Show when=move || message().is_some()>
            <span class="field-error" id=id.clone() role="alert">{message}</span>
        </Show>
    }
}

/// The error of the last submission when it is not about one field.
pub fn form_level_error(error: Option<ConsoleError>, fields: &[&str]) -> Option<String> {
    match error {
        Some(ConsoleError::Invalid { ref field, .. })
            if fields.iter().any(|f| {
                field == f
                    || field.starts_with(&format!("{f}["))
                    || field.starts_with(&format!("{f}."))
            }) =>
        {
            None
        }
        Some(e) => Some(e.to_string()),
        None => None,
    }
}

pub use herald_engine::model::query::query_escape;

/// `path` with a query string (as the router's location holds it, with or
/// without its `?`): how a detail page links back to the list it came from.
pub fn with_query(path: &str, search: &str) -> String {
    match search.trim_start_matches('?') {
        "" => path.to_string(),
        query => format!("{path}?{query}"),
    }
}

/// A list filter's endpoint choice (`endpoint_id`): any, or one of the
/// tenant's endpoints by URL.
#[component]
pub fn EndpointFilter(selected: Signal<Option<herald_engine::model::EndpointId>>) -> impl IntoView {
    let endpoints = Resource::new(|| (), |_| crate::pages::events::fns::endpoint_choices());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let choices = endpoints.await.unwrap_or_default();
                view! {
                    <label>"Endpoint"
                        <select name="endpoint_id">
                            <option value="">"Any endpoint"</option>
                            {choices.into_iter().map(|(id, url)| {
                                let chosen = {
                                    let id = id.clone();
                                    move || selected.get().is_some_and(|e| e.to_string() == id)
                                };
                                view! { <option value=id selected=chosen>{url}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                }
            })}
        </Suspense>
    }
}

/// A list filter's event-type choice (`event_type`): any, or one of the
/// types the tenant has published. A type in the URL that is not among them
/// (none published yet) stays a choice, so the filter shows what is applied.
#[component]
pub fn EventTypeFilter(selected: Signal<Option<String>>) -> impl IntoView {
    let types = Resource::new(|| (), |_| crate::pages::events::fns::event_type_choices());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let mut choices = types.await.unwrap_or_default();
                if let Some(asked) = selected.get_untracked()
                    && !choices.contains(&asked)
                {
                    choices.push(asked);
                }
                view! {
                    <label>"Event type"
                        <select name="event_type">
                            <option value="">"Any type"</option>
                            {choices.into_iter().map(|t| {
                                let chosen = {
                                    let t = t.clone();
                                    move || selected.get().as_deref() == Some(t.as_str())
                                };
                                let value = t.clone();
                                view! { <option value=value selected=chosen>{t}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                }
            })}
        </Suspense>
    }
}

/// A table's header row: one column per name, and a last one for row
/// actions (named for screen readers only) when `actions` is set.
#[component]
pub fn Columns(names: &'static [&'static str], #[prop(optional)] actions: bool) -> impl IntoView {
    view! {
        <thead><tr>
            {names.iter().map(|name| view! { <th scope="col">{*name}</th> }).collect_view()}
            {actions.then(|| view! {
                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
            })}
        </tr></thead>
    }
}

/// The page's list query, read from its URL as a submitted form is read:
/// empty fields mean "any", times typed in a `datetime-local` input are UTC.
pub fn url_query<Q>() -> Memo<Result<Q, ConsoleError>>
where
    Q: herald_engine::model::ListQuery + PartialEq + Send + Sync + 'static,
{
    let map = leptos_router::hooks::use_query_map();
    Memo::new(move |_| {
        map.with(|m| {
            Q::from_form(m.into_iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .map_err(ConsoleError::from)
        })
    })
}

/// A `datetime-local` input's value for a time (empty for none).
pub fn typed(t: Option<DateTime<Utc>>) -> String {
    t.map(herald_engine::model::query::typed_time)
        .unwrap_or_default()
}

/// `n` and a noun, singular or plural: "1 entry", "3 entries".
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// An endpoint as people know it: its name, else its URL (monospaced); a
/// name shows its URL on hover.
#[component]
pub fn EndpointName(name: String, url: String) -> impl IntoView {
    if name.is_empty() {
        view! { <span class="mono">{url}</span> }.into_any()
    } else {
        view! { <span title=url>{name}</span> }.into_any()
    }
}

/// An endpoint's name, else its URL, in running text.
pub fn endpoint_words(name: &str, url: &str) -> String {
    if name.is_empty() { url } else { name }.to_string()
}

/// A list's filters: a GET form whose URL keeps only the filters that are
/// set (`/events?state=dead`, not `/events?event_type=&state=dead&…&=`).
/// Before the console is interactive it submits as a plain form.
#[component]
pub fn FilterForm(
    action: &'static str,
    /// The form's accessible name.
    label: &'static str,
    children: Children,
) -> impl IntoView {
    let navigate = leptos_router::hooks::use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(form) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
            else {
                return;
            };
            let Ok(data) = web_sys::FormData::new_with_form(&form) else {
                return;
            };
            let Ok(params) = web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data) else {
                return;
            };
            ev.prevent_default();
            let query = only_set(&String::from(params.to_string()));
            navigate(&with_query(action, &query), Default::default());
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, &navigate);
    };
    view! {
        <form method="get" action=action class="filters" aria-label=label on:submit=submit>
            {children()}
        </form>
    }
}

/// The pairs of an encoded query that have a name and a value.
pub fn only_set(query: &str) -> String {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, value)| !name.is_empty() && !value.is_empty())
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_query_travels_with_a_link() {
        assert_eq!(with_query("/dlq", ""), "/dlq");
        assert_eq!(
            with_query("/dlq", "endpoint_id=ep_1"),
            "/dlq?endpoint_id=ep_1"
        );
        assert_eq!(with_query("/dlq/dlq_1", "?a=1&b=2"), "/dlq/dlq_1?a=1&b=2");
    }

    #[test]
    fn a_filter_url_keeps_only_the_filters_that_are_set() {
        assert_eq!(
            only_set("event_type=order.created&state=&endpoint_id=&from=2026-12-01T10%3A00&to=&="),
            "event_type=order.created&from=2026-12-01T10%3A00"
        );
        assert_eq!(only_set("state=&="), "");
        assert_eq!(with_query("/events", &only_set("a=&b=")), "/events");
    }

    #[test]
    fn a_failure_reads_as_people_say_it() {
        assert_eq!(
            failure_words(Some(ErrorClass::HttpStatus), Some(500)),
            "HTTP 500"
        );
        assert_eq!(failure_words(Some(ErrorClass::Timeout), None), "Timed out");
        assert_eq!(failure_words(None, Some(410)), "HTTP 410");
        assert_eq!(failure_words(None, None), "—");
        for class in ErrorClass::ANY {
            assert!(!error_class_label(class).contains('_'), "{class:?}");
        }
    }
}
