//! Replays: a form with the filter and a dry-run preview, the jobs with live
//! progress (over the websocket, no reloading), pause/resume/cancel, and the
//! history.

use std::collections::HashMap;

use herald_engine::model::{
    CheckpointOut, LiveMessage, Permission, ReplayOut, ReplayPreview, ReplayState,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::dialog::ConfirmDialog;
use crate::components::focus::focus_on;
use crate::components::list::{Allowed, Listing};
use crate::components::live::use_live_feed;
use crate::components::ui::{Columns, ErrorNotice, FieldMessage, form_level_error, when};
use crate::error::ConsoleError;
use crate::pages::events::fns::{endpoint_choices, event_type_choices};
use crate::pages::replays::fns::{
    ControlReplay, CreateCheckpoint, ReplayForm, list_checkpoints, list_replays, preview_replay,
    start_replay,
};

const FIELDS: [&str; 12] = [
    "from",
    "to",
    "event_types",
    "endpoint_id",
    "correlation_id",
    "entity_id",
    "source",
    "rate_per_second",
    "max_events",
    "reason",
    "transform",
    "after_checkpoint",
];

/// "1 h 5 min", "42 s": how long until a job has dispatched everything.
fn eta_text(secs: f64) -> String {
    let secs = secs.ceil() as u64;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3_599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3_600, (secs % 3_600) / 60),
    }
}

/// What a replay would send: how many events, and the first of them.
#[component]
fn PreviewNotice(preview: herald_engine::model::ReplayPreview) -> impl IntoView {
    let p = preview;
    view! {
        <div class="notice" role="status" aria-label="Preview">
            <p><strong>{format!("{} events", p.total)}</strong>" would be replayed. The first of them:"</p>
            <table>
                <thead><tr><th>"Seq"</th><th>"Type"</th><th>"Received"</th><th>"Event"</th></tr></thead>
                <tbody>
                    {p.sample.into_iter().map(|e| {
                        let href = format!("/events/{}", e.id);
                        view! {
                            <tr>
                                <td data-label="Seq">{e.seq}</td>
                                <td data-label="Type"><code>{e.event_type}</code></td>
                                <td data-label="Received">{when(e.received_at)}</td>
                                <td data-label="Event"><A href=href><code>{e.id.to_string()}</code></A></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The replay form's text or number field: its label, its input and its error.
#[component]
fn Field(
    form: RwSignal<ReplayForm>,
    error: Signal<Option<ConsoleError>>,
    name: &'static str,
    label: &'static str,
    #[prop(optional)] kind: Option<&'static str>,
    #[prop(optional)] help: Option<&'static str>,
    get: fn(&ReplayForm) -> String,
    set: fn(&mut ReplayForm, String),
) -> impl IntoView {
    let help_id = format!("{name}-help");
    view! {
        <label for=name>{label}
            {help.map(|h| view! { <span class="help" id=help_id.clone()>{h}</span> })}
        </label>
        <input
            id=name
            name=name
            type=kind.unwrap_or("text")
            aria-describedby=help.map(|_| help_id.clone())
            aria-invalid=move || error.get().and_then(|e| e.for_field(name)).is_some().to_string()
            prop:value=move || form.with(get)
            on:input=move |ev| form.update(|f| set(f, event_target_value(&ev)))
        />
        <FieldMessage error name id=format!("{name}-error")/>
    }
}

/// The event types the tenant has published, as toggles that add or remove a
/// type in the form's comma-separated list (which also takes patterns).
#[component]
fn TypeChoices(form: RwSignal<ReplayForm>) -> impl IntoView {
    let types = Resource::new(|| (), |_| event_type_choices());
    let has = move |t: &str| form.with(|f| split_list(&f.event_types).iter().any(|p| p == t));
    let toggle = move |t: String, on: bool| {
        form.update(|f| {
            let mut list = split_list(&f.event_types);
            list.retain(|p| p != &t);
            if on {
                list.push(t);
            }
            f.event_types = list.join(", ");
        });
    };
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let types = types.await.unwrap_or_default();
                (!types.is_empty()).then(|| view! {
                    <fieldset class="choices">
                        <legend>"Published types"</legend>
                        {types.into_iter().take(30).map(|t| {
                            let (checked, changed) = (t.clone(), t.clone());
                            view! {
                                <label class="inline">
                                    <input type="checkbox"
                                        prop:checked=move || has(&checked)
                                        on:change=move |ev| toggle(changed.clone(), event_target_checked(&ev))/>
                                    <code>{t}</code>
                                </label>
                            }
                        }).collect_view()}
                    </fieldset>
                })
            })}
        </Suspense>
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// A choice among the tenant's endpoints or checkpoints, bound to one field
/// of the form: `(id, label)` pairs, and "any" first.
#[component]
fn Choice(
    form: RwSignal<ReplayForm>,
    name: &'static str,
    label: &'static str,
    any: &'static str,
    choices: Resource<Vec<(String, String)>>,
    get: fn(&ReplayForm) -> String,
    set: fn(&mut ReplayForm, String),
) -> impl IntoView {
    view! {
        <label for=name>{label}</label>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let list = choices.await;
                view! {
                    <select id=name name=name on:change=move |ev| form.update(|f| set(f, event_target_value(&ev)))>
                        <option value="" selected=move || form.with(get).is_empty()>{any}</option>
                        {list.into_iter().map(|(id, text)| {
                            let chosen = id.clone();
                            view! { <option value=id selected=move || form.with(get) == chosen>{text}</option> }
                        }).collect_view()}
                    </select>
                }
            })}
        </Suspense>
    }
}

/// The replay form, its dry-run preview beside it, and the start button.
#[component]
fn NewReplay(
    form: RwSignal<ReplayForm>,
    preview: Action<ReplayForm, Result<ReplayPreview, ConsoleError>>,
    start: Action<ReplayForm, Result<ReplayOut, ConsoleError>>,
    error: Signal<Option<ConsoleError>>,
    endpoint_list: Resource<Vec<(String, String)>>,
    checkpoint_list: Resource<Vec<(String, String)>>,
) -> impl IntoView {
    view! {
        <div class="replay-layout">
        <section aria-labelledby="new-replay">
            <h2 id="new-replay">"New replay"</h2>
            <form class="stack" on:submit=move |ev| { ev.prevent_default(); preview.dispatch(form.get_untracked()); }>
                <fieldset class="grid-fields">
                    <legend>"Which events"</legend>
                    <Field form error name="from" label="From (UTC)" kind="datetime-local" get=|f| f.from.clone() set=|f, v| f.from = v/>
                    <Field form error name="to" label="To (UTC)" kind="datetime-local" get=|f| f.to.clone() set=|f, v| f.to = v/>
                    <Field form error name="event_types" label="Event types" help="comma-separated; patterns such as order.* too"
                        get=|f| f.event_types.clone() set=|f, v| f.event_types = v/>
                    <TypeChoices form/>
                    <Choice form name="endpoint_id" label="Endpoint" any="Every endpoint each event matches" choices=endpoint_list
                        get=|f| f.endpoint_id.clone() set=|f, v| f.endpoint_id = v/>
                    <Choice form name="after_checkpoint" label="After checkpoint" any="No checkpoint" choices=checkpoint_list
                        get=|f| f.after_checkpoint.clone() set=|f, v| f.after_checkpoint = v/>
                    <Field form error name="correlation_id" label="Correlation id" get=|f| f.correlation_id.clone() set=|f, v| f.correlation_id = v/>
                    <Field form error name="entity_id" label="Entity id" get=|f| f.entity_id.clone() set=|f, v| f.entity_id = v/>
                    <Field form error name="source" label="Source" help="the publishing service"
                        get=|f| f.source.clone() set=|f, v| f.source = v/>
                    <label class="inline">
                        <input
                            type="checkbox"
                            prop:checked=move || form.with(|f| f.only_failed.is_some())
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                form.update(|f| f.only_failed = on.then(|| "on".to_string()));
                            }
                        />
                        "Only events with a failed (dead) delivery"
                    </label>
                </fieldset>
                <fieldset class="grid-fields">
                    <legend>"How"</legend>
                    <Field form error name="rate_per_second" label="Rate (events/s)" kind="number" get=|f| f.rate_per_second.clone() set=|f, v| f.rate_per_second = v/>
                    <Field form error name="max_events" label="At most (events)" kind="number" get=|f| f.max_events.clone() set=|f, v| f.max_events = v/>
                    <Field form error name="reason" label="Reason" help="sent as the herald-replay header, and recorded"
                        get=|f| f.reason.clone() set=|f, v| f.reason = v/>
                    <Field form error name="transform" label="Transform (optional)"
                        help="a jq program the replayed payloads go through instead of their endpoints' transforms"
                        get=|f| f.transform.clone() set=|f, v| f.transform = v/>
                </fieldset>
                <div class="row">
                    <button type="submit" class="secondary" disabled=move || preview.pending().get()>"Preview"</button>
                    <button
                        type="button"
                        disabled=move || start.pending().get()
                        on:click=move |_| { start.dispatch(form.get_untracked()); }
                    >
                        "Start replay"
                    </button>
                </div>
            </form>
            {move || form_level_error(error.get(), &FIELDS).map(|m| view! { <p class="error" role="alert">{m}</p> })}
        </section>
        <aside class="replay-preview" aria-labelledby="preview-heading">
            <h2 id="preview-heading">"Preview"</h2>
            {move || match preview.value().get() {
                Some(Ok(p)) => view! { <PreviewNotice preview=p/> }.into_any(),
                _ => view! { <p class="muted">"A dry run: how many events the filter matches, and the first of them. Nothing is sent."</p> }.into_any(),
            }}
        </aside>
        </div>
    }
}

#[component]
pub fn ReplaysPage() -> impl IntoView {
    let form = RwSignal::new(ReplayForm {
        rate_per_second: "100".into(),
        ..Default::default()
    });
    let preview = Action::new(|f: &ReplayForm| preview_replay(f.clone()));
    let start = Action::new(|f: &ReplayForm| start_replay(f.clone()));
    let control = ServerAction::<ControlReplay>::new();
    let checkpoint = ServerAction::<CreateCheckpoint>::new();
    let jobs = Resource::new(
        move || (start.version().get(), control.version().get()),
        |_| list_replays(),
    );
    let checkpoints = Resource::new(move || checkpoint.version().get(), |_| list_checkpoints());
    let endpoint_list = Resource::new(
        || (),
        |_| async { endpoint_choices().await.unwrap_or_default() },
    );
    let checkpoint_list = Resource::new(
        move || checkpoint.version().get(),
        |_| async {
            list_checkpoints()
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    (
                        c.id.to_string(),
                        format!("{} (after event #{})", c.name, c.seq),
                    )
                })
                .collect::<Vec<_>>()
        },
    );

    // Progress from the websocket, newest per job; it wins over the list.
    let live: RwSignal<HashMap<String, ReplayOut>> = RwSignal::new(HashMap::new());
    let connected = RwSignal::new(false);
    let newest = move |replay: ReplayOut| {
        live.update(|m| {
            let key = replay.id.to_string();
            if m.get(&key)
                .is_none_or(|seen| seen.updated_at <= replay.updated_at)
            {
                m.insert(key, replay);
            }
        });
    };
    use_live_feed("replay.progress", connected, move |message| {
        if let LiveMessage::ReplayProgress { replay, .. } = message {
            newest(*replay);
        }
    });
    // A pause, resume or cancel shows at once, whatever the feed says later.
    Effect::new(move |_| {
        if let Some(Ok(job)) = control.value().get() {
            newest(job);
        }
    });
    // The job just started: drawn first and highlighted, and focus goes to it.
    let started = Signal::derive(move || {
        start
            .value()
            .get()
            .and_then(Result::ok)
            .map(|j| j.id.to_string())
    });
    Effect::new(move |_| {
        if let Some(Ok(job)) = start.value().get() {
            newest(job);
            focus_on("article.started");
        }
    });

    let error = Signal::derive(move || {
        start
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| preview.value().get().and_then(Result::err))
    });

    view! {
        <Title text="Replays"/>
        <h1>"Replays"</h1>
        <p class="muted">
            "Re-send stored events: after an incident, or into a newly registered endpoint. "
            "Receivers see the same " <code>"webhook-id"</code> " as the first time, and a "
            <code>"herald-replay"</code> " header with the reason."
        </p>

        <Allowed permission=Permission::ManageReplays>
            <NewReplay form preview start error endpoint_list checkpoint_list/>
        </Allowed>

        <section aria-labelledby="jobs">
            <h2 id="jobs">"Jobs"</h2>
            <p class="muted" role="status">
                {move || if connected.get() { "Live: progress updates as it happens." } else { "Connecting to the live feed…" }}
            </p>
            {move || control.value().get().and_then(Result::err).map(|e| view! { <ErrorNotice error=e/> })}
            <Listing resource=jobs
                empty={|| view! { <p>"No replays yet."</p> }}
                rows={move |list: Vec<ReplayOut>| {
                    list.into_iter().map(|job| view! { <Job job live control started/> }).collect_view()
                }}/>
        </section>

        <Checkpoints checkpoints create=checkpoint form/>
    }
}

/// Named positions in the event sequence: made before a risky change, a
/// replay "after checkpoint" later sends what came since.
#[component]
fn Checkpoints(
    checkpoints: Resource<Result<Vec<CheckpointOut>, ConsoleError>>,
    create: ServerAction<CreateCheckpoint>,
    form: RwSignal<ReplayForm>,
) -> impl IntoView {
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    view! {
        <section aria-labelledby="checkpoints-heading">
            <h2 id="checkpoints-heading">"Checkpoints"</h2>
            <p class="muted">"A checkpoint names the position of the newest event. Before a deploy or a migration, make one; to recover, replay what came after it."</p>
            <Allowed permission=Permission::ManageReplays>
                <ActionForm action=create attr:class="inline-form" attr:aria-label="New checkpoint">
                    <label for="checkpoint-name">"Name"</label>
                    <input id="checkpoint-name" type="text" name="name" placeholder="before the billing deploy"
                        aria-invalid=move || error.get().is_some().to_string()/>
                    <button type="submit" class="secondary" disabled=move || create.pending().get()>"Make a checkpoint"</button>
                </ActionForm>
                {move || error.get().map(|e| view! { <ErrorNotice error=e/> })}
            </Allowed>
            <Listing resource=checkpoints
                empty={|| view! { <p class="muted">"No checkpoints yet."</p> }}
                rows={move |list: Vec<CheckpointOut>| view! {
                    <table aria-label="Checkpoints">
                        <Columns names=&["Name", "After event", "By", "Made"] actions=true/>
                        <tbody>
                            {list.into_iter().map(|c| {
                                let id = c.id.to_string();
                                view! {
                                    <tr>
                                        <td data-label="Name">{c.name.clone()}</td>
                                        <td data-label="After event">{format!("#{}", c.seq)}</td>
                                        <td data-label="By">{c.created_by.clone()}</td>
                                        <td data-label="Made">{when(c.created_at)}</td>
                                        <td class="actions">
                                            <Allowed permission=Permission::ManageReplays>
                                                <button type="button" class="secondary"
                                                    aria-label=format!("Replay what came after {}", c.name)
                                                    on:click={
                                                        let id = id.clone();
                                                        move |_| {
                                                            form.update(|f| f.after_checkpoint = id.clone());
                                                            focus_on("#after_checkpoint");
                                                        }
                                                    }>
                                                    "Replay after it"
                                                </button>
                                            </Allowed>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }}/>
        </section>
    }
}

#[component]
fn Job(
    job: ReplayOut,
    live: RwSignal<HashMap<String, ReplayOut>>,
    control: ServerAction<ControlReplay>,
    /// The job started from this page, if any: it is highlighted.
    started: Signal<Option<String>>,
) -> impl IntoView {
    let id = job.id.to_string();
    let current = {
        let id = id.clone();
        move || {
            live.with(|m| m.get(&id).cloned())
                .filter(|l| l.updated_at >= job.updated_at)
                .unwrap_or_else(|| job.clone())
        }
    };
    let current = Memo::new(move |_| current());
    let confirm_cancel = RwSignal::new(false);
    let cancel_id = id.clone();
    let button = move |label: &'static str, action: &'static str, class: &'static str| {
        let id = id.clone();
        view! {
            <button
                type="button"
                class=class
                disabled=move || control.pending().get()
                on:click=move |_| { control.dispatch(ControlReplay { id: id.clone(), action: action.into() }); }
            >
                {label}
            </button>
        }
    };
    let label = format!("Replay {}", current.get_untracked().id);
    let is_started = {
        let id = current.get_untracked().id.to_string();
        move || started.get().as_deref() == Some(id.as_str())
    };
    view! {
        <article class="card job" class:started=is_started aria-label=label>
            <p>
                <code>{move || current.with(|j| j.id.to_string())}</code>" "
                <span class="badge" aria-label="State">{move || current.with(|j| j.state.as_str())}</span>" "
                {move || current.with(|j| (!j.reason.is_empty()).then(|| format!("— {}", j.reason)))}
            </p>
            <progress
                aria-label="Progress"
                max=move || current.with(|j| j.total.max(1).to_string())
                value=move || current.with(|j| j.dispatched.to_string())
            ></progress>
            <p aria-label="Counts">
                {move || current.with(|j| format!(
                    "{} of {} events dispatched · {} delivered · {} failed · {} in progress",
                    j.dispatched, j.total, j.succeeded, j.failed, j.in_progress
                ))}
            </p>
            <p class="muted">
                {move || current.with(|j| {
                    let mut parts = vec![format!("{} events/s", j.rate_per_second)];
                    if let Some(eta) = j.eta_secs() { parts.push(format!("ETA {}", eta_text(eta))); }
                    if j.ordered { parts.push("in order, one event at a time".into()); }
                    parts.push(format!("by {}", j.created_by));
                    parts.push(format!("created {}", when(j.created_at)));
                    if let Some(t) = j.finished_at { parts.push(format!("finished {}", when(t))); }
                    parts.join(" · ")
                })}
            </p>
            {move || current.with(|j| j.error.clone()).map(|e| view! { <p class="error">{e}</p> })}
            <ConfirmDialog
                id=format!("cancel-{cancel_id}")
                open=confirm_cancel
                title="Cancel this replay?".to_string()
                message=Signal::derive(move || current.with(|j| format!(
                    "{} of its {} events are not sent yet; they will not be. Deliveries already under way finish. A cancelled replay cannot be resumed.",
                    j.total.saturating_sub(j.dispatched), j.total
                )))
                confirm="Cancel the replay".to_string()
                danger=true
                on_confirm=Callback::new(move |()| {
                    control.dispatch(ControlReplay { id: cancel_id.clone(), action: "cancel".into() });
                })
            />
            <Allowed permission=Permission::ManageReplays>
            <div class="row">
                {let button = button.clone(); move || {
                    let state = current.with(|j| j.state);
                    let mut buttons = Vec::new();
                    if matches!(state, ReplayState::Pending | ReplayState::Running) {
                        buttons.push(button("Pause", "pause", "secondary").into_any());
                    }
                    if state == ReplayState::Paused {
                        buttons.push(button("Resume", "resume", "").into_any());
                    }
                    if !state.is_final() {
                        buttons.push(view! {
                            <button type="button" class="danger" disabled=move || control.pending().get()
                                on:click=move |_| confirm_cancel.set(true)>
                                "Cancel"
                            </button>
                        }.into_any());
                    }
                    buttons
                }}
            </div>
            </Allowed>
        </article>
    }
}
