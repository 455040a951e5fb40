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

pub fn error_class_label(class: ErrorClass) -> &'static str {
    class.as_str()
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
