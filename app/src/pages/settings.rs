use herald_engine::model::UserOut;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::auth::current_user;
use crate::error::ConsoleError;

/// Every console user, oldest first. Admins only: the role matrix grants
/// `manage_users` to no other role.
#[server(prefix = "/fn", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserOut>, ConsoleError> {
    use herald_engine::model::Permission;
    let _admin = crate::ssr::require(Permission::ManageUsers)?;
    let store = crate::ssr::console_state()?.store;
    let mut users = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_users(after, 200).await?;
        users.extend(page.items);
        match page.next_cursor {
            Some(cursor) => after = Some(cursor.parse().map_err(crate::ssr::internal)?),
            None => return Ok(users),
        }
    }
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let me = OnceResource::new(current_user());
    let users = OnceResource::new(list_users());

    view! {
        <Title text="Settings"/>
        <h1>"Settings"</h1>
        <section aria-labelledby="account-heading">
            <h2 id="account-heading">"Your account"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    me.await.ok().flatten().map(|u| view! {
                        <dl class="facts">
                            <dt>"Email"</dt><dd>{u.email}</dd>
                            <dt>"Role"</dt><dd>{u.role.as_str()}</dd>
                        </dl>
                    })
                })}
            </Suspense>
        </section>
        <section aria-labelledby="users-heading">
            <h2 id="users-heading">"Users"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(users) => view! { <UserTable users/> }.into_any(),
                        Err(ConsoleError::Forbidden { .. }) => view! {
                            <p class="muted">"Only admins can see and manage console users."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn UserTable(users: Vec<UserOut>) -> impl IntoView {
    view! {
        <table>
            <thead>
                <tr><th scope="col">"Email"</th><th scope="col">"Role"</th><th scope="col">"Last sign-in"</th></tr>
            </thead>
            <tbody>
                {users
                    .into_iter()
                    .map(|u| view! {
                        <tr>
                            <td>{u.email}</td>
                            <td>{u.role.as_str()}</td>
                            <td>{u.last_login_at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_else(|| "never".into())}</td>
                        </tr>
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
