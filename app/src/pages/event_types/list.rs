//! The event catalog: every type registered or published, with its schema
//! version, counts and flags; the AsyncAPI document; registering a type.

use herald_engine::model::{Permission, SchemaMode};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::components::list::{Allowed, Loaded};
use crate::components::ui::{Columns, FieldMessage, form_level_error, when};
use crate::pages::event_types::editor::SchemaEditor;
use crate::pages::event_types::fns::{Catalog, EventTypeForm, RegisterEventType, list_event_types};

const FIELDS: [&str; 4] = ["name", "description", "schema", "examples"];

/// What ingest does with the catalog, in a sentence.
pub fn mode_text(mode: SchemaMode) -> &'static str {
    match mode {
        SchemaMode::Off => {
            "Schema mode: off. Payloads are not checked against their schemas at ingest."
        }
        SchemaMode::Warn => {
            "Schema mode: warn. A payload its schema refuses is accepted, delivered and flagged with what is wrong."
        }
        SchemaMode::Enforce => {
            "Schema mode: enforce. A payload its schema refuses is refused with 422 naming each problem, and nothing is stored."
        }
    }
}

/// The page of one type.
pub fn type_href(name: &str) -> String {
    format!("/event-types/{}", crate::components::ui::query_escape(name))
}

#[component]
pub fn EventTypesPage() -> impl IntoView {
    let register = ServerAction::<RegisterEventType>::new();
    let catalog = Resource::new(move || register.version().get(), |_| list_event_types());
    // A registered type opens on its own page.
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(detail)) = register.value().get() {
            navigate(&type_href(&detail.event_type.name), Default::default());
        }
    });
    view! {
        <Title text="Event types"/>
        <div class="page-head">
            <h1>"Event types"</h1>
            <a href="/fn/asyncapi_document" download="asyncapi.json" rel="external" class="button secondary">
                "Download the AsyncAPI 3.0 document"
            </a>
        </div>
        <p class="muted">
            "The catalog of what this tenant publishes: registered types with their JSON Schemas and examples, and the types seen in published events. "
            "Endpoint owners can read the AsyncAPI document (one channel per registered type, with its payload schema, examples and the Standard Webhooks headers) into their tools."
        </p>
        <Loaded resource=catalog title="Event types" show=move |c: Catalog| view! {
            <p class="notice" data-testid="schema-mode">{mode_text(c.mode)}</p>
            {if c.entries.is_empty() {
                view! { <p class="muted">"No event types yet: register one below, or publish an event."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <Columns names=&["Type", "Schema", "Events", "Last seen", "Flagged"]/>
                        <tbody>
                            {c.entries.into_iter().map(|e| {
                                let href = type_href(&e.event_type);
                                let schema = match (e.registered, e.version) {
                                    (false, _) => "Not registered".to_string(),
                                    (true, None) => "Registered, no schema".to_string(),
                                    (true, Some(v)) => format!("Version {v}"),
                                };
                                view! {
                                    <tr class:archived=e.archived>
                                        <td data-label="Type">
                                            <A href=href><code>{e.event_type.clone()}</code></A>
                                            {e.deprecated.then(|| view! { " " <span class="badge warn">"Deprecated"</span> })}
                                            {e.archived.then(|| view! { " " <span class="badge">"Archived"</span> })}
                                            {(!e.description.is_empty()).then(|| view! { <br/><span class="muted">{e.description.clone()}</span> })}
                                        </td>
                                        <td data-label="Schema">{schema}</td>
                                        <td data-label="Events">{e.events}</td>
                                        <td data-label="Last seen">{e.last_seen_at.map(when).unwrap_or_else(|| "—".into())}</td>
                                        <td data-label="Flagged">{e.schema_warnings}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        }/>
        <Allowed permission=Permission::ManageEndpoints>
            <RegisterForm register/>
        </Allowed>
    }
}

#[component]
fn RegisterForm(register: ServerAction<RegisterEventType>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let schema = RwSignal::new(String::new());
    let examples = RwSignal::new(String::new());
    let error = Signal::derive(move || register.value().get().and_then(Result::err));
    view! {
        <section aria-labelledby="register-heading">
            <h2 id="register-heading">"Register an event type"</h2>
            <form
                class="stack form"
                aria-label="Register an event type"
                novalidate=true
                on:submit=move |ev| {
                    ev.prevent_default();
                    register.dispatch(RegisterEventType {
                        form: EventTypeForm {
                            name: name.get_untracked(),
                            description: description.get_untracked(),
                            schema: schema.get_untracked(),
                            examples: examples.get_untracked(),
                        },
                    });
                }
            >
                <div class="row">
                    <label>"Name"
                        <input type="text" name="name" placeholder="order.created"
                            prop:value=move || name.get()
                            on:input=move |ev| name.set(event_target_value(&ev))/>
                        <FieldMessage error name="name" id="name-error"/>
                    </label>
                    <label>"Description"
                        <input type="text" name="description"
                            prop:value=move || description.get()
                            on:input=move |ev| description.set(event_target_value(&ev))/>
                        <FieldMessage error name="description" id="description-error"/>
                    </label>
                </div>
                <SchemaEditor schema examples name=Signal::derive(String::new) error/>
                {move || form_level_error(error.get(), &FIELDS).map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <div class="row">
                    <button type="submit" disabled=move || register.pending().get()>"Register"</button>
                </div>
            </form>
        </section>
    }
}
