//! Events: filters kept in the URL (every view is a shareable link) and keyset
//! pagination, so a page costs the same with a million stored events.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{A, Form};
use leptos_router::hooks::use_query_map;

use crate::components::ui::{ErrorNotice, query_escape, when};
use crate::server_fns::events::{EventQuery, endpoint_choices, list_events};

const STATES: [(&str, &str); 5] = [
    ("", "Any state"),
    ("succeeded", "Succeeded"),
    ("pending", "Pending or retrying"),
    ("in_flight", "In flight"),
    ("dead", "Failed (dead)"),
];

fn query_string(q: &EventQuery) -> String {
    let pairs = [
        ("event_type", &q.event_type),
        ("state", &q.state),
        ("endpoint_id", &q.endpoint_id),
        ("correlation_id", &q.correlation_id),
        ("from", &q.from),
        ("to", &q.to),
        ("before", &q.before),
    ];
    let encoded: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", query_escape(v)))
        .collect();
    encoded.join("&")
}

#[component]
pub fn EventsPage() -> impl IntoView {
    let query = use_query_map();
    let current = move || {
        query.with(|q| EventQuery {
            event_type: q.get("event_type").unwrap_or_default(),
            state: q.get("state").unwrap_or_default(),
            endpoint_id: q.get("endpoint_id").unwrap_or_default(),
            correlation_id: q.get("correlation_id").unwrap_or_default(),
            from: q.get("from").unwrap_or_default(),
            to: q.get("to").unwrap_or_default(),
            before: q.get("before").unwrap_or_default(),
        })
    };
    let events = Resource::new(current, list_events);
    let endpoints = Resource::new(|| (), |_| endpoint_choices());

    view! {
        <Title text="Events"/>
        <h1>"Events"</h1>
        <Form method="GET" action="/events" attr:class="filters" attr:aria-label="Filter events">
            <label>"Event type"
                <input type="text" name="event_type" placeholder="order.created" prop:value=move || current().event_type/>
            </label>
            <label>"Delivery state"
                <select name="state">
                    {STATES.into_iter().map(|(value, label)| view! {
                        <option value=value selected=move || current().state == value>{label}</option>
                    }).collect_view()}
                </select>
            </label>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let choices = endpoints.await.unwrap_or_default();
                    view! {
                        <label>"Endpoint"
                            <select name="endpoint_id">
                                <option value="">"Any endpoint"</option>
                                {choices.into_iter().map(|(id, url)| {
                                    let selected = {
                                        let id = id.clone();
                                        move || current().endpoint_id == id
                                    };
                                    view! { <option value=id selected=selected>{url}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                    }
                })}
            </Suspense>
            <label>"Correlation id"
                <input type="text" name="correlation_id" prop:value=move || current().correlation_id/>
            </label>
            <label>"From (UTC)"
                <input type="datetime-local" name="from" prop:value=move || current().from/>
            </label>
            <label>"To (UTC)"
                <input type="datetime-local" name="to" prop:value=move || current().to/>
            </label>
            <div class="filter-actions">
                <button type="submit">"Apply filters"</button>
                <A href="/events">"Clear"</A>
            </div>
        </Form>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match events.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok(page) if page.items.is_empty() => view! {
                        <p class="muted" role="status">"No events match these filters."</p>
                    }.into_any(),
                    Ok(page) => {
                        let q = current();
                        let newer = (!q.before.is_empty()).then(|| {
                            let first = EventQuery { before: String::new(), ..q.clone() };
                            format!("/events?{}", query_string(&first))
                        });
                        let older = page.next_cursor.map(|cursor| {
                            let next = EventQuery { before: cursor, ..q.clone() };
                            format!("/events?{}", query_string(&next))
                        });
                        view! {
                            <table aria-label="Events">
                                <thead><tr>
                                    <th scope="col">"Received"</th>
                                    <th scope="col">"Type"</th>
                                    <th scope="col">"Event"</th>
                                    <th scope="col">"Deliveries"</th>
                                </tr></thead>
                                <tbody>
                                    {page.items.into_iter().map(|e| {
                                        let href = format!("/events/{}", e.id);
                                        let other = e.deliveries - e.succeeded - e.dead;
                                        view! {
                                            <tr>
                                                <td>{when(e.received_at)}</td>
                                                <td><code>{e.event_type.clone()}</code></td>
                                                <td><A href=href attr:class="mono">{e.id.to_string()}</A></td>
                                                <td>
                                                    {(e.deliveries == 0).then(|| view! { <span class="muted">"none"</span> })}
                                                    {(e.succeeded > 0).then(|| view! { <span class="badge ok">{e.succeeded}" succeeded"</span> })}
                                                    {(e.dead > 0).then(|| view! { <span class="badge bad">{e.dead}" dead"</span> })}
                                                    {(other > 0).then(|| view! { <span class="badge warn">{other}" pending"</span> })}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <nav class="pager" aria-label="Pages">
                                {newer.map(|href| view! { <A href=href>"← Newest"</A> })}
                                {older.map(|href| view! { <A href=href>"Older →"</A> })}
                            </nav>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}
