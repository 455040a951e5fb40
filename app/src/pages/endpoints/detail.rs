//! One endpoint: its settings, health, test event, secret rotation,
//! enable/disable, and the edit form.

use herald_engine::model::{DeliveryState, EndpointOut, Permission, RetryPolicyOut, Semantics};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::components::charts::DeliveryStats;
use crate::components::copy::CopyButton;
use crate::components::dialog::ConfirmDialog;
use crate::components::endpoint_form::EndpointFormView;
use crate::components::focus::focus_on;
use crate::components::list::{Allowed, Loaded};
use crate::components::ui::{ErrorNotice, when};
use crate::forms::format_duration_secs;
use crate::pages::endpoints::fns::{
    EndpointForm, EndpointRow, RotateEndpointSecret, SendTestEvent, SetEndpointEnabled,
    TestOutcome, UpdateEndpoint, get_endpoint, recent_deliveries,
};
use crate::pages::endpoints::list::Health;
use crate::pages::endpoints::play::PlayInbox;

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

    // After each change, focus goes to what it did.
    Effect::new(move |_| {
        if update.value().get().is_some() {
            focus_on("#edit-result");
        }
    });
    Effect::new(move |_| {
        if switch.value().get().is_some() {
            focus_on("#state-heading");
        }
    });
    Effect::new(move |_| {
        if rotate.value().get().is_some() {
            focus_on("#rotate-result");
        }
    });
    // Reload after every change to its settings. A test event does not
    // reload the page: its result shows in place, where the button is.
    let endpoint = Resource::new(
        move || (id(), update.version().get(), switch.version().get()),
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
            <EndpointView row policies update switch rotate/>
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
) -> impl IntoView {
    let e = row.endpoint.clone();
    let id = e.id.to_string();
    let policy_label = match &row.policy_name {
        Some(name) => name.clone(),
        None => "its own".to_string(),
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
        name: e.name.clone(),
        description: e.description.clone(),
        event_types: e.event_types.join(", "),
        filter: e
            .filter
            .as_ref()
            .and_then(|f| serde_json::to_string_pretty(f).ok())
            .unwrap_or_default(),
        transform: e.transform.clone().unwrap_or_default(),
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
    let confirm_rotate = RwSignal::new(false);
    let confirm_pause = RwSignal::new(false);
    let enabled = e.enabled;
    let (id_test, id_rotate, id_switch, id_update) =
        (id.clone(), id.clone(), id.clone(), id.clone());
    let update_error = Signal::derive(move || update.value().get().and_then(Result::err));
    let saved = move || matches!(update.value().get(), Some(Ok(_)));
    let inbox = e.kind == herald_engine::model::EndpointKind::Inbox;
    let publish = publish_example(&e.event_types);

    view! {
        <div class="page-head">
            {if !e.name.is_empty() {
                view! { <h1>{e.name.clone()}</h1> }.into_any()
            } else if inbox {
                view! { <h1 class="mono">{format!("Inbox {id}")}</h1> }.into_any()
            } else {
                view! { <h1 class="mono">{e.url.clone()}</h1> }.into_any()
            }}
            <Health row=row.clone()/>
        </div>
        <Allowed permission=Permission::SendTestEvent>
            <TestEvent id=id_test.clone() enabled/>
        </Allowed>
        <RecentDeliveries endpoint_id=id.clone()/>
        <PlayInbox endpoint_id=id.clone()/>
        <h2>"About it"</h2>
        <dl class="facts">
            <dt>"Id"</dt><dd><code>{id.clone()}</code><CopyButton value=id.clone() what="the endpoint id"/></dd>
            {(!e.name.is_empty() && !inbox).then(|| view! {
                <dt>"URL"</dt><dd><code class="wrap">{e.url.clone()}</code><CopyButton value=e.url.clone() what="the endpoint URL"/></dd>
            })}
            <dt>"Description"</dt><dd>{if e.description.is_empty() { "—".to_string() } else { e.description.clone() }}</dd>
            <dt>"Event types"</dt><dd><code>{e.event_types.join(", ")}</code></dd>
            {e.filter.as_ref().map(|f| view! {
                <dt>"Content filter"</dt><dd><code class="filter-shown">{f.to_string()}</code></dd>
            })}
            {e.transform.clone().map(|t| view! {
                <dt>"Transform"</dt><dd><code class="filter-shown">{t}</code></dd>
            })}
            <dt>"Retry policy"</dt><dd>{policy_label}": attempts at "{schedule}</dd>
            <dt>"Timeout"</dt><dd>{format!("{} s", f64::from(e.timeout_ms) / 1000.0)}</dd>
            <dt>"Delivery"</dt><dd>{semantics_text(&e)}</dd>
            <dt>"Order"</dt><dd>{ordering_label(&e)}</dd>
            <dt>"Rate limit"</dt><dd>{e.rate_limit.map_or_else(|| "none".to_string(), |l| l.text())}</dd>
            <dt>"Circuit breaker"</dt><dd data-breaker=e.breaker.state.as_str()>{breaker_text(&e)}</dd>
            <dt>"In flight at once"</dt><dd>{e.max_in_flight.map_or_else(|| "the server's default".to_string(), |n| n.to_string())}</dd>
            <dt>"Custom headers"</dt><dd>{if e.header_names.is_empty() { "none".to_string() } else { e.header_names.join(", ") }}</dd>
            <dt>"Created"</dt><dd>{when(e.created_at)}</dd>
            <dt>"Its events"</dt><dd><A href=format!("/events?endpoint_id={id}")>"Events delivered to it"</A>" · "<A href=format!("/dlq?endpoint_id={id}")>"its DLQ entries"</A></dd>
        </dl>
        <details class="publish">
            <summary>"Publish an event it receives"</summary>
            <p class="muted">"With an API key of scope " <code>"ingest"</code> " (API keys page) in " <code>"HERALD_API_KEY"</code> ":"</p>
            <pre class="example" tabindex="0"><code>{publish}</code></pre>
        </details>

        {row.inbox.clone().map(|inbox| view! { <InboxState inbox/> })}
        {(!row.blocked.is_empty()).then(|| view! { <BlockedStreams streams=row.blocked.clone()/> })}
        {(!row.breaker_history.is_empty()).then(|| view! { <BreakerHistory entries=row.breaker_history.clone()/> })}

        <Allowed permission=Permission::ManageEndpoints>

        <section aria-labelledby="secret-heading">
            <h2 id="secret-heading">"Signing secret"</h2>
            <p class="muted">"Rotating makes a new secret; the old one keeps signing alongside it for 24 hours, so receivers can switch without failures."</p>
            <button
                type="button"
                class="secondary"
                disabled=move || rotate.pending().get()
                on:click=move |_| confirm_rotate.set(true)
            >
                "Rotate secret"
            </button>
            <ConfirmDialog
                id="rotate-confirm"
                open=confirm_rotate
                title="Rotate the signing secret?".to_string()
                message="A new secret signs every delivery from now on. The current one also signs for 24 hours, so receivers can switch without failures; after that, a receiver that still checks only the old one rejects every delivery.".to_string()
                confirm="Rotate secret".to_string()
                on_confirm={
                    let id = id_rotate.clone();
                    Callback::new(move |()| { rotate.dispatch(RotateEndpointSecret { id: id.clone() }); })
                }
            />
            <div id="rotate-result" role="status">
            {move || rotate.value().get().map(|result| match result {
                Ok(shown) => view! {
                    <div class="notice success">
                        <p><strong>"New signing secret"</strong>" (shown only now):"</p>
                        <p><code class="secret" aria-label="New signing secret">{shown.secret.clone()}</code>
                            <CopyButton value=shown.secret.clone() what="the new signing secret"/></p>
                        {shown.previous_valid_until.map(|t| view! {
                            <p class="muted">"The previous secret also signs until "{when(t)}"."</p>
                        })}
                    </div>
                }.into_any(),
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
            </div>
        </section>

        <section aria-labelledby="state-heading">
            <h2 id="state-heading">{if enabled { "Pause deliveries" } else { "Paused" }}</h2>
            {if enabled {
                let id = id_switch.clone();
                view! {
                    <button
                        type="button"
                        class="danger"
                        disabled=move || switch.pending().get()
                        on:click=move |_| confirm_pause.set(true)
                    >
                        "Pause endpoint"
                    </button>
                    <ConfirmDialog
                        id="pause-confirm"
                        open=confirm_pause
                        title="Pause this endpoint?".to_string()
                        message="Nothing is sent to it until it is resumed: its deliveries, and those of events published meanwhile, wait. Nothing is dropped.".to_string()
                        confirm="Pause endpoint".to_string()
                        reason
                        danger=true
                        on_confirm=Callback::new(move |()| {
                            switch.dispatch(SetEndpointEnabled {
                                id: id.clone(),
                                enabled: false,
                                reason: Some(reason.get_untracked()),
                            });
                        })
                    />
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
            <div id="edit-result" role="status">
                <Show when=saved>
                    <p class="success-text">"Saved."</p>
                </Show>
                {move || update_error.get().map(|_| view! { <p class="error">"Not saved: the form below says what to change."</p> })}
            </div>
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

        <section aria-labelledby="stats-heading">
            <h2 id="stats-heading">"Delivery statistics"</h2>
            <DeliveryStats endpoint=id.clone()/>
        </section>
    }
}

/// A `curl` that publishes an event this endpoint receives: its first
/// subscribed type, a pattern's wildcard made concrete.
fn publish_example(patterns: &[String]) -> String {
    let event_type = patterns
        .iter()
        .find(|p| !p.contains('*'))
        .cloned()
        .or_else(|| patterns.first().map(|p| p.replace('*', "example")))
        .unwrap_or_else(|| "order.created".to_string());
    let event_type = if event_type == "example" {
        "order.created".to_string()
    } else {
        event_type
    };
    format!(
        "curl -X POST \"$HERALD_URL/api/v1/events\" \\\n  -H \"Authorization: Bearer $HERALD_API_KEY\" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{{\"event_type\": \"{event_type}\", \"payload\": {{\"id\": \"123\"}}}}'"
    )
}

/// "Send test event" and its outcome, in place: the button stays where it
/// is, the outcome appears under it and takes the focus.
#[component]
pub(crate) fn TestEvent(id: String, enabled: bool) -> impl IntoView {
    let test = ServerAction::<SendTestEvent>::new();
    Effect::new(move |_| {
        if test.value().get().is_some() {
            focus_on("#test-result");
        }
    });
    view! {
        <section aria-labelledby="test-heading" class="test-event">
            <h2 id="test-heading">"Test event"</h2>
            <p class="muted">"Sends a " <code>"herald.test"</code> " event to this endpoint only and waits for the answer."</p>
            <button
                type="button"
                disabled=move || test.pending().get() || !enabled
                on:click=move |_| { test.dispatch(SendTestEvent { id: id.clone() }); }
            >
                {move || if test.pending().get() { "Sending…" } else { "Send test event" }}
            </button>
            <div id="test-result" role="status">
                {move || test.value().get().map(|result| match result {
                    Ok(outcome) => view! { <TestResult outcome/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                })}
            </div>
        </section>
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
                    <td data-label="Stream"><code>{name}</code></td>
                    <td data-label="Blocked by"><A href=href>{s.dlq_entry_id.to_string()}</A></td>
                    <td data-label="Waiting" class="num">{s.waiting}</td>
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
        <div class=class>
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
        Semantics::AtLeastOnce => {
            "at least once: retried until it succeeds or the policy gives up".to_string()
        }
        Semantics::AtMostOnce => "at most once: never sent twice, so never retried".to_string(),
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
                                    <td data-label="Consumer">{c.name.clone()}</td>
                                    <td data-label="Last pull">{when(c.last_pull_at)}</td>
                                    <td data-label="Pulls">{c.pulls}</td>
                                    <td data-label="Leased">{c.leased}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::publish_example;

    #[test]
    fn the_publish_example_uses_a_type_the_endpoint_receives() {
        let of = |p: &[&str]| publish_example(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(of(&["order.*", "invoice.paid"]).contains(r#""event_type": "invoice.paid""#));
        assert!(of(&["order.*"]).contains(r#""event_type": "order.example""#));
        assert!(of(&["*"]).contains(r#""event_type": "order.created""#));
        assert!(of(&[]).contains("$HERALD_URL/api/v1/events"));
    }
}

/// What people come to an endpoint's page for: how its latest deliveries
/// went, each linked to its event.
#[component]
pub(crate) fn RecentDeliveries(endpoint_id: String) -> impl IntoView {
    use crate::components::ui::{StateBadge, failure_words};
    let id = endpoint_id.clone();
    let recent = Resource::new(move || id.clone(), recent_deliveries);
    let all = format!("/events?endpoint_id={endpoint_id}");
    view! {
        <section aria-labelledby="recent-heading">
            <h2 id="recent-heading">"Latest deliveries"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match recent.await {
                        Ok(rows) if rows.is_empty() => view! {
                            <p class="muted">"Nothing delivered to it yet: send a test event, or publish an event it receives."</p>
                        }.into_any(),
                        Ok(rows) => view! {
                            <table aria-label="Latest deliveries">
                                <thead><tr>
                                    <th scope="col">"Event"</th>
                                    <th scope="col">"State"</th>
                                    <th scope="col">"Last answer"</th>
                                    <th scope="col" class="num">"Latency"</th>
                                    <th scope="col">"When"</th>
                                </tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|d| {
                                        let href = format!("/events/{}", d.event_id);
                                        let answer = if d.attempts == 0 {
                                            "not tried yet".to_string()
                                        } else {
                                            failure_words(d.last_error_class, d.last_status)
                                        };
                                        let latency = d.last_latency_ms.map_or_else(|| "—".to_string(), |ms| format!("{ms} ms"));
                                        let at = when(d.last_attempt_at.unwrap_or(d.created_at));
                                        view! {
                                            <tr>
                                                <td data-label="Event"><A href=href><code>{d.event_type.clone()}</code></A></td>
                                                <td data-label="State"><StateBadge state=d.state/></td>
                                                <td data-label="Last answer">{answer}</td>
                                                <td data-label="Latency" class="num">{latency}</td>
                                                <td data-label="When">{at}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Suspense>
            <p><A href=all>"All its events"</A></p>
        </section>
    }
}
