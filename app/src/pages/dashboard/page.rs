use herald_engine::model::Permission;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::charts::DeliveryStats;
use crate::components::list::signed_in;
use crate::components::live_deliveries::LiveDeliveries;
use crate::pages::dashboard::nodes::Nodes;

#[component]
pub fn Dashboard() -> impl IntoView {
    let user = signed_in().0;

    view! {
        <Title text="Dashboard"/>
        <h1>"Dashboard"</h1>
        <DeliveryStats/>
        <LiveDeliveries/>
        <Nodes/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                user.await
                    .ok()
                    .flatten()
                    .map(|user| {
                        let allowed = Permission::ALL
                            .into_iter()
                            .filter(|p| user.role.allows(*p))
                            .map(|p| view! { <li><code>{p.as_str()}</code></li> })
                            .collect_view();
                        view! {
                            <p>
                                "Signed in as " <strong>{user.email.clone()}</strong>
                                " with the " <strong>{user.role.as_str()}</strong> " role, which allows:"
                            </p>
                            <ul class="chips">{allowed}</ul>
                        }
                    })
            })}
        </Suspense>
    }
}
