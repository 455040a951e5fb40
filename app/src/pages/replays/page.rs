//! Replays: a form with the filter and a dry-run preview, the jobs with live
//! progress (over the websocket, no reloading), pause/resume/cancel, and the
//! history.

use std::collections::HashMap;

use herald_engine::model::{LiveMessage, Permission, ReplayOut, ReplayState};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::list::{Allowed, Listing};
use crate::components::live::use_live_feed;
use crate::components::ui::{ErrorNotice, FieldMessage, form_level_error, when};
use crate::pages::replays::fns::{
    ControlReplay, ReplayForm, list_replays, preview_replay, start_replay,
};

const FIELDS: [&str; 10] = [
    "from",
    "to",
    "event_types",
    "endpoint_id",
    "correlation_id",
    "entity_id",
    "rate_per_second",
    "max_events",
    "reason",
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
                                <td>{e.seq}</td>
                                <td><code>{e.event_type}</code></td>
                                <td>{when(e.received_at)}</td>
                                <td><A href=href><code>{e.id.to_string()}</code></A></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
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
    let jobs = Resource::new(
        move || (start.version().get(), control.version().get()),
        |_| list_replays(),
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

    let error = Signal::derive(move || {
        start
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| preview.value().get().and_then(Result::err))
    });
    // A text field of the form: its label, its input and its error.
    let field = move |name: &'static str,
                      label: &'static str,
                      get: fn(&ReplayForm) -> String,
                      set: fn(&mut ReplayForm, String)| {
        view! {
            <label for=name>{label}</label>
            <input
                id=name
                name=name
                type="text"
                aria-invalid=move || error.get().and_then(|e| e.for_field(name)).is_some().to_string()
                prop:value=move || form.with(get)
                on:input=move |ev| form.update(|f| set(f, event_target_value(&ev)))
            />
            <FieldMessage error name id=format!("{name}-error")/>
        }
    };

    view! {
        <Title text="Replays"/>
        <h1>"Replays"</h1>
        <p class="muted">
            "Re-send stored events: after an incident, or into a newly registered endpoint. "
            "Receivers see the same " <code>"webhook-id"</code> " as the first time, and a "
            <code>"herald-replay"</code> " header with the reason."
        </p>

        <Allowed permission=Permission::ManageReplays>
        <section aria-labelledby="new-replay">
            <h2 id="new-replay">"New replay"</h2>
            <form class="grid" on:submit=move |ev| ev.prevent_default()>
                {field("from", "From (UTC)", |f| f.from.clone(), |f, v| f.from = v)}
                {field("to", "To (UTC)", |f| f.to.clone(), |f, v| f.to = v)}
                {field("event_types", "Event types", |f| f.event_types.clone(), |f, v| f.event_types = v)}
                {field("endpoint_id", "Endpoint id", |f| f.endpoint_id.clone(), |f, v| f.endpoint_id = v)}
                {field("correlation_id", "Correlation id", |f| f.correlation_id.clone(), |f, v| f.correlation_id = v)}
                {field("entity_id", "Entity id", |f| f.entity_id.clone(), |f, v| f.entity_id = v)}
                {field("rate_per_second", "Rate (events/s)", |f| f.rate_per_second.clone(), |f, v| f.rate_per_second = v)}
                {field("max_events", "At most (events)", |f| f.max_events.clone(), |f, v| f.max_events = v)}
                {field("reason", "Reason", |f| f.reason.clone(), |f, v| f.reason = v)}
                <label>
                    <input
                        type="checkbox"
                        prop:checked=move || form.with(|f| f.only_failed.is_some())
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            form.update(|f| f.only_failed = on.then(|| "on".to_string()));
                        }
                    />
                    " Only events with a failed (dead) delivery"
                </label>
                <div class="row">
                    <button
                        type="button"
                        class="secondary"
                        disabled=move || preview.pending().get()
                        on:click=move |_| { preview.dispatch(form.get_untracked()); }
                    >
                        "Preview"
                    </button>
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
            {move || preview.value().get().and_then(Result::ok).map(|p| view! { <PreviewNotice preview=p/> })}
        </section>
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
                    list.into_iter().map(|job| view! { <Job job live control/> }).collect_view()
                }}/>
        </section>
    }
}

#[component]
fn Job(
    job: ReplayOut,
    live: RwSignal<HashMap<String, ReplayOut>>,
    control: ServerAction<ControlReplay>,
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
    view! {
        <article class="card" aria-label=label>
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
                        buttons.push(button("Cancel", "cancel", "danger").into_any());
                    }
                    buttons
                }}
            </div>
            </Allowed>
        </article>
    }
}
