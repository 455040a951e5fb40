//! Play inboxes in the console: one click registers an endpoint pointing at
//! a new play inbox (Herald's own receiver) and sends it a test event; the
//! endpoint's page then shows what the inbox received, live, each request
//! with its signature checked.

use herald_engine::model::{PLAY_KEEP, Permission, PlayRequestOut};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use serde::{Deserialize, Serialize};

use crate::components::copy::CopyButton;
use crate::components::list::Allowed;
use crate::components::ui::{ErrorNotice, count, when};
use crate::error::ConsoleError;

/// A play inbox as its endpoint's page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayView {
    pub url: String,
    /// Newest first.
    pub requests: Vec<PlayRequestOut>,
}

/// Registers an endpoint for every event type pointing at a new play inbox
/// and sends it a test event; returns the endpoint's id.
#[server(prefix = "/fn", endpoint = "start_play")]
pub async fn start_play() -> Result<String, ConsoleError> {
    use crate::ssr::{Call, by_user, internal, open, request_parts};
    use herald_engine::model::{EndpointIn, PLAY_PATH, PlayInboxId};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageEndpoints).await?;
    // The inbox's URL is where the console is reached: where a sender
    // outside Herald finds it. Herald's own deliveries do not use the network.
    let parts = request_parts();
    let header = |name: &str| {
        parts
            .as_ref()
            .and_then(|p| p.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let host = header("host").unwrap_or_else(|| "127.0.0.1".to_string());
    let scheme = match header("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    let inbox = PlayInboxId::new();
    let input: EndpointIn = serde_json::from_value(serde_json::json!({
        "url": format!("{scheme}://{host}{PLAY_PATH}{inbox}"),
        "name": "Play inbox",
        "event_types": ["*"],
        "description": "Play inbox: Herald's built-in test receiver",
    }))
    .map_err(internal)?;
    let by = by_user(&user);
    let (endpoint, _secret) = state.engine.create_endpoint(tenant, input, &by).await?;
    state
        .engine
        .create_play_inbox(tenant, inbox, endpoint.id, &by)
        .await?;
    state
        .engine
        .send_test_event(tenant, endpoint.id, None, None, &by)
        .await?;
    Ok(endpoint.id.to_string())
}

/// What the play inbox an endpoint's URL names has received (`None` when
/// its URL names none of the tenant's).
#[server(prefix = "/fn", endpoint = "play_requests")]
pub async fn play_requests(endpoint_id: String) -> Result<Option<PlayView>, ConsoleError> {
    use crate::ssr::{Call, open, parse_id};
    use herald_engine::model::play_inbox_of_url;
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    let Some(endpoint) = state
        .store
        .get_endpoint(tenant, parse_id("endpoint", &endpoint_id)?)
        .await?
    else {
        return Err(crate::ssr::fail(ConsoleError::NotFound {
            message: format!("endpoint '{endpoint_id}' was not found"),
        }));
    };
    let Some(inbox) = play_inbox_of_url(&endpoint.url) else {
        return Ok(None);
    };
    let requests = state.store.play_requests(tenant, inbox, PLAY_KEEP).await?;
    Ok(Some(PlayView {
        url: endpoint.url,
        requests,
    }))
}

/// "Try it with a play inbox": registers the endpoint and opens its page.
#[component]
pub fn PlayButton() -> impl IntoView {
    let start = ServerAction::<StartPlay>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = start.value().get() {
            navigate(&format!("/endpoints/{id}"), Default::default());
        }
    });
    view! {
        <Allowed permission=Permission::ManageEndpoints>
            <div class="play-start">
                <button
                    type="button"
                    class="secondary"
                    disabled=move || start.pending().get()
                    on:click=move |_| { start.dispatch(StartPlay {}); }
                >
                    {move || if start.pending().get() { "Creating…" } else { "Try it with a play inbox" }}
                </button>
                <p class="muted">"No receiver handy? Herald makes one: an endpoint for every event type, pointing at a built-in inbox that shows what it receives and checks each signature."</p>
                {move || start.value().get().and_then(Result::err).map(|e| view! { <ErrorNotice error=e/> })}
            </div>
        </Allowed>
    }
}

/// The play inbox of an endpoint whose URL names one: nothing otherwise.
#[component]
pub fn PlayInbox(endpoint_id: String) -> impl IntoView {
    let id = endpoint_id.clone();
    let first = Resource::new(move || id.clone(), play_requests);
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let endpoint_id = endpoint_id.clone();
                Suspend::new(async move {
                    match first.await {
                        Ok(Some(play)) => view! { <PlayPanel play endpoint_id/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// How often the page asks for new requests.
#[cfg(feature = "hydrate")]
const POLL: std::time::Duration = std::time::Duration::from_millis(1_000);

#[component]
fn PlayPanel(play: PlayView, endpoint_id: String) -> impl IntoView {
    let requests = RwSignal::new(play.requests);
    // Live: the browser asks again every second and redraws only when
    // something changed.
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || {
                let id = endpoint_id.clone();
                leptos::task::spawn_local(async move {
                    if let Ok(Some(latest)) = play_requests(id).await
                        && requests.with_untracked(|r| r != &latest.requests)
                    {
                        requests.set(latest.requests);
                    }
                });
            },
            POLL,
        )
        .ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = endpoint_id;
    let url = play.url.clone();
    view! {
        <section aria-labelledby="play-heading" class="play">
            <h2 id="play-heading">"Received by the play inbox"</h2>
            <p class="muted">"Herald's own receiver: it keeps the last " {PLAY_KEEP} " requests and checks each signature with this endpoint's secret, as your receiver will. Herald's deliveries to it never leave Herald; anything else may POST to its URL too."</p>
            <p><code class="wrap">{url.clone()}</code><CopyButton value=url what="the play inbox URL"/></p>
            <p id="play-count" role="status">{move || match requests.with(Vec::len) {
                0 => "Nothing received yet.".to_string(),
                n => format!("{} received, newest first.", count(n, "request", "requests")),
            }}</p>
            <ol class="play-requests" aria-label="Requests received">
                {move || requests.get().into_iter().enumerate().map(|(i, r)| view! {
                    <PlayRequest request=r open=i == 0/>
                }).collect_view()}
            </ol>
        </section>
    }
}

#[component]
fn PlayRequest(request: PlayRequestOut, open: bool) -> impl IntoView {
    let (class, badge) = if request.verified {
        ("badge ok", "Signature verified")
    } else {
        ("badge bad", "Signature not verified")
    };
    let event_type = request
        .headers
        .get("herald-event-type")
        .cloned()
        .unwrap_or_else(|| "a request".to_string());
    let body = serde_json::from_str::<serde_json::Value>(&request.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| request.body.clone());
    let headers = request
        .headers
        .iter()
        .map(|(name, value)| {
            view! { <tr><th scope="row">{name.clone()}</th><td class="mono">{value.clone()}</td></tr> }
        })
        .collect_view();
    view! {
        <li class="play-request">
            <details open=open>
                <summary>
                    <span class=class>{badge}</span>" "
                    <code>{event_type}</code>" "
                    <span class="muted">{when(request.received_at)}{if request.in_process { " · from Herald" } else { " · over HTTP" }}</span>
                </summary>
                <p class="verification">{request.verification.clone()}</p>
                <table class="values" aria-label="Headers">
                    <tbody>{headers}</tbody>
                </table>
                <pre class="example" tabindex="0"><code>{body}</code></pre>
                {request.body_truncated.then(|| view! { <p class="muted">"The body was longer; its first 64 KiB are shown (the signature was checked over all of it)."</p> })}
            </details>
        </li>
    }
}
