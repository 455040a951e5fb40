//! One event: its payload, and each delivery with the timeline of its attempts.

use std::collections::BTreeSet;

use herald_engine::model::{
    AttemptOut, DeliveryOut, EndpointOut, ErrorClass, Permission, ReplayedDelivery,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_location, use_params_map};

use crate::components::dialog::ConfirmDialog;
use crate::components::focus::focus_on;
use crate::components::list::{Allowed, Loaded};
use crate::components::ui::{ErrorNotice, StateBadge, error_class_label, when, with_query};
use crate::pages::events::fns::{EventPage as EventPageData, ResendEvent, get_event};

fn endpoints_text(n: usize) -> String {
    crate::components::ui::count(n, "endpoint", "endpoints")
}

/// What a resend did, in words.
fn resent_text(out: &[ReplayedDelivery]) -> String {
    let queued = out.iter().filter(|d| d.status == "queued").count();
    let mut text = format!("Sent again to {}.", endpoints_text(queued));
    let skipped = out.len() - queued;
    if skipped > 0 {
        text.push_str(&format!(
            " {skipped} skipped: an attempt is already under way."
        ));
    }
    text
}

#[component]
pub fn EventPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let resend = ServerAction::<ResendEvent>::new();
    // A resend reloads the event: its deliveries show the new attempts.
    let event = Resource::new(
        move || (id(), resend.version().get()),
        |(id, _)| get_event(id),
    );
    Effect::new(move |_| {
        if resend.value().get().is_some() {
            focus_on("#resend-result");
        }
    });
    // The list this event was opened from, filters and all.
    let search = use_location().search;

    view! {
        <Title text="Event"/>
        <p><A href=move || with_query("/events", &search.get())>"← Events"</A></p>
        // Outside the reloaded part, so focus stays on it.
        <div id="resend-result" role="status">
            {move || resend.value().get().map(|r| match r {
                Ok(out) => view! { <p class="notice success">{resent_text(&out)}</p> }.into_any(),
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
        </div>
        <Loaded resource=event title="Event" show={move |page: EventPageData| {
                        let e = page.detail.event;
                        let payload = serde_json::to_string_pretty(&e.payload).unwrap_or_default();
                        let metadata = e.metadata.as_ref().map(|m| serde_json::to_string_pretty(m).unwrap_or_default());
                        let endpoints = page.endpoints;
                        let deliveries = page.detail.deliveries;
                        let targets: Vec<(String, String)> = endpoints.iter().map(|ep| (ep.id.to_string(), crate::components::ui::endpoint_words(&ep.name, &ep.url))).collect();
                        let event_id = e.id.to_string();
                        let can_resend = e.expunged_at.is_none() && !targets.is_empty();
                        view! {
                            <div class="page-head">
                                <h1><code>{e.event_type.clone()}</code></h1>
                                {can_resend.then(move || view! {
                                    <Allowed permission=Permission::ManageReplays>
                                        <Resend action=resend event_id=event_id.clone() endpoints=targets.clone()/>
                                    </Allowed>
                                })}
                            </div>
                            <dl class="facts">
                                <dt>"Id"</dt><dd><code>{e.id.to_string()}</code></dd>
                                <dt>"Sequence"</dt><dd>{e.seq}</dd>
                                <dt>"Received"</dt><dd>{when(e.received_at)}</dd>
                                <dt>"Correlation id"</dt><dd>{e.correlation_id.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Entity id"</dt><dd>{e.entity_id.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Source"</dt><dd>{e.source.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Idempotency key"</dt><dd>{e.idempotency_key.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Schema"</dt><dd>{match e.schema_version {
                                    Some(v) if e.schema_problems.is_empty() => format!("Passed version {v}"),
                                    Some(v) => format!("Failed version {v}: accepted with a warning"),
                                    None => "Not checked".to_string(),
                                }}</dd>
                            </dl>
                            {(!e.schema_problems.is_empty()).then(|| view! {
                                <div class="notice failure" role="note" aria-labelledby="schema-problems">
                                    <h2 id="schema-problems">"What its schema found"</h2>
                                    <p>"The tenant's schema mode is warn: the event was accepted and delivered as sent, though its type's schema refuses it."</p>
                                    <ul class="schema-problems">
                                        {e.schema_problems.iter().map(|p| view! {
                                            <li><code>{if p.pointer.is_empty() { "(the payload)".to_string() } else { p.pointer.clone() }}</code>
                                                " " <strong>{p.keyword.clone()}</strong> ": " {p.message.clone()}</li>
                                        }).collect_view()}
                                    </ul>
                                </div>
                            })}
                            <h2>"Payload"</h2>
                            {match e.expunged_at {
                                Some(at) => view! {
                                    <p class="notice" role="status">
                                        "Expunged " {when(at)} ": its payload, metadata and the receivers' answers were erased on request. That it existed, and how its deliveries went, is kept."
                                    </p>
                                }.into_any(),
                                None => view! { <pre class="json" tabindex="0" aria-label="Payload">{payload}</pre> }.into_any(),
                            }}
                            {metadata.map(|m| view! { <h2>"Metadata"</h2><pre class="json" tabindex="0">{m}</pre> })}
                            <h2>"Deliveries"</h2>
                            {if deliveries.is_empty() {
                                view! { <p class="muted">"No endpoint was subscribed to this event when it arrived."</p> }.into_any()
                            } else {
                                deliveries.into_iter().map(|d| {
                                    let endpoint = endpoints.iter().find(|ep| ep.id == d.endpoint_id).cloned();
                                    view! { <Delivery delivery=d endpoint/> }
                                }).collect_view().into_any()
                            }}
                        }
            }}/>
    }
}

#[component]
fn Delivery(delivery: DeliveryOut, endpoint: Option<EndpointOut>) -> impl IntoView {
    let target = endpoint
        .as_ref()
        .map(|e| crate::components::ui::endpoint_words(&e.name, &e.url))
        .unwrap_or_else(|| format!("{} (deleted)", delivery.endpoint_id));
    let href = format!("/endpoints/{}", delivery.endpoint_id);
    let next = delivery.next_attempt_at.map(when);
    let awaiting = delivery.state == herald_engine::model::DeliveryState::AwaitingAck;
    let acked = delivery.acked_at.map(when);
    let label = format!("Delivery to {target}");
    view! {
        <article class="delivery" aria-label=label>
            <header>
                <StateBadge state=delivery.state/>
                " to " <A href=href attr:class="mono">{target}</A>
                <span class="muted">" · webhook-id "<code>{delivery.id.to_string()}</code></span>
            </header>
            {next.map(|t| {
                let what = if awaiting { "Awaiting the receiver's acknowledgement until " } else { "Next attempt at " };
                view! { <p class="muted">{what}{t}</p> }
            })}
            {acked.map(|t| view! { <p class="muted">"Acknowledged by the receiver at "{t}</p> })}
            {(!delivery.actions.is_empty()).then(|| view! {
                <ul class="actions" aria-label="Actions">
                    {delivery.actions.into_iter().map(|a| view! {
                        <li>
                            <strong>{a.action}</strong>" by "{a.actor}" · "{when(a.created_at)}
                            {(!a.reason.is_empty()).then(|| format!(" — {}", a.reason))}
                        </li>
                    }).collect_view()}
                </ul>
            })}
            {if delivery.attempt_log.is_empty() {
                view! { <p class="muted">"No attempt yet."</p> }.into_any()
            } else {
                view! {
                    <ol class="timeline" aria-label="Attempts">
                        {delivery.attempt_log.into_iter().map(|a| view! { <Attempt attempt=a/> }).collect_view()}
                    </ol>
                }.into_any()
            }}
        </article>
    }
}

#[component]
pub(crate) fn Attempt(
    attempt: AttemptOut,
    /// Its response body shown open (the last attempt of a dead delivery).
    #[prop(optional)]
    open: bool,
) -> impl IntoView {
    let ok = attempt.error_class.is_none()
        && attempt
            .response_status
            .is_some_and(|s| (200..300).contains(&s));
    let status = attempt
        .response_status
        .map(|s| format!("HTTP {s}"))
        .unwrap_or_else(|| "no response".into());
    let class = attempt.error_class.filter(|c| *c != ErrorClass::HttpStatus);
    let headers: Vec<(String, String)> = attempt.request_headers.into_iter().collect();
    let response_headers: Vec<(String, String)> = attempt.response_headers.into_iter().collect();
    view! {
        <li class=if ok { "attempt ok" } else { "attempt failed" }>
            <p>
                <strong>{format!("Attempt {}", attempt.attempt)}</strong>
                " · "{when(attempt.started_at)}" · "{attempt.trigger.as_str()}
            </p>
            <p>
                <span class=if ok { "badge ok" } else { "badge bad" }>{status}</span>
                " in "{attempt.latency_ms}" ms"
                {class.map(|c| view! { " · " {error_class_label(c)} })}
            </p>
            {attempt.error_message.map(|m| view! { <p class="error">{m}</p> })}
            <details open=open>
                <summary>"Response body"</summary>
                <pre class="json" tabindex="0">{if attempt.response_excerpt.is_empty() { "(empty)".to_string() } else { attempt.response_excerpt }}</pre>
            </details>
            <details>
                <summary>"Headers"</summary>
                <h3>"Sent"</h3>
                <dl class="facts small">
                    {headers.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd><code>{v}</code></dd> }).collect_view()}
                </dl>
                <h3>"Received"</h3>
                <dl class="facts small">
                    {response_headers.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd><code>{v}</code></dd> }).collect_view()}
                </dl>
            </details>
        </li>
    }
}

/// "Resend…": the event sent again now to the endpoints chosen (all it was
/// delivered to, by default), after a confirmation with a reason.
#[component]
fn Resend(
    action: ServerAction<ResendEvent>,
    event_id: String,
    /// The endpoints it was delivered to: id and URL.
    endpoints: Vec<(String, String)>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    let chosen: RwSignal<BTreeSet<String>> =
        RwSignal::new(endpoints.iter().map(|(id, _)| id.clone()).collect());
    let total = endpoints.len();
    let count = move || chosen.with(BTreeSet::len);
    view! {
        <button type="button" on:click=move |_| open.set(true) disabled=move || action.pending().get()>
            "Resend…"
        </button>
        <ConfirmDialog
            id="resend-confirm"
            open
            title="Resend this event?".to_string()
            message=Signal::derive(move || match count() {
                0 => "It is sent again now, with a new attempt chain, to every endpoint it matches now.".to_string(),
                n => format!("It is sent again now, with a new attempt chain, to {n} of the {total} endpoints it was delivered to; receivers see the same webhook-id."),
            })
            confirm=Signal::derive(move || match count() {
                0 => "Resend to every matching endpoint".to_string(),
                n => format!("Resend to {}", endpoints_text(n)),
            })
            reason
            on_confirm=Callback::new(move |()| {
                action.dispatch(ResendEvent {
                    id: event_id.clone(),
                    endpoint_ids: chosen.get_untracked().into_iter().collect(),
                    reason: reason.get_untracked(),
                });
            })
        >
            <fieldset>
                <legend>"Endpoints"</legend>
                {endpoints.into_iter().map(|(id, url)| {
                    let (checked, change) = (id.clone(), id);
                    view! {
                        <label class="inline">
                            <input type="checkbox"
                                prop:checked=move || chosen.with(|c| c.contains(&checked))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    chosen.update(|c| { if on { c.insert(change.clone()); } else { c.remove(&change); } });
                                }/>
                            <span class="mono">{url}</span>
                        </label>
                    }
                }).collect_view()}
            </fieldset>
        </ConfirmDialog>
    }
}
