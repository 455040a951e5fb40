//! One endpoint: its settings, health, test event, secret rotation,
//! enable/disable, and the edit form.

use herald_engine::model::{DeliveryState, EndpointOut, Permission, RetryPolicyOut, Semantics};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::components::charts::DeliveryStats;
use crate::components::endpoint_form::EndpointFormView;
use crate::components::list::{Allowed, Loaded};
use crate::components::ui::{ErrorNotice, when};
use crate::forms::format_duration_secs;
use crate::pages::endpoints::fns::{
    EndpointForm, EndpointRow, RotateEndpointSecret, SendTestEvent, SetEndpointEnabled,
    TestOutcome, UpdateEndpoint, get_endpoint,
};
use crate::pages::endpoints::list::Health;

/// What a paused endpoint holds, in words.
fn waiting_text(b: &herald_engine::model::EndpointBacklog) -> String {
    match b.pending + b.retrying + b.waiting {
        0 => "Nothing waits for it. Resuming sends what is published from now on.".to_string(),
        1 => "1 delivery waits for it; resuming sends it.".to_string(),
        n => format!(
            "{n} deliveries wait for it; resuming sends them, in order where the endpoint is ordered."
        ),
    }
}

/// How an endpoint orders its deliveries, in words.
fn ordering_label(e: &herald_engine::model::EndpointOut) -> String {
    use herald_engine::model::{OnDead, OrderingMode};
    let dead = match e.on_dead {
        OnDead::Block => "a dead delivery holds its stream",
        OnDead::Skip => "a dead delivery is skipped",
    };
    match e.ordering {
        OrderingMode::None => "none".to_string(),
        OrderingMode::Endpoint => format!("one at a time, in order; {dead}"),
        OrderingMode::Key => format!("in order per ordering key; {dead}"),
    }
}
use crate::pages::policies::fns::list_retry_policies;

#[component]
pub fn EndpointPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());

    let update = ServerAction::<UpdateEndpoint>::new();
    let switch = ServerAction::<SetEndpointEnabled>::new();
    let rotate = ServerAction::<RotateEndpointSecret>::new();
    let test = ServerAction::<SendTestEvent>::new();

    // Reload after every change that alters what the page shows.
    let endpoint = Resource::new(
        move || {
            (
                id(),
                update.version().get(),
                switch.version().get(),
                test.version().get(),
            )
        },
        |(id, ..)| async move {
            let row = get_endpoint(id).await?;
            // The edit form's choice of named policies.
            let policies = list_retry_policies().await.unwrap_or_default();
            Ok((row, policies))
        },
    );

    view! {
        <Title text="Endpoint"/>
        <p><A href="/endpoints">"← Endpoints"</A></p>
        <Loaded resource=endpoint title="Endpoint" show={move |(row, policies): (EndpointRow, Vec<RetryPolicyOut>)| view! {
            <EndpointView row policies update switch rotate test/>
        }}/>
    }
}

#[component]
fn EndpointView(
    row: EndpointRow,
    policies: Vec<RetryPolicyOut>,
    update: ServerAction<UpdateEndpoint>,
    switch: ServerAction<SetEndpointEnabled>,
    rotate: ServerAction<RotateEndpointSecret>,
    test: ServerAction<SendTestEvent>,
) -> impl IntoView {
    let e = row.endpoint.clone();
    let id = e.id.to_string();
    let policy_label = match &row.policy_name {
        Some(name) => name.clone(),
        None => "inline".to_string(),
    };
    let schedule = e
        .retry_policy
        .preview_offsets_secs()
        .into_iter()
        .map(format_duration_secs)
        .collect::<Vec<_>>()
        .join(", ")
        + &if e.retry_policy.give_up_on.is_empty() {
            String::new()
        } else {
            format!(
                "; gives up at once on {}",
                crate::forms::give_up_text(&e.retry_policy)
            )
        };
    let initial = EndpointForm {
        kind: e.kind.as_str().to_string(),
        url: e.url.clone(),
        description: e.description.clone(),
        event_types: e.event_types.join(", "),
        retry_policy_id: e.retry_policy_id.map(|p| p.to_string()).unwrap_or_default(),
        timeout_secs: format!("{}", f64::from(e.timeout_ms) / 1000.0),
        semantics: e.semantics.as_str().to_string(),
        headers: String::new(),
        max_in_flight: e.max_in_flight.map(|n| n.to_string()).unwrap_or_default(),
        ordering: e.ordering.as_str().to_string(),
        on_dead: e.on_dead.as_str().to_string(),
        rate_limit: e.rate_limit.map(|l| l.text()).unwrap_or_default(),
        ack_timeout_secs: e.ack_timeout_secs.to_string(),
    };
    let reason = RwSignal::new(String::new());
    let enabled = e.enabled;
    let (id_test, id_rotate, id_switch, id_update) =
        (id.clone(), id.clone(), id.clone(), id.clone());
    let update_error = Signal::derive(move || update.value().get().and_then(Result::err));
    let saved = move || matches!(update.value().get(), Some(Ok(_)));

    view! {
        <h1 class="mono">{if e.kind == herald_engine::model::EndpointKind::Inbox { format!("Inbox {id}") } else { e.url.clone() }}</h1>
        <p><Health row=row.clone()/></p>
        <dl class="facts">
            <dt>"Id"</dt><dd><code>{id.clone()}</code></dd>
            <dt>"Description"</dt><dd>{if e.description.is_empty() { "—".to_string() } else { e.description.clone() }}</dd>
            <dt>"Event types"</dt><dd><code>{e.event_types.join(", ")}</code></dd>
            <dt>"Retry policy"</dt><dd>{policy_label}": attempts at "{schedule}</dd>
            <dt>"Timeout"</dt><dd>{format!("{} s", f64::from(e.timeout_ms) / 1000.0)}</dd>
            <dt>"Delivery"</dt><dd>{semantics_text(&e)}</dd>
            <dt>"Order"</dt><dd>{ordering_label(&e)}</dd>
            <dt>"Rate limit"</dt><dd>{e.rate_limit.map_or_else(|| "none".to_string(), |l| l.text())}</dd>
            <dt>"Circuit breaker"</dt><dd data-breaker=e.breaker.state.as_str()>{breaker_text(&e)}</dd>
            <dt>"In flight at once"</dt><dd>{e.max_in_flight.map_or_else(|| "the server's default".to_string(), |n| n.to_string())}</dd>
            <dt>"Custom headers"</dt><dd>{if e.header_names.is_empty() { "none".to_string() } else { e.header_names.join(", ") }}</dd>
            <dt>"Created"</dt><dd>{when(e.created_at)}</dd>
        </dl>

        {row.inbox.clone().map(|inbox| view! { <InboxState inbox/> })}
        {(!row.blocked.is_empty()).then(|| view! { <BlockedStreams streams=row.blocked.clone()/> })}
        {(!row.breaker_history.is_empty()).then(|| view! { <BreakerHistory entries=row.breaker_history.clone()/> })}

        <section aria-labelledby="stats-heading">
            <h2 id="stats-heading">"Delivery statistics"</h2>
            <DeliveryStats endpoint=id.clone()/>
        </section>

        <Allowed permission=Permission::SendTestEvent>
        <section aria-labelledby="test-heading">
            <h2 id="test-heading">"Test event"</h2>
            <p class="muted">"Sends a " <code>"herald.test"</code> " event to this endpoint only and waits for the answer."</p>
            <button
                type="button"
                disabled=move || test.pending().get() || !enabled
                on:click={
                    let id = id_test.clone();
                    move |_| { test.dispatch(SendTestEvent { id: id.clone() }); }
                }
            >
                {move || if test.pending().get() { "Sending…" } else { "Send test event" }}
            </button>
            {move || test.value().get().map(|result| match result {
                Ok(outcome) => view! { <TestResult outcome/> }.into_any(),
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
        </section>
        </Allowed>

        <Allowed permission=Permission::ManageEndpoints>

        <section aria-labelledby="secret-heading">
            <h2 id="secret-heading">"Signing secret"</h2>
            <p class="muted">"Rotating makes a new secret; the old one keeps signing alongside it for 24 hours, so receivers can switch without failures."</p>
            <button
                type="button"
                class="secondary"
                disabled=move || rotate.pending().get()
                on:click={
                    let id = id_rotate.clone();
                    move |_| { rotate.dispatch(RotateEndpointSecret { id: id.clone() }); }
                }
            >
                "Rotate secret"
            </button>
            {move || rotate.value().get().map(|result| match result {
                Ok(shown) => view! {
                    <div class="notice success" role="status">
                        <p><strong>"New signing secret"</strong>" (shown only now):"</p>
                        <p><code class="secret" aria-label="New signing secret">{shown.secret}</code></p>
                        {shown.previous_valid_until.map(|t| view! {
                            <p class="muted">"The previous secret also signs until "{when(t)}"."</p>
                        })}
                    </div>
                }.into_any(),
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
        </section>

        <section aria-labelledby="state-heading">
            <h2 id="state-heading">{if enabled { "Pause deliveries" } else { "Paused" }}</h2>
            {if enabled {
                let id = id_switch.clone();
                view! {
                    <div class="row">
                        <label>
                            "Reason"
                            <input
                                type="text"
                                placeholder="receiver under maintenance"
                                prop:value=move || reason.get()
                                on:input=move |ev| reason.set(event_target_value(&ev))
                            />
                        </label>
                        <button
                            type="button"
                            class="danger"
                            disabled=move || switch.pending().get()
                            on:click=move |_| {
                                let why = reason.get_untracked();
                                switch.dispatch(SetEndpointEnabled {
                                    id: id.clone(),
                                    enabled: false,
                                    reason: (!why.trim().is_empty()).then_some(why),
                                });
                            }
                        >
                            "Pause endpoint"
                        </button>
                    </div>
                    <p class="muted">"Its deliveries, and those of events published meanwhile, wait until it is resumed: nothing is dropped."</p>
                }.into_any()
            } else {
                let id = id_switch.clone();
                view! {
                    <p>{waiting_text(&row.backlog)}</p>
                    <button
                        type="button"
                        disabled=move || switch.pending().get()
                        on:click=move |_| { switch.dispatch(SetEndpointEnabled { id: id.clone(), enabled: true, reason: None }); }
                    >
                        "Resume endpoint"
                    </button>
                }.into_any()
            }}
            {move || switch.value().get().and_then(Result::err).map(|e| view! { <ErrorNotice error=e/> })}
        </section>
        </Allowed>

        <Allowed permission=Permission::ManageEndpoints>
        <section aria-labelledby="edit-heading">
            <h2 id="edit-heading">"Settings"</h2>
            <Show when=saved>
                <p class="success-text" role="status">"Saved."</p>
            </Show>
            {move || update.value().get().and_then(Result::ok).map(|saved| {
                saved.warnings.into_iter().map(|w| view! {
                    <p class="warning" role="alert">{w}</p>
                }).collect_view()
            })}
            <EndpointFormView
                initial=initial.clone()
                policies=policies.clone()
                editing=true
                submit_label="Save changes"
                pending=update.pending()
                error=update_error
                on_submit={
                    let id = id_update.clone();
                    Callback::new(move |form: EndpointForm| { update.dispatch(UpdateEndpoint { id: id.clone(), form }); })
                }
            />
        </section>
        </Allowed>
    }
}

/// The ordered streams a dead delivery holds up, each with the DLQ entry
/// to reprocess or discard.
#[component]
fn BlockedStreams(streams: Vec<herald_engine::model::BlockedStream>) -> impl IntoView {
    let rows = streams
        .into_iter()
        .map(|s| {
            let name = if s.stream.is_empty() {
                "the endpoint's one stream".to_string()
            } else {
                s.stream.clone()
            };
            let href = format!("/dlq/{}", s.dlq_entry_id);
            view! {
                <tr>
                    <td><code>{name}</code></td>
                    <td><A href=href>{s.dlq_entry_id.to_string()}</A></td>
                    <td class="num">{s.waiting}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section aria-labelledby="blocked-heading">
            <h2 id="blocked-heading">"Blocked streams"</h2>
            <p>"A dead delivery holds each of these streams: reprocess or discard its DLQ entry to let the stream go on."</p>
            <table>
                <thead><tr><th scope="col">"Stream"</th><th scope="col">"Blocked by"</th><th scope="col">"Waiting"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

#[component]
fn TestResult(outcome: TestOutcome) -> impl IntoView {
    let href = format!("/events/{}", outcome.event_id);
    let latency = outcome
        .latency_ms
        .map(|ms| format!(" in {ms} ms"))
        .unwrap_or_default();
    let status = outcome
        .status
        .map(|s| format!("HTTP {s}"))
        .unwrap_or_default();
    let (class, text) = match outcome.state {
        DeliveryState::Succeeded => ("notice success", format!("Delivered: {status}{latency}.")),
        DeliveryState::AwaitingAck => (
            "notice success",
            format!("Answered: {status}{latency}; waiting for the receiver's acknowledgement."),
        ),
        DeliveryState::Pending if outcome.attempts == 0 => (
            "notice",
            "Queued: no answer yet. The event page will show the outcome.".to_string(),
        ),
        state => {
            let class = outcome
                .error_class
                .map(|c| c.as_str().to_string())
                .unwrap_or_default();
            let message = outcome.error_message.clone().unwrap_or_default();
            let next = if state == DeliveryState::Dead {
                "no retries left"
            } else {
                "it will be retried"
            };
            (
                "notice failure",
                format!(
                    "Failed ({class}{}): {message}{latency}; {next}.",
                    if status.is_empty() {
                        String::new()
                    } else {
                        format!(", {status}")
                    }
                ),
            )
        }
    };
    view! {
        <div class=class role="status">
            <p>{text}</p>
            <p><A href=href>"View the event and its receipts"</A></p>
        </div>
    }
}

/// The endpoint's semantics, with how long it waits for an acknowledgement
/// when it asks for one.
fn semantics_text(e: &EndpointOut) -> String {
    match e.semantics {
        Semantics::EffectivelyOnce => format!(
            "effectively once: the receiver acknowledges each delivery within {} s, or it is sent again",
            e.ack_timeout_secs
        ),
        other => other.as_str().replace('_', " "),
    }
}

/// The endpoint's breaker: where it stands, and what opens it.
fn breaker_text(e: &EndpointOut) -> String {
    use herald_engine::model::BreakerState;
    let s = &e.circuit_breaker;
    if !s.enabled {
        return "off".to_string();
    }
    let rule = format!(
        "opens when {} % of at least {} attempts fail within {}",
        s.failure_percent,
        s.min_attempts,
        crate::forms::format_duration_secs(u64::from(s.window_secs))
    );
    let b = &e.breaker;
    match b.state {
        BreakerState::Closed => format!("closed; {rule}"),
        BreakerState::Open => format!(
            "open since {} (trip {} in a row): deliveries wait until the probe at {}",
            b.opened_at.map(when).unwrap_or_default(),
            b.trips,
            b.probe_at.map(when).unwrap_or_default()
        ),
        BreakerState::HalfOpen => format!(
            "half-open (trip {} in a row): the next delivery is a probe; its success closes it",
            b.trips
        ),
    }
}

/// The breaker's latest transitions, newest first.
#[component]
fn BreakerHistory(entries: Vec<herald_engine::model::AuditOut>) -> impl IntoView {
    view! {
        <section aria-labelledby="breaker-history-heading">
            <h2 id="breaker-history-heading">"Circuit breaker history"</h2>
            <ul data-breaker-history="">
                {entries.into_iter().map(|a| {
                    let change = if a.action == "endpoint.circuit_closed" { "Closed" } else { "Opened" };
                    view! {
                        <li data-transition=a.action.clone()>
                            {when(a.at)}" · "<strong>{change}</strong>": "{a.summary}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

/// An inbox's depth, oldest message and consumers.
#[component]
fn InboxState(inbox: herald_engine::model::InboxOut) -> impl IntoView {
    let oldest = inbox.oldest_at.map_or_else(
        || "nothing waits".to_string(),
        |at| format!("made {}", when(at)),
    );
    let consumers = inbox.consumers.clone();
    view! {
        <section aria-labelledby="inbox-heading">
            <h2 id="inbox-heading">"Inbox"</h2>
            <dl class="facts" data-inbox="">
                <dt>"Ready"</dt><dd data-inbox-ready="">{inbox.ready}</dd>
                <dt>"Delayed"</dt><dd data-inbox-delayed="">{inbox.delayed}</dd>
                <dt>"Leased"</dt><dd data-inbox-leased="">{inbox.leased}</dd>
                <dt>"Oldest message"</dt><dd>{oldest}</dd>
            </dl>
            {if consumers.is_empty() {
                view! { <p class="muted">"No consumer has pulled yet."</p> }.into_any()
            } else {
                view! {
                    <table aria-label="Consumers">
                        <thead><tr><th>"Consumer"</th><th>"Last pull"</th><th>"Pulls"</th><th>"Leased"</th></tr></thead>
                        <tbody>
                            {consumers.into_iter().map(|c| view! {
                                <tr data-consumer=c.name.clone()>
                                    <td>{c.name.clone()}</td>
                                    <td>{when(c.last_pull_at)}</td>
                                    <td>{c.pulls}</td>
                                    <td>{c.leased}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
