//! Events: filters kept in the URL (every view is a shareable link) and keyset
//! pagination, so a page costs the same with a million stored events.

use herald_engine::model::{EventQuery, EventSummary, Page};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

use crate::components::list::{Listing, pager};
use crate::components::ui::{
    Columns, EndpointFilter, FilterForm, typed, url_query, when, with_query,
};
use crate::pages::events::fns::list_events;

const STATES: [(&str, &str); 6] = [
    ("", "Any state"),
    ("succeeded", "Succeeded"),
    ("pending", "Pending or retrying"),
    ("in_flight", "In flight"),
    ("awaiting_ack", "Awaiting acknowledgement"),
    ("dead", "Failed (dead)"),
];

#[component]
pub fn EventsPage() -> impl IntoView {
    let asked = url_query::<EventQuery>();
    // What the form shows: the URL's filters, or none when they cannot be read.
    let current = move || asked.get().unwrap_or_default();
    let (newest, older) = pager("/events", asked);
    let search = use_location().search;
    let events = Resource::new(
        move || asked.get(),
        |q| async move { list_events(q?).await },
    );

    view! {
        <Title text="Events"/>
        <h1>"Events"</h1>
        <FilterForm action="/events" label="Filter events">
            <label>"Event type"
                <input type="text" name="event_type" placeholder="order.created" prop:value=move || current().event_type.unwrap_or_default()/>
            </label>
            <label>"Delivery state"
                <select name="state">
                    {STATES.into_iter().map(|(value, label)| view! {
                        <option value=value selected=move || current().state.map_or("", |s| s.as_str()) == value>{label}</option>
                    }).collect_view()}
                </select>
            </label>
            <EndpointFilter selected=Signal::derive(move || current().endpoint_id)/>
            <label>"Correlation id"
                <input type="text" name="correlation_id" prop:value=move || current().correlation_id.unwrap_or_default()/>
            </label>
            <label>"Source"
                <input type="text" name="source" placeholder="billing" prop:value=move || current().source.unwrap_or_default()/>
            </label>
            <label>"From (UTC)"
                <input type="datetime-local" name="from" prop:value=move || typed(current().from)/>
            </label>
            <label>"To (UTC)"
                <input type="datetime-local" name="to" prop:value=move || typed(current().to)/>
            </label>
            <div class="filter-actions">
                <button type="submit">"Apply filters"</button>
                <A href="/events">"Clear"</A>
            </div>
        </FilterForm>
        <Listing resource=events newest older
            empty={|| view! { <p class="muted" role="status">"No events match these filters."</p> }}
            rows={move |page: Page<EventSummary>| {
                        view! {
                            <table aria-label="Events">
                                <Columns names=&["Received", "Type", "Source", "Event", "Deliveries"]/>
                                <tbody>
                                    {page.items.into_iter().map(|e| {
                                        // The event page keeps the list's filters for its way back.
                                        let href = with_query(&format!("/events/{}", e.id), &search.get_untracked());
                                        let other = e.deliveries - e.succeeded - e.dead;
                                        view! {
                                            <tr>
                                                <td data-label="Received">{when(e.received_at)}</td>
                                                <td data-label="Type"><code>{e.event_type.clone()}</code></td>
                                                <td data-label="Source">{e.source.clone().unwrap_or_else(|| "—".into())}</td>
                                                <td data-label="Event"><A href=href attr:class="mono">{e.id.to_string()}</A></td>
                                                <td data-label="Deliveries">
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
                        }
            }}/>
    }
}
