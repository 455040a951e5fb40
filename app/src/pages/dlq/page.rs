//! The dead-letter queue: deliveries that exhausted their retries. Support
//! staff filter it, select entries (or take all that match), reprocess them
//! with a reason, and inspect or discard one.

use std::collections::BTreeSet;

use herald_engine::model::{DlqDetail, DlqQuery, Permission};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{A, Form};
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::components::list::{Allowed, Listing, Loaded, Rows, pager};
use crate::components::ui::{EndpointFilter, ErrorNotice, StateBadge, url_query, when};
use crate::pages::dlq::fns::{DiscardDlq, DlqListing, ReprocessDlq, get_dlq_entry, list_dlq};
use crate::pages::events::detail::Attempt;

impl Rows for DlqListing {
    fn is_empty(&self) -> bool {
        self.page.items.is_empty()
    }
    fn next_cursor(&self) -> Option<String> {
        self.page.next_cursor.clone()
    }
}

fn reprocessed_text(out: &herald_engine::model::ReprocessOut) -> String {
    let mut text = format!("{} reprocessed.", out.reprocessed.len());
    if !out.skipped.is_empty() {
        text.push_str(&format!(
            " {} left in the queue: {}",
            out.skipped.len(),
            out.skipped
                .iter()
                .map(|s| format!("{} ({})", s.id, s.reason))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    text
}

/// The queue's filters, kept in the URL.
#[component]
fn DlqFilters(current: Signal<DlqQuery>) -> impl IntoView {
    view! {
        <Form method="GET" action="/dlq" attr:class="filters" attr:aria-label="Filter the queue">
            <EndpointFilter selected=Signal::derive(move || current.get().endpoint_id)/>
            <label>"Event type"
                <input type="text" name="event_type" placeholder="order.created" prop:value=move || current.get().event_type.unwrap_or_default()/>
            </label>
            <label>"Error class"
                <select name="error_class">
                    <option value="">"Any error"</option>
                    {herald_engine::model::ErrorClass::ANY.into_iter().map(|c| c.as_str()).map(|c| view! {
                        <option value=c selected=move || current.get().error_class.map(|e| e.as_str()) == Some(c)>{c}</option>
                    }).collect_view()}
                </select>
            </label>
            <div class="filter-actions">
                <button type="submit">"Apply filters"</button>
                <A href="/dlq">"Clear"</A>
            </div>
        </Form>
    }
}

#[component]
pub fn DlqPage() -> impl IntoView {
    let asked = url_query::<DlqQuery>();
    let current = move || asked.get().unwrap_or_default();
    let (newest, older) = pager("/dlq", asked);
    let reprocess = ServerAction::<ReprocessDlq>::new();
    let listing = Resource::new(
        move || (asked.get(), reprocess.version().get()),
        |(q, _)| async move { list_dlq(q?).await },
    );
    let selected: RwSignal<BTreeSet<String>> = RwSignal::new(BTreeSet::new());
    let reason = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(_)) = reprocess.value().get() {
            selected.set(BTreeSet::new());
        }
    });

    view! {
        <Title text="Dead-letter queue"/>
        <h1>"Dead-letter queue"</h1>
        <p class="muted">"Deliveries that used up their retries. Reprocessing sends each again with the same webhook-id and the retry policy's full schedule."</p>
        <DlqFilters current=Signal::derive(current)/>

        {move || reprocess.value().get().map(|r| match r {
            Ok(out) => view! { <p class="notice success" role="status">{reprocessed_text(&out)}</p> }.into_any(),
            Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
        })}

        <Listing resource=listing newest older
            empty={|| view! {
                <p class="muted" role="status">"The dead-letter queue is empty for these filters."</p>
            }}
            rows={move |l: DlqListing| {
                        let ids: Vec<String> = l.page.items.iter().map(|e| e.id.to_string()).collect();
                        let matching = l.matching;
                        view! {
                            <Allowed permission=Permission::ManageDlq>
                            <div class="row bulk" role="group" aria-label="Bulk actions">
                                <label>"Reason"
                                    <input type="text" placeholder="receiver fixed"
                                        prop:value=move || reason.get()
                                        on:input=move |ev| reason.set(event_target_value(&ev))/>
                                </label>
                                <button type="button"
                                    disabled=move || reprocess.pending().get() || selected.with(BTreeSet::is_empty)
                                    on:click=move |_| {
                                        reprocess.dispatch(ReprocessDlq {
                                            ids: selected.get_untracked().into_iter().collect(),
                                            all: false,
                                            query: current(),
                                            reason: reason.get_untracked(),
                                        });
                                    }>
                                    {move || format!("Reprocess selected ({})", selected.with(BTreeSet::len))}
                                </button>
                                <button type="button" class="secondary"
                                    disabled=move || reprocess.pending().get()
                                    on:click=move |_| {
                                        reprocess.dispatch(ReprocessDlq {
                                            ids: Vec::new(),
                                            all: true,
                                            query: current(),
                                            reason: reason.get_untracked(),
                                        });
                                    }>
                                    {format!("Reprocess all matching ({matching})")}
                                </button>
                            </div>
                            </Allowed>
                            <table aria-label="Dead-letter queue">
                                <thead><tr>
                                    <th scope="col">
                                        <input type="checkbox" aria-label="Select all on this page"
                                            prop:checked={
                                                let ids = ids.clone();
                                                move || selected.with(|s| ids.iter().all(|i| s.contains(i)))
                                            }
                                            on:change={
                                                let ids = ids.clone();
                                                move |ev| {
                                                    let on = event_target_checked(&ev);
                                                    selected.update(|s| for id in &ids {
                                                        if on { s.insert(id.clone()); } else { s.remove(id); }
                                                    });
                                                }
                                            }/>
                                    </th>
                                    <th scope="col">"Died"</th>
                                    <th scope="col">"Type"</th>
                                    <th scope="col">"Endpoint"</th>
                                    <th scope="col">"Error"</th>
                                    <th scope="col">"Reason"</th>
                                </tr></thead>
                                <tbody>
                                    {l.page.items.into_iter().map(|e| {
                                        let id = e.id.to_string();
                                        let href = format!("/dlq/{id}");
                                        let label = format!("Select {id}");
                                        let (id_checked, id_change) = (id.clone(), id.clone());
                                        view! {
                                            <tr>
                                                <td><input type="checkbox" aria-label=label
                                                    prop:checked=move || selected.with(|s| s.contains(&id_checked))
                                                    on:change=move |ev| {
                                                        let on = event_target_checked(&ev);
                                                        selected.update(|s| { if on { s.insert(id_change.clone()); } else { s.remove(&id_change); } });
                                                    }/></td>
                                                <td><A href=href>{when(e.created_at)}</A></td>
                                                <td><code>{e.event_type}</code></td>
                                                <td class="mono">{e.endpoint_url}</td>
                                                <td>{e.error_class.map(|c| c.as_str()).unwrap_or("—")}</td>
                                                <td>{e.reason}</td>
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
pub fn DlqEntryPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let reprocess = ServerAction::<ReprocessDlq>::new();
    let discard = ServerAction::<DiscardDlq>::new();
    let entry = Resource::new(id, get_dlq_entry);
    let reason = RwSignal::new(String::new());
    let navigate = use_navigate();
    Effect::new(move |_| {
        let done = matches!(reprocess.value().get(), Some(Ok(ref out)) if !out.reprocessed.is_empty())
            || matches!(discard.value().get(), Some(Ok(())));
        if done {
            navigate("/dlq", Default::default());
        }
    });

    view! {
        <Title text="DLQ entry"/>
        <p><A href="/dlq">"← Dead-letter queue"</A></p>
        <Loaded resource=entry title="DLQ entry" show={move |d: DlqDetail| {
                        let entry_id = d.entry.id.to_string();
                        let (id_reprocess, id_discard) = (entry_id.clone(), entry_id.clone());
                        let payload = serde_json::to_string_pretty(&d.event.payload).unwrap_or_default();
                        let event_href = format!("/events/{}", d.event.id);
                        view! {
                            <h1><code>{d.entry.event_type.clone()}</code>" to "<span class="mono">{d.entry.endpoint_url.clone()}</span></h1>
                            <dl class="facts">
                                <dt>"Entry"</dt><dd><code>{entry_id.clone()}</code></dd>
                                <dt>"Reason"</dt><dd>{d.entry.reason.clone()}</dd>
                                <dt>"Died"</dt><dd>{when(d.entry.created_at)}</dd>
                                <dt>"Webhook-id"</dt><dd><code>{d.entry.delivery_id.to_string()}</code></dd>
                                <dt>"Event"</dt><dd><A href=event_href><code>{d.event.id.to_string()}</code></A></dd>
                                <dt>"State"</dt><dd><StateBadge state=d.delivery.state/></dd>
                            </dl>
                            <Allowed permission=Permission::ManageDlq>
                            <section aria-labelledby="act">
                                <h2 id="act">"Act on it"</h2>
                                <div class="row">
                                    <label>"Reason"
                                        <input type="text" placeholder="receiver fixed"
                                            prop:value=move || reason.get()
                                            on:input=move |ev| reason.set(event_target_value(&ev))/>
                                    </label>
                                    <button type="button" disabled=move || reprocess.pending().get()
                                        on:click={
                                            let id = id_reprocess.clone();
                                            move |_| { reprocess.dispatch(ReprocessDlq {
                                                ids: vec![id.clone()], all: false,
                                                query: DlqQuery::default(), reason: reason.get_untracked() }); }
                                        }>
                                        "Reprocess"
                                    </button>
                                    <button type="button" class="danger" disabled=move || discard.pending().get()
                                        on:click={
                                            let id = id_discard.clone();
                                            move |_| { discard.dispatch(DiscardDlq { id: id.clone(), reason: reason.get_untracked() }); }
                                        }>
                                        "Discard"
                                    </button>
                                </div>
                                {move || discard.value().get().and_then(Result::err).map(|e| view! { <ErrorNotice error=e/> })}
                                {move || reprocess.value().get().map(|r| match r {
                                    Ok(out) if out.reprocessed.is_empty() => view! {
                                        <p class="error" role="alert">{reprocessed_text(&out)}</p>
                                    }.into_any(),
                                    Ok(_) => ().into_any(),
                                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                                })}
                            </section>
                            </Allowed>
                            <h2>"Payload"</h2>
                            <pre class="json" aria-label="Payload">{payload}</pre>
                            <h2>"Attempts"</h2>
                            <ol class="timeline" aria-label="Attempts">
                                {d.delivery.attempt_log.into_iter().map(|a| view! { <Attempt attempt=a/> }).collect_view()}
                            </ol>
                        }
            }}/>
    }
}
