//! The audit log: every change, who made it, when, with filters.

use herald_engine::model::{AuditOut, AuditQuery, Page};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::list::{Listing, pager};
use crate::components::ui::{Columns, url_query, when};
use crate::pages::admin::fns::list_audit;

#[component]
pub fn AuditPage() -> impl IntoView {
    let asked = url_query::<AuditQuery>();
    let current = move || asked.get().unwrap_or_default();
    let (newest, older) = pager("/audit", asked);
    let entries = Resource::new(move || asked.get(), |q| async move { list_audit(q?).await });

    view! {
        <Title text="Audit log"/>
        <div class="page-head"><h1>"Audit log"</h1></div>
        <form method="get" action="/audit" class="filters" aria-label="Filter the audit log">
            <label>"Action" <input type="text" name="action" placeholder="endpoint. or dlq.reprocess" prop:value=move || current().action.unwrap_or_default()/></label>
            <label>"Actor" <input type="text" name="actor" placeholder="ops@" prop:value=move || current().actor.unwrap_or_default()/></label>
            <label>"Target" <input type="text" name="target" placeholder="an id or email" prop:value=move || current().target.unwrap_or_default()/></label>
            <button type="submit">"Filter"</button>
            <a href="/audit">"Clear"</a>
        </form>
        <Listing resource=entries newest older
            empty={|| view! { <p class="muted">"No audit entries match."</p> }}
            rows={|page: Page<AuditOut>| {
                        view! {
                            <table aria-label="Audit entries">
                                <Columns names=&["When", "Actor", "Role", "Action", "Target", "Change", "Correlation id"]/>
                                <tbody>
                                    {page.items.into_iter().map(|e| view! {
                                        <tr>
                                            <td data-label="When">{when(e.at)}</td>
                                            <td data-label="Actor">{e.actor}</td>
                                            <td data-label="Role">{e.role}</td>
                                            <td data-label="Action"><code>{e.action}</code></td>
                                            <td data-label="Target"><code>{e.target}</code></td>
                                            <td data-label="Change">{e.summary}</td>
                                            <td data-label="Correlation id"><code>{e.correlation_id.unwrap_or_default()}</code></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }
            }}/>
    }
}
