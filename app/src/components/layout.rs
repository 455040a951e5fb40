//! The signed-in frame: top bar with the account menu, navigation, content.

use leptos::prelude::*;
use leptos_router::components::{A, Outlet};

use crate::auth::{Logout, current_user};
use crate::components::list::{SignedIn, signed_in};

const SECTIONS: [(&str, &str); 8] = [
    ("/", "Dashboard"),
    ("/endpoints", "Endpoints"),
    ("/events", "Events"),
    ("/dlq", "DLQ"),
    ("/replays", "Replays"),
    ("/api-keys", "API keys"),
    ("/audit", "Audit log"),
    ("/settings", "Settings"),
];

#[component]
pub fn Layout() -> impl IntoView {
    let nav_open = RwSignal::new(false);
    // Loaded once here for every page in the frame (see `list::signed_in`).
    provide_context(SignedIn(OnceResource::new(current_user())));

    view! {
        <div class="shell">
            <header class="topbar">
                <button
                    type="button"
                    class="nav-toggle"
                    aria-label="Navigation"
                    aria-controls="primary-nav"
                    aria-expanded=move || nav_open.get().to_string()
                    on:click=move |_| nav_open.update(|open| *open = !*open)
                >
                    <span aria-hidden="true">"☰"</span>
                </button>
                <a class="brand" href="/">"Herald"</a>
                <AccountMenu/>
            </header>
            <nav
                id="primary-nav"
                class="sidebar"
                class:open=move || nav_open.get()
                aria-label="Sections"
            >
                <ul>
                    {SECTIONS
                        .into_iter()
                        .map(|(href, label)| {
                            view! {
                                <li>
                                    <A href=href exact=true on:click=move |_| nav_open.set(false)>
                                        {label}
                                    </A>
                                </li>
                            }
                        })
                        .collect_view()}
                    // A full page load: the reference has its own frame.
                    <li><a href="/docs" rel="external">"API reference"</a></li>
                </ul>
            </nav>
            <main class="content">
                <Outlet/>
            </main>
        </div>
    }
}

/// The signed-in user's email, a menu toggle (works only once hydrated) and
/// the sign-out form (works with or without wasm).
#[component]
fn AccountMenu() -> impl IntoView {
    let user = signed_in().0;
    let logout = ServerAction::<Logout>::new();
    let open = RwSignal::new(false);

    view! {
        <div
            class="account"
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    open.set(false);
                }
            }
        >
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let email = match user.await {
                        Ok(Some(user)) => user.email,
                        _ => String::new(),
                    };
                    view! {
                        <button
                            type="button"
                            class="account-button"
                            aria-label="Account menu"
                            aria-haspopup="true"
                            aria-controls="account-menu"
                            aria-expanded=move || open.get().to_string()
                            on:click=move |_| open.update(|o| *o = !*o)
                        >
                            {email}
                            <span aria-hidden="true">" ▾"</span>
                        </button>
                    }
                })}
            </Suspense>
            <div id="account-menu" class="account-menu" hidden=move || !open.get()>
                <a href="/settings" on:click=move |_| open.set(false)>"Account settings"</a>
                <ActionForm action=logout>
                    <button type="submit" class="link-button">"Sign out"</button>
                </ActionForm>
            </div>
        </div>
    }
}
