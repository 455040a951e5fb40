//! The dead-letter queue: deliveries that exhausted their retries. Support
//! staff filter it, select entries (or take all that match), reprocess them
//! with a reason, and inspect or discard one.

use std::collections::BTreeSet;

use herald_engine::model::{DlqDetail, DlqQuery, Permission};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_location, use_navigate, use_params_map};

use crate::components::dialog::ConfirmDialog;
use crate::components::focus::focus_on;
use crate::components::layout::Flash;
use crate::components::list::{Allowed, Listing, Loaded, Rows, pager};
use crate::components::ui::{
    EndpointFilter, EndpointName, ErrorNotice, EventTypeFilter, FilterForm, StateBadge,
    error_class_label, failure_words, url_query, when, with_query,
};
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
        <FilterForm action="/dlq" label="Filter the queue">
            <EndpointFilter selected=Signal::derive(move || current.get().endpoint_id)/>
            <EventTypeFilter selected=Signal::derive(move || current.get().event_type)/>
            <label>"Error class"
                <select name="error_class">
                    <option value="">"Any error"</option>
                    {herald_engine::model::ErrorClass::ANY.into_iter().map(|c| view! {
                        <option value=c.as_str() selected=move || current.get().error_class == Some(c)>{error_class_label(c)}</option>
                    }).collect_view()}
                </select>
            </label>
            <div class="filter-actions">
                <button type="submit">"Apply filters"</button>
                <A href="/dlq">"Clear"</A>
            </div>
        </FilterForm>
    }
}

/// The filters in words, for a confirmation ("for endpoint X, type Y").
fn filters_text(q: &DlqQuery) -> String {
    let mut parts = Vec::new();
    if let Some(e) = &q.endpoint_id {
        parts.push(format!("endpoint {e}"));
    }
    if let Some(t) = &q.event_type {
        parts.push(format!("event type {t}"));
    }
    if let Some(c) = q.error_class {
        parts.push(format!("error \"{}\"", error_class_label(c)));
    }
    if parts.is_empty() {
        "in the whole queue".to_string()
    } else {
        format!("matching {}", parts.join(", "))
    }
}

fn entries(n: usize) -> String {
    crate::components::ui::count(n, "entry", "entries")
}

/// What a reprocess will do, for its confirmation.
fn reprocess_message(all: bool, selected: usize, matching: u64, q: &DlqQuery) -> String {
    let what = if all {
        format!("all {} {}", entries(matching as usize), filters_text(q))
    } else {
        format!("the {} you selected", entries(selected))
    };
    format!(
        "Reprocess {what}? Each is sent again with its original webhook-id and the retry policy's full schedule, and leaves the queue."
    )
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
    // The confirmation: open, and whether it is for every matching entry.
    let confirming = RwSignal::new(false);
    let all = RwSignal::new(false);
    let matching = RwSignal::new(0_u64);
    // A message another page left (a discarded entry), shown once.
    let flash = use_context::<Flash>().and_then(|f| f.take());
    Effect::new(move |_| match reprocess.value().get() {
        Some(Ok(_)) => {
            selected.set(BTreeSet::new());
            reason.set(String::new());
            focus_on("#dlq-result");
        }
        Some(Err(_)) => focus_on("#dlq-result"),
        None => {}
    });
    let search = use_location().search;
    // After the filters change, focus goes to how many entries match them.
    Effect::new(
        move |previous: Option<Result<DlqQuery, crate::error::ConsoleError>>| {
            let now = asked.get();
            if previous.is_some_and(|p| p != now) {
                focus_on("#dlq-summary");
            }
            now
        },
    );

    view! {
        <Title text="Dead-letter queue"/>
        <h1>"Dead-letter queue"</h1>
        <p class="muted">"Deliveries that used up their retries. Reprocessing sends each again with the same webhook-id and the retry policy's full schedule."</p>
        <DlqFilters current=Signal::derive(current)/>
        {flash.map(|text| view! { <p class="notice success" role="status" id="dlq-flash">{text}</p> })}

        <div id="dlq-result" role="status" aria-live="polite">
            {move || reprocess.value().get().map(|r| match r {
                Ok(out) => view! { <p class="notice success">{reprocessed_text(&out)}</p> }.into_any(),
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
        </div>

        <ConfirmDialog
            id="dlq-confirm"
            open=confirming
            title=Signal::derive(move || if all.get() { "Reprocess every matching entry?".to_string() } else { "Reprocess the selected entries?".to_string() })
            message=Signal::derive(move || reprocess_message(all.get(), selected.with(BTreeSet::len), matching.get(), &current()))
            confirm=Signal::derive(move || {
                let n = if all.get() { matching.get() as usize } else { selected.with(BTreeSet::len) };
                format!("Reprocess {}", entries(n))
            })
            reason
            on_confirm=Callback::new(move |()| {
                let everything = all.get_untracked();
                reprocess.dispatch(ReprocessDlq {
                    ids: if everything { Vec::new() } else { selected.get_untracked().into_iter().collect() },
                    all: everything,
                    query: current(),
                    reason: reason.get_untracked(),
                });
            })
        />

        <Listing resource=listing newest older
            empty={|| view! {
                <p class="muted" role="status" id="dlq-summary">"The dead-letter queue is empty for these filters."</p>
            }}
            rows={move |l: DlqListing| {
                        let ids: Vec<String> = l.page.items.iter().map(|e| e.id.to_string()).collect();
                        let shown = ids.len();
                        matching.set(l.matching);
                        let total = l.matching;
                        let all_ids = ids.clone();
                        view! {
                            <p class="muted" id="dlq-summary">
                                {format!("{} {} these filters.", entries(total as usize), if total == 1 { "matches" } else { "match" })}
                            </p>
                            <Allowed permission=Permission::ManageDlq>
                            <div class="row bulk" role="group" aria-label="Bulk actions">
                                <label class="inline">
                                    <input type="checkbox"
                                        prop:checked={
                                            let ids = all_ids.clone();
                                            move || !ids.is_empty() && selected.with(|s| ids.iter().all(|i| s.contains(i)))
                                        }
                                        on:change={
                                            let ids = all_ids.clone();
                                            move |ev| {
                                                let on = event_target_checked(&ev);
                                                selected.update(|s| for id in &ids {
                                                    if on { s.insert(id.clone()); } else { s.remove(id); }
                                                });
                                            }
                                        }/>
                                    {format!("Select the {shown} shown")}
                                </label>
                                <button type="button"
                                    disabled=move || reprocess.pending().get() || selected.with(BTreeSet::is_empty)
                                    on:click=move |_| { all.set(false); confirming.set(true); }>
                                    {move || format!("Reprocess selected ({})", selected.with(BTreeSet::len))}
                                </button>
                                <button type="button" class="secondary"
                                    disabled=move || reprocess.pending().get()
                                    on:click=move |_| { all.set(true); confirming.set(true); }>
                                    {format!("Reprocess all matching ({total})")}
                                </button>
                            </div>
                            </Allowed>
                            <table aria-label="Dead-letter queue">
                                <thead><tr>
                                    <th scope="col"><span class="visually-hidden">"Selected"</span></th>
                                    <th scope="col">"Died"</th>
                                    <th scope="col">"Type"</th>
                                    <th scope="col">"Endpoint"</th>
                                    <th scope="col">"Failure"</th>
                                    <th scope="col">"Attempts"</th>
                                </tr></thead>
                                <tbody>
                                    {l.page.items.into_iter().map(|e| {
                                        let id = e.id.to_string();
                                        // The entry page keeps the list's filters for its way back.
                                        let href = with_query(&format!("/dlq/{id}"), &search.get_untracked());
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
                                                <td data-label="Died"><A href=href>{when(e.created_at)}</A></td>
                                                <td data-label="Type"><code>{e.event_type}</code></td>
                                                <td data-label="Endpoint"><EndpointName name=e.endpoint_name url=e.endpoint_url/></td>
                                                <td data-label="Failure" title=e.reason.clone()>{failure_words(e.error_class, e.last_status)}</td>
                                                <td data-label="Attempts">{e.attempts}</td>
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
    let confirm_reprocess = RwSignal::new(false);
    let confirm_discard = RwSignal::new(false);
    let navigate = use_navigate();
    // The list this entry was opened from, filters and all.
    let search = use_location().search;
    let back = move || with_query("/dlq", &search.get());
    let flash = use_context::<Flash>();
    Effect::new(move |_| {
        let done = match (reprocess.value().get(), discard.value().get()) {
            (Some(Ok(out)), _) if !out.reprocessed.is_empty() => {
                Some("Reprocessed: the delivery is sent again.")
            }
            (_, Some(Ok(()))) => {
                Some("Discarded: the entry left the queue, with your reason in the audit log.")
            }
            (Some(_), _) | (_, Some(_)) => {
                focus_on("#entry-result");
                None
            }
            _ => None,
        };
        if let Some(text) = done {
            if let Some(flash) = flash {
                flash.set(text);
            }
            navigate(&back(), Default::default());
            focus_on("#dlq-flash");
        }
    });

    view! {
        <Title text="DLQ entry"/>
        <p><A href=back>"← Dead-letter queue"</A></p>
        <Loaded resource=entry title="DLQ entry" show={move |d: DlqDetail| {
                        let entry_id = d.entry.id.to_string();
                        let (id_reprocess, id_discard) = (entry_id.clone(), entry_id.clone());
                        let payload = serde_json::to_string_pretty(&d.event.payload).unwrap_or_default();
                        let event_href = format!("/events/{}", d.event.id);
                        let last = d.delivery.attempt_log.len();
                        view! {
                            <h1><code>{d.entry.event_type.clone()}</code>" to "<EndpointName name=d.entry.endpoint_name.clone() url=d.entry.endpoint_url.clone()/></h1>
                            <dl class="facts">
                                <dt>"Failure"</dt><dd>{failure_words(d.entry.error_class, d.entry.last_status)}</dd>
                                <dt>"Reason"</dt><dd>{d.entry.reason.clone()}</dd>
                                <dt>"Died"</dt><dd>{when(d.entry.created_at)}</dd>
                                <dt>"Entry"</dt><dd><code>{entry_id.clone()}</code></dd>
                                <dt>"Webhook-id"</dt><dd><code>{d.entry.delivery_id.to_string()}</code></dd>
                                <dt>"Event"</dt><dd><A href=event_href><code>{d.event.id.to_string()}</code></A></dd>
                                <dt>"State"</dt><dd><StateBadge state=d.delivery.state/></dd>
                            </dl>
                            <Allowed permission=Permission::ManageDlq>
                            <section aria-labelledby="act">
                                <h2 id="act">"Act on it"</h2>
                                <div class="inline-form">
                                    <button type="button" disabled=move || reprocess.pending().get()
                                        on:click=move |_| confirm_reprocess.set(true)>
                                        "Reprocess"
                                    </button>
                                    <button type="button" class="danger" disabled=move || discard.pending().get()
                                        on:click=move |_| confirm_discard.set(true)>
                                        "Discard"
                                    </button>
                                </div>
                                <div id="entry-result" role="status">
                                    {move || discard.value().get().and_then(Result::err).map(|e| view! { <ErrorNotice error=e/> })}
                                    {move || reprocess.value().get().map(|r| match r {
                                        Ok(out) if out.reprocessed.is_empty() => view! {
                                            <p class="error">{reprocessed_text(&out)}</p>
                                        }.into_any(),
                                        Ok(_) => ().into_any(),
                                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                                    })}
                                </div>
                                <ConfirmDialog
                                    id="reprocess-confirm"
                                    open=confirm_reprocess
                                    title="Reprocess this entry?".to_string()
                                    message="The delivery is sent again with its original webhook-id and the retry policy's full schedule, and leaves the queue.".to_string()
                                    confirm="Reprocess".to_string()
                                    reason
                                    on_confirm={
                                        let id = id_reprocess.clone();
                                        Callback::new(move |()| {
                                            reprocess.dispatch(ReprocessDlq {
                                                ids: vec![id.clone()], all: false,
                                                query: DlqQuery::default(), reason: reason.get_untracked() });
                                        })
                                    }
                                />
                                <ConfirmDialog
                                    id="discard-confirm"
                                    open=confirm_discard
                                    title="Discard this entry?".to_string()
                                    message="The delivery is never sent again and the entry leaves the queue; the event itself stays. This cannot be undone.".to_string()
                                    confirm="Discard".to_string()
                                    reason
                                    danger=true
                                    on_confirm={
                                        let id = id_discard.clone();
                                        Callback::new(move |()| {
                                            discard.dispatch(DiscardDlq { id: id.clone(), reason: reason.get_untracked() });
                                        })
                                    }
                                />
                            </section>
                            </Allowed>
                            <h2>"Attempts"</h2>
                            <ol class="timeline" aria-label="Attempts">
                                {d.delivery.attempt_log.into_iter().enumerate().map(|(i, a)| view! { <Attempt attempt=a open={i + 1 == last}/> }).collect_view()}
                            </ol>
                            <h2>"Payload"</h2>
                            <pre class="json" tabindex="0" aria-label="Payload">{payload}</pre>
                        }
            }}/>
    }
}
