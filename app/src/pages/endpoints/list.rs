//! Endpoints: the list with a health column, and registering a new one.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::components::copy::CopyButton;
use crate::components::endpoint_form::EndpointFormView;
use crate::components::list::{Allowed, Listing};
use crate::components::ui::{Columns, query_escape};
use crate::pages::endpoints::detail::TestEvent;
use crate::pages::endpoints::fns::{CreateEndpoint, EndpointForm, EndpointRow, list_endpoints};
use crate::pages::endpoints::play::PlayButton;
use crate::pages::policies::fns::list_retry_policies;
use herald_engine::model::{Page, Permission};

/// The health column: disabled, dead deliveries, retries, or healthy.
#[component]
pub fn Health(row: EndpointRow) -> impl IntoView {
    let b = &row.backlog;
    let (class, text) = if !row.endpoint.enabled {
        (
            "badge bad",
            format!(
                "Paused: {}",
                row.endpoint
                    .disabled_reason
                    .clone()
                    .unwrap_or_else(|| "no reason given".into())
            ),
        )
    } else if let Some(text) = breaker_badge(&row.endpoint.breaker) {
        ("badge bad", text)
    } else if b.dead > 0 {
        ("badge bad", format!("{} dead", b.dead))
    } else if !row.blocked.is_empty() {
        (
            "badge bad",
            format!("{} blocked streams", row.blocked.len()),
        )
    } else if b.throttled {
        ("badge warn", "Throttled by its rate limit".to_string())
    } else if b.retrying > 0 {
        ("badge warn", format!("Retrying {}", b.retrying))
    } else {
        ("badge ok", "Healthy".to_string())
    };
    let queued = b.pending + b.in_flight + b.waiting;
    view! {
        <span class=class>{text}</span>
        {(queued > 0).then(|| view! { <span class="muted">" · "{queued}" queued"</span> })}
    }
}

/// An open or half-open breaker, in a few words; `None` when closed.
fn breaker_badge(b: &herald_engine::model::BreakerOut) -> Option<String> {
    use herald_engine::model::BreakerState;
    match b.state {
        BreakerState::Closed => None,
        BreakerState::Open => Some(match b.probe_at {
            Some(at) => format!("Circuit open: next probe at {}", at.format("%H:%M:%S UTC")),
            None => "Circuit open".to_string(),
        }),
        BreakerState::HalfOpen => Some("Circuit half-open: probing".to_string()),
    }
}

#[component]
pub fn SectionTabs() -> impl IntoView {
    view! {
        <nav class="tabs" aria-label="Endpoint pages">
            <A href="/endpoints" exact=true>"Endpoints"</A>
            <A href="/retry-policies" exact=true>"Retry policies"</A>
        </nav>
    }
}

#[component]
pub fn EndpointsPage() -> impl IntoView {
    let query = use_query_map();
    let cursor = move || query.with(|q| q.get("cursor"));
    let list = Resource::new(cursor, list_endpoints);
    let older =
        Callback::new(|cursor: String| format!("/endpoints?cursor={}", query_escape(&cursor)));

    view! {
        <Title text="Endpoints"/>
        <div class="page-head">
            <h1>"Endpoints"</h1>
            <Allowed permission=Permission::ManageEndpoints>
                <A href="/endpoints/new" attr:class="button">"New endpoint"</A>
            </Allowed>
        </div>
        <SectionTabs/>
        <Listing resource=list older
            empty={|| view! {
                <section class="notice">
                    <p><strong>"No endpoints yet."</strong></p>
                    <p>"Register the URL that should receive this tenant's webhooks."</p>
                    <PlayButton/>
                </section>
            }}
            rows={|page: Page<EndpointRow>| {
                        view! {
                            <table aria-label="Endpoints">
                                <Columns names=&["Endpoint", "Event types", "Retry policy", "Health"]/>
                                <tbody>
                                    {page.items.into_iter().map(|row| {
                                        let href = format!("/endpoints/{}", row.endpoint.id);
                                        let url = if row.endpoint.kind == herald_engine::model::EndpointKind::Inbox {
                                            format!("inbox {}", row.endpoint.id)
                                        } else {
                                            row.endpoint.url.clone()
                                        };
                                        // Its name when it has one, the URL under it.
                                        let (label, under) = if row.endpoint.name.is_empty() {
                                            (url, None)
                                        } else {
                                            (row.endpoint.name.clone(), Some(url))
                                        };
                                        let mono = if under.is_some() { "" } else { "mono" };
                                        let patterns = row.endpoint.event_types.join(", ");
                                        let policy = row.policy_name.clone().unwrap_or_else(|| {
                                            format!("its own ({} attempts)", row.endpoint.retry_policy.max_attempts)
                                        });
                                        view! {
                                            <tr>
                                                <td data-label="Endpoint">
                                                    <A href=href attr:class=mono>{label}</A>
                                                    {under.map(|u| view! { <br/><span class="muted mono">{u}</span> })}
                                                </td>
                                                <td data-label="Event types"><code>{patterns}</code></td>
                                                <td data-label="Retry policy">{policy}</td>
                                                <td data-label="Health"><Health row/></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }
            }}/>
    }
}

#[component]
pub fn NewEndpointPage() -> impl IntoView {
    let create = ServerAction::<CreateEndpoint>::new();
    let policies = Resource::new(|| (), |_| list_retry_policies());
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    let created = move || create.value().get().and_then(Result::ok);

    view! {
        <Title text="New endpoint"/>
        <h1>"New endpoint"</h1>
        <Show
            when=move || created().is_some()
            fallback=move || view! {
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let policies = policies.await.unwrap_or_default();
                        view! {
                            <EndpointFormView
                                initial=EndpointForm::default()
                                policies
                                editing=false
                                submit_label="Create endpoint"
                                pending=create.pending()
                                error
                                on_submit=Callback::new(move |form: EndpointForm| { create.dispatch(CreateEndpoint { form }); })
                            />
                            <PlayButton/>
                        }
                    })}
                </Suspense>
            }
        >
            {move || created().map(|shown| {
                let href = format!("/endpoints/{}", shown.endpoint_id);
                let id = shown.endpoint_id.to_string();
                view! {
                    <section class="notice success" role="status" aria-label="Endpoint created">
                        <p><strong>"Endpoint created."</strong></p>
                        <p>"Its signing secret is shown only now. Store it where your receiver can verify signatures with it "
                            <a href="https://www.standardwebhooks.com/" rel="external">"(Standard Webhooks libraries)"</a>":"</p>
                        <p><code class="secret" aria-label="Signing secret">{shown.secret.clone()}</code>
                            <CopyButton value=shown.secret.clone() what="the signing secret"/></p>
                        {shown.warnings.into_iter().map(|w| view! {
                            <p class="warning" role="alert">{w}</p>
                        }).collect_view()}
                    </section>
                    <Allowed permission=Permission::SendTestEvent>
                        <TestEvent id=id.clone() enabled=true/>
                    </Allowed>
                    <p><A href=href>"Go to the endpoint"</A></p>
                }
            })}
        </Show>
    }
}
