//! The signed-in frame: top bar with the account menu, navigation, content.

use leptos::prelude::*;
use leptos_router::components::Outlet;
use leptos_router::hooks::use_location;

use crate::auth::{Logout, current_user};
use crate::components::focus::focus_on;
use crate::components::list::{SignedIn, signed_in};

/// The sections in the sidebar: where each leads, its name, and the other
/// paths that belong to it (a detail page highlights its list's section).
const SECTIONS: [(&str, &str); 9] = [
    ("/", "Dashboard"),
    ("/endpoints", "Endpoints"),
    ("/events", "Events"),
    ("/event-types", "Event types"),
    ("/dlq", "DLQ"),
    ("/replays", "Replays"),
    ("/api-keys", "API keys"),
    ("/audit", "Audit log"),
    ("/settings", "Settings"),
];

/// `aria-current` for a section's link: `page` on the section itself,
/// `true` on a page inside it (an endpoint, an event, a DLQ entry…).
fn current_for(section: &str, path: &str) -> Option<&'static str> {
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    if path == section {
        return Some("page");
    }
    let inside = match section {
        "/" => false,
        "/endpoints" => path.starts_with("/endpoints/") || path == "/retry-policies",
        _ => path.starts_with(&format!("{section}/")),
    };
    inside.then_some("true")
}

/// A message one page leaves for the next (an entry discarded, then the list
/// it came from): shown once, by the page that takes it.
#[derive(Clone, Copy)]
pub struct Flash(RwSignal<Option<String>>);

impl Flash {
    pub fn set(self, text: &str) {
        self.0.set(Some(text.to_string()));
    }

    /// The message, if one was left; it is gone afterwards.
    pub fn take(self) -> Option<String> {
        let text = self.0.get_untracked();
        if text.is_some() {
            self.0.set(None);
        }
        text
    }
}

#[component]
pub fn Layout() -> impl IntoView {
    let nav_open = RwSignal::new(false);
    provide_context(Flash(RwSignal::new(None)));
    // Loaded once here for every page in the frame (see `list::signed_in`).
    provide_context(SignedIn(OnceResource::new(current_user())));
    let pathname = use_location().pathname;
    // After moving to another page, focus goes to its heading: keyboard and
    // screen-reader users start from the new content, not the sidebar.
    Effect::new(move |previous: Option<String>| {
        let path = pathname.get();
        if previous.is_some_and(|p| p != path) {
            focus_on("main h1");
        }
        path
    });

    view! {
        <a class="skip-link" href="#main" on:click=move |ev| {
            ev.prevent_default();
            focus_on("#main");
        }>"Skip to content"</a>
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
                                    <a
                                        href=href
                                        aria-current=move || pathname.with(|p| current_for(href, p))
                                        on:click=move |_| nav_open.set(false)
                                    >
                                        {label}
                                    </a>
                                </li>
                            }
                        })
                        .collect_view()}
                    // A full page load: the reference has its own frame.
                    <li><a href="/docs" rel="external">"API reference"</a></li>
                </ul>
            </nav>
            <main class="content" id="main" tabindex="-1">
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
                            aria-haspopup="true"
                            aria-controls="account-menu"
                            aria-expanded=move || open.get().to_string()
                            on:click=move |_| open.update(|o| *o = !*o)
                        >
                            {email}
                            <span aria-hidden="true">" ▾"</span>
                            <span class="visually-hidden">" account menu"</span>
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

#[cfg(test)]
mod tests {
    use super::current_for;

    #[test]
    fn a_detail_page_highlights_its_section() {
        assert_eq!(current_for("/", "/"), Some("page"));
        assert_eq!(current_for("/", "/endpoints"), None);
        assert_eq!(current_for("/endpoints", "/endpoints"), Some("page"));
        assert_eq!(current_for("/endpoints", "/endpoints/ep_1"), Some("true"));
        assert_eq!(current_for("/endpoints", "/endpoints/new"), Some("true"));
        assert_eq!(current_for("/endpoints", "/retry-policies"), Some("true"));
        assert_eq!(current_for("/events", "/events/evt_1"), Some("true"));
        assert_eq!(current_for("/events", "/endpoints"), None);
        assert_eq!(current_for("/dlq", "/dlq/dlq_1"), Some("true"));
        assert_eq!(current_for("/dlq", "/dlqx"), None);
    }
}
