//! One event type: its current schema and examples, every version with a
//! diff from the one before, what was published under it, its recent
//! validation failures, and the form for its next schema version.

use herald_engine::model::{EventTypeDetail, Permission, SchemaCheckOut, ValidationFailures};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::components::dialog::ConfirmDialog;
use crate::components::list::{Allowed, Loaded};
use crate::components::ui::{FieldMessage, form_level_error, when};
use crate::pages::event_types::editor::SchemaEditor;
use crate::pages::event_types::fns::{
    AddSchemaVersion, EventTypePage as PageData, UpdateEventType, VersionChange, get_event_type,
};
use crate::pages::event_types::list::mode_text;

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn problems_text(problems: &[herald_engine::model::SchemaProblem]) -> String {
    problems
        .iter()
        .map(|p| p.describe())
        .collect::<Vec<_>>()
        .join("; ")
}

#[component]
pub fn EventTypePage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let add = ServerAction::<AddSchemaVersion>::new();
    let update = ServerAction::<UpdateEventType>::new();
    // Reloaded when a version is registered or the type changed, not after
    // a dry run or a refusal: those keep the draft in the form.
    let changed = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Some(Ok(out)) = add.value().get()
            && out.registered.is_some()
        {
            changed.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = update.value().get() {
            changed.update(|n| *n += 1);
        }
    });
    let page = Resource::new(
        move || (name(), changed.get()),
        |(name, _)| get_event_type(name),
    );
    view! {
        <Title text="Event type"/>
        <p><A href="/event-types">"← Event types"</A></p>
        <Loaded resource=page title="Event type" show=move |p: PageData| view! { <TypeView page=p add update/> }/>
    }
}

#[component]
fn TypeView(
    page: PageData,
    add: ServerAction<AddSchemaVersion>,
    update: ServerAction<UpdateEventType>,
) -> impl IntoView {
    let current = page.detail.as_ref().map(|d| d.event_type.clone());
    let registered = page.detail.is_some();
    let name = page.name.clone();
    view! {
        <div class="page-head">
            <h1><code>{page.name.clone()}</code></h1>
            {current.as_ref().filter(|t| t.deprecated).map(|_| view! { <span class="badge warn">"Deprecated"</span> })}
            {current.as_ref().filter(|t| t.archived).map(|_| view! { <span class="badge">"Archived"</span> })}
        </div>
        <dl class="facts">
            <dt>"Description"</dt><dd>{current.as_ref().map(|t| t.description.clone()).filter(|d| !d.is_empty()).unwrap_or_else(|| "—".into())}</dd>
            <dt>"Schema"</dt><dd>{match (registered, current.as_ref().and_then(|t| t.version)) {
                (false, _) => "Not registered: published without being in the catalog".to_string(),
                (true, None) => "Registered without a schema".to_string(),
                (true, Some(v)) => format!("Version {v}"),
            }}</dd>
            <dt>"Events published"</dt><dd data-testid="events-published">{page.events}</dd>
            <dt>"Last seen"</dt><dd>{page.last_seen_at.map(when).unwrap_or_else(|| "—".into())}</dd>
            <dt>"Accepted with problems"</dt><dd>{page.schema_warnings}</dd>
        </dl>
        <p class="muted">{mode_text(page.mode)}</p>
        {current.as_ref().and_then(|t| t.schema.clone()).map(|schema| view! {
            <section aria-labelledby="schema-heading">
                <h2 id="schema-heading">"Current schema"</h2>
                <pre class="payload"><code>{pretty(&schema)}</code></pre>
            </section>
        })}
        {current.as_ref().filter(|t| !t.examples.is_empty()).map(|t| view! {
            <section aria-labelledby="examples-heading">
                <h2 id="examples-heading">"Examples"</h2>
                {t.examples.iter().map(|e| view! { <pre class="payload"><code>{pretty(e)}</code></pre> }).collect_view()}
            </section>
        })}
        <Failures failures=page.failures/>
        {(!page.changes.is_empty()).then(|| view! { <Versions changes=page.changes.clone() detail=page.detail.clone()/> })}
        {current.clone().map(|t| view! {
            <Allowed permission=Permission::ManageEndpoints>
                <TypeSettings current=t.clone() update/>
            </Allowed>
        })}
        {registered.then(|| {
            let t = current.clone();
            view! {
                <Allowed permission=Permission::ManageEndpoints>
                    <NewVersion name=name.clone() current=t.clone() add/>
                </Allowed>
            }
        })}
    }
}

/// Refused at ingest (on this node) and accepted with problems (stored).
#[component]
fn Failures(failures: ValidationFailures) -> impl IntoView {
    let none = failures.refused.is_empty() && failures.flagged.is_empty();
    view! {
        <section aria-labelledby="failures-heading">
            <h2 id="failures-heading">"Recent validation failures"</h2>
            {none.then(|| view! { <p class="muted">"None: every recent event of this type passed its schema."</p> })}
            {(!failures.refused.is_empty()).then(|| view! {
                <h3>"Refused at ingest"</h3>
                <p class="muted">"Refused events are not stored: these are the most recent this node refused since it started."</p>
                <ul class="failures" data-testid="refused">
                    {failures.refused.iter().map(|r| view! {
                        <li>
                            <span class="muted">{when(r.at)}</span>
                            {format!(" · version {}", r.version)}
                            {r.source.clone().map(|s| format!(" · from {s}"))}
                            <br/><span class="error">{problems_text(&r.problems)}</span>
                        </li>
                    }).collect_view()}
                </ul>
            })}
            {(!failures.flagged.is_empty()).then(|| view! {
                <h3>"Accepted with problems"</h3>
                <ul class="failures" data-testid="flagged">
                    {failures.flagged.iter().map(|f| {
                        let id = f.event_id.to_string();
                        view! {
                            <li>
                                <A href=format!("/events/{id}")><code>{id.clone()}</code></A>
                                <span class="muted">{format!(" {}", when(f.received_at))}</span>
                                {f.version.map(|v| format!(" · version {v}"))}
                                <br/><span class="error">{problems_text(&f.problems)}</span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}

/// Every version, newest first, each with its diff from the one before.
#[component]
fn Versions(changes: Vec<VersionChange>, detail: Option<EventTypeDetail>) -> impl IntoView {
    let versions = detail.map(|d| d.versions).unwrap_or_default();
    view! {
        <section aria-labelledby="versions-heading">
            <h2 id="versions-heading">"Versions"</h2>
            {changes.into_iter().enumerate().map(|(i, c)| {
                let v = versions.iter().find(|v| v.version == c.version);
                let summary = match v {
                    Some(v) => format!(
                        "Version {} · {} by {}{}",
                        c.version,
                        when(v.created_at),
                        v.created_by,
                        if v.breaking { " · breaking" } else { "" }
                    ),
                    None => format!("Version {}", c.version),
                };
                let what = if c.version == 1 {
                    "The first version.".to_string()
                } else if c.incompatibilities.is_empty() {
                    format!("Compatible with version {}.", c.version - 1)
                } else {
                    format!(
                        "Could refuse events version {} accepted: {}.",
                        c.version - 1,
                        herald_engine::model::schema_compat::describe_all(&c.incompatibilities)
                    )
                };
                view! {
                    <details class="version" open=i == 0>
                        <summary>{summary}</summary>
                        <p>{what}</p>
                        <pre class="diff" aria-label=format!("Changes in version {}", c.version)><code>
                            {c.diff.into_iter().map(|l| {
                                let class = match l.sign { '+' => "add", '-' => "del", '…' => "gap", _ => "same" };
                                view! { <span class=class>{format!("{} {}\n", l.sign, l.text)}</span> }
                            }).collect_view()}
                        </code></pre>
                    </details>
                }
            }).collect_view()}
        </section>
    }
}

/// What a dry run or a registration found.
fn check_text(out: &SchemaCheckOut) -> String {
    match &out.registered {
        Some(v) => format!("Registered version {}.", v.version),
        None => format!(
            "Dry run: of the {} most recent events, {} would be refused.{}",
            out.events_checked,
            out.events_failing,
            if out.incompatibilities.is_empty() {
                String::new()
            } else {
                format!(
                    " {} change(s) could refuse events the current version accepts.",
                    out.incompatibilities.len()
                )
            }
        ),
    }
}

#[component]
fn NewVersion(
    name: String,
    current: Option<herald_engine::model::EventTypeOut>,
    add: ServerAction<AddSchemaVersion>,
) -> impl IntoView {
    let schema = RwSignal::new(
        current
            .as_ref()
            .and_then(|t| t.schema.as_ref())
            .map(pretty)
            .unwrap_or_default(),
    );
    let examples = RwSignal::new(
        current
            .as_ref()
            .filter(|t| !t.examples.is_empty())
            .map(|t| pretty(&serde_json::Value::Array(t.examples.clone())))
            .unwrap_or_default(),
    );
    let breaking = RwSignal::new(false);
    let error = Signal::derive(move || add.value().get().and_then(Result::err));
    let compared = Signal::derive({
        let name = name.clone();
        move || name.clone()
    });
    let submit = move |dry_run: bool| {
        add.dispatch(AddSchemaVersion {
            name: name.clone(),
            schema: schema.get_untracked(),
            examples: examples.get_untracked(),
            breaking: breaking.get_untracked(),
            dry_run,
        });
    };
    let dry = submit.clone();
    view! {
        <section aria-labelledby="new-version-heading">
            <h2 id="new-version-heading">"New schema version"</h2>
            <form class="stack form" aria-label="New schema version" novalidate=true
                on:submit=move |ev| { ev.prevent_default(); submit(false); }>
                <SchemaEditor schema examples name=compared error/>
                <label class="inline">
                    <input type="checkbox" name="breaking" prop:checked=move || breaking.get()
                        on:change=move |ev| breaking.set(event_target_checked(&ev))/>
                    "Breaking: register it even though it could refuse events the current version accepts"
                </label>
                {move || form_level_error(error.get(), &["schema", "examples"]).map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <div class="row">
                    <button type="button" class="secondary" disabled=move || add.pending().get()
                        on:click=move |_| dry(true)>"Dry run on recent events"</button>
                    <button type="submit" disabled=move || add.pending().get()>"Register version"</button>
                </div>
                <div id="version-result" role="status">
                    {move || add.value().get().and_then(Result::ok).map(|out| {
                        let failures = out.failures.clone();
                        view! {
                            <p class={if out.events_failing > 0 { "notice warn" } else { "notice success" }}>{check_text(&out)}</p>
                            <ul class="failures">
                                {failures.into_iter().map(|f| {
                                    let id = f.event_id.to_string();
                                    view! { <li><A href=format!("/events/{id}")><code>{id.clone()}</code></A>": "{problems_text(&f.problems)}</li> }
                                }).collect_view()}
                            </ul>
                        }
                    })}
                </div>
            </form>
        </section>
    }
}

/// A registered type's description and flags, and archiving it.
#[component]
fn TypeSettings(
    current: herald_engine::model::EventTypeOut,
    update: ServerAction<UpdateEventType>,
) -> impl IntoView {
    let description = RwSignal::new(current.description.clone());
    let deprecated = RwSignal::new(current.deprecated);
    let archived = current.archived;
    let name = current.name.clone();
    let confirm = RwSignal::new(false);
    let error = Signal::derive(move || update.value().get().and_then(Result::err));
    let save = {
        let name = name.clone();
        move |archive: bool| {
            update.dispatch(UpdateEventType {
                name: name.clone(),
                description: description.get_untracked(),
                deprecated: deprecated.get_untracked(),
                archived: archive,
            });
        }
    };
    let archive = {
        let save = save.clone();
        Callback::new(move |()| save(true))
    };
    let restore = save.clone();
    view! {
        <section aria-labelledby="settings-heading">
            <h2 id="settings-heading">"About this type"</h2>
            <form class="stack form" aria-label="About this type" novalidate=true
                on:submit=move |ev| { ev.prevent_default(); save(archived); }>
                <label>"Description"
                    <input type="text" name="description" prop:value=move || description.get()
                        on:input=move |ev| description.set(event_target_value(&ev))/>
                    <FieldMessage error name="description" id="type-description-error"/>
                </label>
                <label class="inline">
                    <input type="checkbox" name="deprecated" prop:checked=move || deprecated.get()
                        on:change=move |ev| deprecated.set(event_target_checked(&ev))/>
                    "Deprecated: still accepted; publishers and endpoint owners are told to move off it"
                </label>
                {move || form_level_error(error.get(), &["description"]).map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <div class="row">
                    <button type="submit" disabled=move || update.pending().get()>"Save"</button>
                    {if archived {
                        view! {
                            <button type="button" class="secondary" disabled=move || update.pending().get()
                                on:click=move |_| restore(false)>"Restore to the catalog"</button>
                        }.into_any()
                    } else {
                        view! {
                            <button type="button" class="danger" on:click=move |_| confirm.set(true)>"Archive"</button>
                            <ConfirmDialog
                                id="archive-type".to_string()
                                open=confirm
                                title=format!("Archive {name}?")
                                message="It leaves the catalog and the AsyncAPI document, and is refused at ingest when the tenant accepts registered types only. Its versions are kept; it can be restored.".to_string()
                                confirm="Archive".to_string()
                                danger=true
                                on_confirm=archive
                            />
                        }.into_any()
                    }}
                </div>
            </form>
        </section>
    }
}
