//! The live delivery feed: each attempt as it finishes, newest first, straight
//! from the websocket (nothing is stored for it; a reload starts it empty).

use herald_engine::model::{DeliveryOutcome, LiveMessage};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::live::use_live_feed;
use crate::components::ui::{Columns, StateBadge, failure_words, when};

/// Attempts the feed keeps on screen.
const SHOWN: usize = 20;

#[component]
pub fn LiveDeliveries() -> impl IntoView {
    let outcomes: RwSignal<Vec<DeliveryOutcome>> = RwSignal::new(Vec::new());
    let connected = RwSignal::new(false);
    use_live_feed("delivery.outcome", connected, move |message| {
        if let LiveMessage::DeliveryOutcome(outcome) = message {
            outcomes.update(|list| {
                list.insert(0, outcome);
                list.truncate(SHOWN);
            });
        }
    });
    view! {
        <section aria-labelledby="live-deliveries">
            <h2 id="live-deliveries">"Live deliveries"</h2>
            <p class="muted" role="status">
                {move || if connected.get() { "Live: each attempt appears as it finishes." } else { "Connecting to the live feed…" }}
            </p>
            <Show
                when=move || !outcomes.with(Vec::is_empty)
                fallback=|| view! { <p class="muted">"No attempts since this page opened."</p> }
            >
                <table aria-label="Live deliveries">
                    <Columns names=&["When", "Type", "Outcome", "State", "Event"]/>
                    <tbody>
                        <For
                            each=move || outcomes.get()
                            key=|o| (o.delivery_id, o.attempt)
                            children=|o| {
                                let outcome = match (o.response_status, o.error_class) {
                                    (None, None) => format!("{} ms", o.latency_ms),
                                    (status, class) => format!("{} · {} ms", failure_words(class, status), o.latency_ms),
                                };
                                let href = format!("/events/{}", o.event_id);
                                view! {
                                    <tr>
                                        <td data-label="When">{when(o.at)}</td>
                                        <td data-label="Type"><code>{o.event_type}</code></td>
                                        <td data-label="Outcome">{outcome}{(o.attempt > 1).then(|| format!(" (attempt {})", o.attempt))}</td>
                                        <td data-label="State"><StateBadge state=o.state/></td>
                                        <td data-label="Event"><A href=href attr:class="mono">{o.event_id.to_string()}</A></td>
                                    </tr>
                                }
                            }
                        />
                    </tbody>
                </table>
            </Show>
        </section>
    }
}
