//! One event: its payload, and each delivery with the timeline of its attempts.

use herald_engine::model::{AttemptOut, DeliveryOut, EndpointOut};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::components::list::Loaded;
use crate::components::ui::{StateBadge, when};
use crate::pages::events::fns::{EventPage as EventPageData, get_event};

#[component]
pub fn EventPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let event = Resource::new(id, get_event);

    view! {
        <Title text="Event"/>
        <p><A href="/events">"← Events"</A></p>
        <Loaded resource=event title="Event" show={move |page: EventPageData| {
                        let e = page.detail.event;
                        let payload = serde_json::to_string_pretty(&e.payload).unwrap_or_default();
                        let metadata = e.metadata.as_ref().map(|m| serde_json::to_string_pretty(m).unwrap_or_default());
                        let endpoints = page.endpoints;
                        let deliveries = page.detail.deliveries;
                        view! {
                            <h1><code>{e.event_type.clone()}</code></h1>
                            <dl class="facts">
                                <dt>"Id"</dt><dd><code>{e.id.to_string()}</code></dd>
                                <dt>"Sequence"</dt><dd>{e.seq}</dd>
                                <dt>"Received"</dt><dd>{when(e.received_at)}</dd>
                                <dt>"Correlation id"</dt><dd>{e.correlation_id.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Entity id"</dt><dd>{e.entity_id.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Idempotency key"</dt><dd>{e.idempotency_key.clone().unwrap_or_else(|| "—".into())}</dd>
                            </dl>
                            <h2>"Payload"</h2>
                            {match e.expunged_at {
                                Some(at) => view! {
                                    <p class="notice" role="status">
                                        "Expunged " {when(at)} ": its payload, metadata and the receivers' answers were erased on request. That it existed, and how its deliveries went, is kept."
                                    </p>
                                }.into_any(),
                                None => view! { <pre class="json" aria-label="Payload">{payload}</pre> }.into_any(),
                            }}
                            {metadata.map(|m| view! { <h2>"Metadata"</h2><pre class="json">{m}</pre> })}
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
        .map(|e| e.url.clone())
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
pub(crate) fn Attempt(attempt: AttemptOut) -> impl IntoView {
    let ok = attempt.error_class.is_none()
        && attempt
            .response_status
            .is_some_and(|s| (200..300).contains(&s));
    let status = attempt
        .response_status
        .map(|s| format!("HTTP {s}"))
        .unwrap_or_else(|| "no response".into());
    let class = attempt.error_class.map(|c| c.as_str());
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
                {class.map(|c| view! { " · error class " <code>{c}</code> })}
            </p>
            {attempt.error_message.map(|m| view! { <p class="error">{m}</p> })}
            <details>
                <summary>"Response body"</summary>
                <pre class="json">{if attempt.response_excerpt.is_empty() { "(empty)".to_string() } else { attempt.response_excerpt }}</pre>
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
