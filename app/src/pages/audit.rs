//! The audit log: every change, who made it, when, with filters.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::ui::{ErrorNotice, query_escape, when};
use crate::server_fns::admin::{AuditQuery, list_audit};

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let current = move || {
        query.with(|q| AuditQuery {
            action: q.get("action").unwrap_or_default(),
            actor: q.get("actor").unwrap_or_default(),
            target: q.get("target").unwrap_or_default(),
            before: q.get("before").unwrap_or_default(),
        })
    };
    let entries = Resource::new(current, list_audit);

    view! {
        <Title text="Audit log"/>
        <div class="page-head"><h1>"Audit log"</h1></div>
        <form method="get" action="/audit" class="filters" aria-label="Filter the audit log">
            <label>"Action" <input type="text" name="action" placeholder="endpoint. or dlq.reprocess" prop:value=move || current().action/></label>
            <label>"Actor" <input type="text" name="actor" placeholder="ops@" prop:value=move || current().actor/></label>
            <label>"Target" <input type="text" name="target" placeholder="an id or email" prop:value=move || current().target/></label>
            <button type="submit">"Filter"</button>
            <a href="/audit">"Clear"</a>
        </form>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match entries.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok(page) if page.items.is_empty() => view! {
                        <p class="muted">"No audit entries match."</p>
                    }.into_any(),
                    Ok(page) => {
                        let older = page.next_cursor.clone().map(|c| {
                            let q = current();
                            format!(
                                "/audit?action={}&actor={}&target={}&before={c}",
                                query_escape(&q.action), query_escape(&q.actor), query_escape(&q.target)
                            )
                        });
                        view! {
                            <table aria-label="Audit entries">
                                <thead><tr>
                                    <th scope="col">"When"</th>
                                    <th scope="col">"Actor"</th>
                                    <th scope="col">"Role"</th>
                                    <th scope="col">"Action"</th>
                                    <th scope="col">"Target"</th>
                                    <th scope="col">"Change"</th>
                                    <th scope="col">"Correlation id"</th>
                                </tr></thead>
                                <tbody>
                                    {page.items.into_iter().map(|e| view! {
                                        <tr>
                                            <td>{when(e.at)}</td>
                                            <td>{e.actor}</td>
                                            <td>{e.role}</td>
                                            <td><code>{e.action}</code></td>
                                            <td><code>{e.target}</code></td>
                                            <td>{e.summary}</td>
                                            <td><code>{e.correlation_id.unwrap_or_default()}</code></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            {older.map(|href| view! { <p><a href=href>"Older entries"</a></p> })}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
