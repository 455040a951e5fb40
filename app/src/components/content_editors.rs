//! The endpoint form's content filter and transform: an editor each, and a
//! tester that runs what is typed on the newest stored event of a type.

use leptos::prelude::*;

use crate::components::ui::{ErrorNotice, FieldMessage};
use crate::error::ConsoleError;
use crate::pages::endpoints::fns::{TestFilter, TestTransform};

/// The first pattern without a wildcard: the type the tester starts on.
pub fn concrete_type(patterns: &str) -> String {
    crate::forms::split_patterns(patterns)
        .into_iter()
        .find(|p| !p.contains('*'))
        .unwrap_or_default()
}

#[component]
pub fn FilterEditor(
    filter: RwSignal<String>,
    /// The form's event type patterns, for the tester's default type.
    #[prop(into)]
    patterns: Signal<String>,
    #[prop(into)] error: Signal<Option<ConsoleError>>,
) -> impl IntoView {
    let test = ServerAction::<TestFilter>::new();
    let chosen = RwSignal::new(None::<String>);
    let event_type = move || {
        chosen
            .get()
            .unwrap_or_else(|| concrete_type(&patterns.get()))
    };
    let test_error = Signal::derive(move || test.value().get().and_then(Result::err));
    let invalid = move || {
        error
            .get()
            .and_then(|e| e.for_field("filter"))
            .is_some()
            .to_string()
    };
    view! {
        <fieldset class="filter-editor">
            <legend>"Content filter (optional)"</legend>
            <label>
                "Filter"
                <textarea
                    name="filter"
                    rows="4"
                    class="mono"
                    spellcheck="false"
                    placeholder=r#"{"payload.total": {"$gte": 100}, "source": "shop"}"#
                    prop:value=move || filter.get()
                    on:input=move |ev| filter.set(event_target_value(&ev))
                    aria-invalid=invalid
                    aria-describedby="filter-help filter-error"
                ></textarea>
                <span class="help" id="filter-help">
                    "JSON over the event's " <code>"event_type"</code> ", " <code>"source"</code> ", "
                    <code>"payload"</code> " and " <code>"metadata"</code> ": dotted paths with a value or "
                    <code>"$eq $neq $gt $gte $lt $lte $in $nin $exists"</code> ", combined with "
                    <code>"$and $or $not"</code> ". Only matching events of its types are delivered. Empty: all of them."
                </span>
                <FieldMessage error name="filter" id="filter-error"/>
            </label>
            <div class="row">
                <label>
                    "Test on the newest event of type"
                    <input
                        type="text"
                        name="filter_event_type"
                        placeholder="order.created"
                        prop:value=event_type
                        on:input=move |ev| chosen.set(Some(event_target_value(&ev)))
                    />
                </label>
                <button
                    type="button"
                    class="secondary"
                    disabled=move || test.pending().get()
                    on:click=move |_| {
                        test.dispatch(TestFilter { filter: filter.get_untracked(), event_type: event_type() });
                    }
                >
                    {move || if test.pending().get() { "Testing…" } else { "Test filter" }}
                </button>
            </div>
            <div id="filter-result" role="status">
                {move || test.value().get().and_then(Result::ok).map(|out| {
                    let event = out.event_id.map(|id| id.to_string()).unwrap_or_default();
                    let href = format!("/events/{event}");
                    if out.matches {
                        view! {
                            <p class="notice success">"Matches event " <a href=href class="mono">{event}</a> ": it would be delivered."</p>
                        }.into_any()
                    } else {
                        view! {
                            <p class="notice warn">"Does not match event " <a href=href class="mono">{event}</a> ": "
                                {out.why.unwrap_or_default()}</p>
                        }.into_any()
                    }
                })}
                {move || test_error.get().map(|error| view! { <ErrorNotice error/> })}
            </div>
        </fieldset>
    }
}

#[component]
pub fn TransformEditor(
    transform: RwSignal<String>,
    /// The form's event type patterns, for the tester's default type.
    #[prop(into)]
    patterns: Signal<String>,
    #[prop(into)] error: Signal<Option<ConsoleError>>,
) -> impl IntoView {
    let test = ServerAction::<TestTransform>::new();
    let chosen = RwSignal::new(None::<String>);
    let event_type = move || {
        chosen
            .get()
            .unwrap_or_else(|| concrete_type(&patterns.get()))
    };
    let test_error = Signal::derive(move || test.value().get().and_then(Result::err));
    let invalid = move || {
        error
            .get()
            .and_then(|e| e.for_field("transform"))
            .is_some()
            .to_string()
    };
    view! {
        <fieldset class="transform-editor">
            <legend>"Transform (optional)"</legend>
            <label>
                "jq program"
                <textarea
                    name="transform"
                    rows="3"
                    class="mono"
                    spellcheck="false"
                    placeholder="{id: .order_id, cents: (.total * 100)}"
                    prop:value=move || transform.get()
                    on:input=move |ev| transform.set(event_target_value(&ev))
                    aria-invalid=invalid
                    aria-describedby="transform-help transform-error"
                ></textarea>
                <span class="help" id="transform-help">
                    "Reshapes each payload before it is signed and sent: its first output is the body. "
                    "At most 1 s and 1 MiB per event; one that fails sends nothing and is not retried. Empty: the payload as published."
                </span>
                <FieldMessage error name="transform" id="transform-error"/>
            </label>
            <div class="row">
                <label>
                    "Try on the newest event of type"
                    <input
                        type="text"
                        name="transform_event_type"
                        placeholder="order.created"
                        prop:value=event_type
                        on:input=move |ev| chosen.set(Some(event_target_value(&ev)))
                    />
                </label>
                <button
                    type="button"
                    class="secondary"
                    disabled=move || test.pending().get()
                    on:click=move |_| {
                        test.dispatch(TestTransform { transform: transform.get_untracked(), event_type: event_type() });
                    }
                >
                    {move || if test.pending().get() { "Trying…" } else { "Try transform" }}
                </button>
            </div>
            <div id="transform-result" role="status">
                {move || test.value().get().and_then(Result::ok).map(|out| {
                    let event = out.event_id.map(|id| id.to_string()).unwrap_or_default();
                    let body = serde_json::to_string_pretty(&out.output).unwrap_or_default();
                    view! {
                        <p>"The body event " <a href=format!("/events/{event}") class="mono">{event.clone()}</a> " would be sent as:"</p>
                        <pre class="payload"><code>{body}</code></pre>
                    }
                })}
                {move || test_error.get().map(|error| view! { <ErrorNotice error/> })}
            </div>
        </fieldset>
    }
}
