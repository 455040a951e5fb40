//! The nodes sharing the database, from their heartbeats: which are alive
//! and what each holds (deliveries in flight, replay jobs). One node on
//! SQLite; as many as run on PostgreSQL.

use herald_engine::model::NodeOut;
use leptos::prelude::*;

use crate::components::ui::{Columns, ErrorNotice, when};
use crate::error::ConsoleError;

/// Every node the heartbeat table remembers, by name.
#[server(prefix = "/fn", endpoint = "cluster_nodes")]
pub async fn cluster_nodes() -> Result<Vec<NodeOut>, ConsoleError> {
    use crate::ssr::{console_state, require};
    use herald_engine::model::Permission;

    require(Permission::Read)?;
    let state = console_state()?;
    Ok(herald_engine::membership::nodes(state.store.as_ref()).await?)
}

#[component]
pub fn Nodes() -> impl IntoView {
    let nodes = Resource::new(|| (), |()| cluster_nodes());
    view! {
        <section aria-labelledby="nodes-heading">
            <h2 id="nodes-heading">"Nodes"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match nodes.await {
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                        Ok(nodes) => {
                            let alive = nodes.iter().filter(|n| n.alive).count();
                            view! {
                                <p class="muted">
                                    {format!("{alive} of {} alive. ", nodes.len())}
                                    "A node that stops heartbeating for 10 s is shown as gone; "
                                    "its deliveries and replay jobs move to the others when their leases end."
                                </p>
                                <table aria-label="Nodes">
                                    <Columns names=&["Node", "State", "In flight", "Replays", "Version", "Started", "Last heartbeat"]/>
                                    <tbody>
                                        {nodes.into_iter().map(|n| view! {
                                            <tr>
                                                <td data-label="Node"><code>{n.name}</code></td>
                                                <td data-label="State">{if n.alive {
                                                    view! { <span class="badge ok">"alive"</span> }
                                                } else {
                                                    view! { <span class="badge bad">"gone"</span> }
                                                }}</td>
                                                <td data-label="In flight">{n.in_flight}</td>
                                                <td data-label="Replays">{n.replays}</td>
                                                <td data-label="Version">{n.version}</td>
                                                <td data-label="Started">{when(n.started_at)}</td>
                                                <td data-label="Last heartbeat">{when(n.heartbeat_at)}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }
                            .into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}
