//! The endpoint form, for creating and for editing. Errors from the server are
//! shown beside the field they are about.

use herald_engine::model::RetryPolicyOut;
use leptos::prelude::*;

use crate::components::content_editors::{FilterEditor, TransformEditor};
use crate::components::ui::{FieldMessage, form_level_error};
use crate::error::ConsoleError;
use crate::pages::endpoints::fns::EndpointForm;

const FIELDS: [&str; 17] = [
    "url",
    "name",
    "event_types",
    "filter",
    "filter_event_type",
    "transform",
    "transform_event_type",
    "description",
    "headers",
    "retry_policy_id",
    "timeout_ms",
    "max_in_flight",
    "semantics",
    "ordering",
    "on_dead",
    "rate_limit",
    "ack_timeout_secs",
];

#[component]
pub fn EndpointFormView(
    initial: EndpointForm,
    policies: Vec<RetryPolicyOut>,
    /// True when changing an existing endpoint (headers left empty stay).
    editing: bool,
    submit_label: &'static str,
    #[prop(into)] pending: Signal<bool>,
    #[prop(into)] error: Signal<Option<ConsoleError>>,
    on_submit: Callback<EndpointForm>,
) -> impl IntoView {
    let kind = RwSignal::new(or_default(initial.kind, "webhook"));
    let url = RwSignal::new(initial.url);
    let name = RwSignal::new(initial.name);
    let description = RwSignal::new(initial.description);
    let event_types = RwSignal::new(initial.event_types);
    let filter = RwSignal::new(initial.filter);
    let transform = RwSignal::new(initial.transform);
    let retry_policy_id = RwSignal::new(initial.retry_policy_id);
    let timeout_secs = RwSignal::new(initial.timeout_secs);
    let max_in_flight = RwSignal::new(initial.max_in_flight);
    let rate_limit = RwSignal::new(initial.rate_limit);
    let semantics = RwSignal::new(semantics_or_default(initial.semantics));
    let ordering = RwSignal::new(or_default(initial.ordering, "none"));
    let on_dead = RwSignal::new(or_default(initial.on_dead, "block"));
    let ack_timeout = RwSignal::new(initial.ack_timeout_secs);
    let headers = RwSignal::new(String::new());
    let invalid = move |name: &'static str| {
        move || {
            error
                .get()
                .and_then(|e| e.for_field(name))
                .is_some()
                .to_string()
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        on_submit.run(EndpointForm {
            kind: kind.get_untracked(),
            url: if kind.get_untracked() == "inbox" {
                String::new()
            } else {
                url.get_untracked()
            },
            name: name.get_untracked(),
            description: description.get_untracked(),
            event_types: event_types.get_untracked(),
            filter: filter.get_untracked(),
            transform: if kind.get_untracked() == "inbox" {
                String::new()
            } else {
                transform.get_untracked()
            },
            retry_policy_id: retry_policy_id.get_untracked(),
            timeout_secs: timeout_secs.get_untracked(),
            semantics: semantics.get_untracked(),
            headers: headers.get_untracked(),
            max_in_flight: max_in_flight.get_untracked(),
            rate_limit: rate_limit.get_untracked(),
            ordering: ordering.get_untracked(),
            on_dead: on_dead.get_untracked(),
            ack_timeout_secs: ack_timeout.get_untracked(),
        });
    };
    let policy_options = policies
        .into_iter()
        .map(|p| {
            let id = p.id.to_string();
            let label = format!("{} ({} attempts)", p.name, p.policy.max_attempts);
            view! { <option value=id>{label}</option> }
        })
        .collect_view();
    let default_policy = if editing {
        "Keep the current policy"
    } else {
        "Standard Webhooks schedule (10 attempts over about 3 days)"
    };

    view! {
        <form class="stack form" on:submit=submit novalidate=true aria-label="Endpoint">
            <DestinationFields editing kind url error/>
            <label>
                "Event types"
                <input
                    type="text"
                    name="event_types"
                    placeholder="order.*, user.created or *"
                    prop:value=move || event_types.get()
                    on:input=move |ev| event_types.set(event_target_value(&ev))
                    aria-invalid=invalid("event_types")
                    aria-describedby="event-types-help event-types-error"
                />
                <span class="help" id="event-types-help">
                    "Comma-separated. " <code>"order.*"</code> " matches every order event; "
                    <code>"*"</code> " matches everything."
                </span>
                <FieldMessage error name="event_types" id="event-types-error"/>
            </label>
            <FilterEditor filter patterns=event_types error/>
            <Show when=move || kind.get() != "inbox">
                <TransformEditor transform patterns=event_types error/>
            </Show>
            <ShortField
                label="Name (optional)"
                name="name"
                field="name"
                value=name
                error=error
                error_id="name-error"
            />
            <ShortField
                label="Description"
                name="description"
                field="description"
                value=description
                error=error
                error_id="description-error"
            />
            <div class="row">
                <label>
                    "Retry policy"
                    <select
                        name="retry_policy_id"
                        on:change=move |ev| retry_policy_id.set(event_target_value(&ev))
                        prop:value=move || retry_policy_id.get()
                    >
                        <option value="">{default_policy}</option>
                        {policy_options}
                    </select>
                    <FieldMessage error name="retry_policy_id" id="policy-error"/>
                </label>
            </div>
            <LimitFields timeout_secs max_in_flight rate_limit error/>
            <OrderingFields semantics ordering on_dead error/>
            <Show when=move || semantics.get() == "effectively_once">
                <ShortField
                    label="Acknowledgement timeout (seconds)"
                    name="ack_timeout_secs"
                    field="ack_timeout_secs"
                    inputmode="numeric"
                    placeholder="300"
                    value=ack_timeout
                    error=error
                    error_id="ack-timeout-error"
                />
            </Show>
            <HeadersField editing headers error/>
            {move || form_level_error(error.get(), &FIELDS).map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <div>
                <button type="submit" disabled=move || pending.get()>{submit_label}</button>
            </div>
        </form>
    }
}

/// Custom headers, one per line; on edit, empty keeps the current ones.
#[component]
fn HeadersField(
    editing: bool,
    headers: RwSignal<String>,
    #[prop(into)] error: Signal<Option<ConsoleError>>,
) -> impl IntoView {
    let invalid = move || {
        error
            .get()
            .and_then(|e| e.for_field("headers"))
            .is_some()
            .to_string()
    };
    view! {
        <label>
            "Custom headers"
            <textarea
                name="headers"
                rows="2"
                placeholder=if editing { "Leave empty to keep the current headers" } else { "X-Team: payments" }
                prop:value=move || headers.get()
                on:input=move |ev| headers.set(event_target_value(&ev))
                aria-invalid=invalid
            ></textarea>
            <span class="help">"One per line, as " <code>"Name: value"</code> ". Values are never shown again."</span>
            <FieldMessage error name="headers" id="headers-error"/>
        </label>
    }
}

/// What the endpoint is (chosen on creation only) and, for a webhook, where
/// it sends.
#[component]
fn DestinationFields(
    editing: bool,
    kind: RwSignal<String>,
    url: RwSignal<String>,
    #[prop(into)] error: Signal<Option<ConsoleError>>,
) -> impl IntoView {
    let url_invalid = move || {
        error
            .get()
            .and_then(|e| e.for_field("url"))
            .is_some()
            .to_string()
    };
    view! {
            {(!editing).then(|| view! {
                <label>
                    "Kind"
                    <select
                        name="kind"
                        on:change=move |ev| kind.set(event_target_value(&ev))
                        prop:value=move || kind.get()
                        aria-describedby="kind-help"
                    >
                        <option value="webhook">"Webhook: Herald sends each event to your server"</option>
                        <option value="inbox">"Inbox: your consumers pull events"</option>
                    </select>
                    <span class="help" id="kind-help">
                        "An inbox has no address of its own: consumers lease its messages with "
                        <code>"GET /api/v1/inbox/{id}"</code> " and acknowledge each."
                    </span>
                    <FieldMessage error name="kind" id="kind-error"/>
                </label>
            })}
            <Show when=move || kind.get() != "inbox">
                <label>
                    "URL"
                    <input
                        type="url"
                        name="url"
                        placeholder="https://example.com/webhooks"
                        prop:value=move || url.get()
                        on:input=move |ev| url.set(event_target_value(&ev))
                        aria-invalid=url_invalid
                        aria-describedby="url-error"
                    />
                    <FieldMessage error name="url" id="url-error"/>
                </label>
            </Show>
    }
}

/// How much the endpoint takes: its timeout, requests at once and rate.
#[component]
fn LimitFields(
    timeout_secs: RwSignal<String>,
    max_in_flight: RwSignal<String>,
    rate_limit: RwSignal<String>,
    #[prop(into)] error: Signal<Option<ConsoleError>>,
) -> impl IntoView {
    view! {
        <div class="row">
            <ShortField
                label="Timeout (seconds)"
                name="timeout_secs"
                field="timeout_ms"
                inputmode="decimal"
                placeholder="15"
                value=timeout_secs
                error=error
                error_id="timeout-error"
            />
            <ShortField
                label="In flight at once"
                name="max_in_flight"
                field="max_in_flight"
                inputmode="numeric"
                placeholder="the server's default"
                value=max_in_flight
                error=error
                error_id="in-flight-error"
            />
            <ShortField
                label="Rate limit"
                name="rate_limit"
                field="rate_limit"
                placeholder="none, or 100/s, 600/min"
                value=rate_limit
                error=error
                error_id="rate-limit-error"
            />
        </div>
    }
}

/// How the endpoint's deliveries are made: their semantics, their order,
/// and what a dead one does to its stream.
#[component]
fn OrderingFields(
    semantics: RwSignal<String>,
    ordering: RwSignal<String>,
    on_dead: RwSignal<String>,
    #[prop(into)] error: Signal<Option<ConsoleError>>,
) -> impl IntoView {
    view! {
    <div class="row">
        <label>
            "Delivery"
            <select
                name="semantics"
                on:change=move |ev| semantics.set(event_target_value(&ev))
                prop:value=move || semantics.get()
            >
                <option value="at_least_once">"At least once (retried)"</option>
                <option value="at_most_once">"At most once (never retried)"</option>
                <option value="effectively_once">"Effectively once (the receiver acknowledges)"</option>
            </select>
        </label>
        <label>
            "Order"
            <select
                name="ordering"
                on:change=move |ev| ordering.set(event_target_value(&ev))
                prop:value=move || ordering.get()
                aria-describedby="ordering-help"
            >
                <option value="none">"No order (fastest)"</option>
                <option value="key">"In order per ordering key"</option>
                <option value="endpoint">"In order, one at a time"</option>
            </select>
            <span class="help" id="ordering-help">
                "Per key: events with the same " <code>"ordering_key"</code>
                " (else " <code>"entity_id"</code> ") arrive in the order they were published."
            </span>
            <FieldMessage error name="ordering" id="ordering-error"/>
        </label>
        <label>
            "When a delivery dies"
            <select
                name="on_dead"
                on:change=move |ev| on_dead.set(event_target_value(&ev))
                prop:value=move || on_dead.get()
                disabled=move || ordering.get() == "none"
            >
                <option value="block">"Hold its stream until it is reprocessed or discarded"</option>
                <option value="skip">"Skip it and go on"</option>
            </select>
            <FieldMessage error name="on_dead" id="on-dead-error"/>
        </label>
    </div>
    }
}

/// A one-line text field (`field` is what the server's errors call it), with
/// its error beside it.
#[component]
fn ShortField(
    label: &'static str,
    name: &'static str,
    field: &'static str,
    #[prop(optional)] inputmode: Option<&'static str>,
    #[prop(optional)] placeholder: Option<&'static str>,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<ConsoleError>>,
    error_id: &'static str,
) -> impl IntoView {
    let invalid = move || {
        error
            .get()
            .and_then(|e| e.for_field(field))
            .is_some()
            .to_string()
    };
    view! {
        <label>
            {label}
            <input
                type="text"
                inputmode=inputmode
                name=name
                placeholder=placeholder
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
                aria-invalid=invalid
            />
            <FieldMessage error name=field id=error_id/>
        </label>
    }
}

/// A new endpoint's delivery semantics start at at-least-once.
/// A choice's value, or `default` when none was made.
fn or_default(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value
    }
}

fn semantics_or_default(semantics: String) -> String {
    if semantics.is_empty() {
        "at_least_once".to_string()
    } else {
        semantics
    }
}
