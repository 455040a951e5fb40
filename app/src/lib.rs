//! Herald's console: a Leptos app rendered on the server and hydrated in the browser.
//!
//! Server-only code (database access, cookies) sits behind the `ssr` feature and
//! goes through the engine; the browser build sees only the shared model types.

// The console's view types nest deeply (components are not type-erased in
// debug builds either, see Cargo.toml); the default limit of 128 is too low.
#![recursion_limit = "256"]

pub mod auth;
pub mod components;
pub mod error;
pub mod forms;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

use components::layout::Layout;
use pages::{
    admin::{api_keys::ApiKeysPage, audit::AuditPage, settings::SettingsPage},
    dashboard::page::Dashboard,
    dlq::page::{DlqEntryPage, DlqPage},
    docs::page::ApiDocsPage,
    endpoints::{
        detail::EndpointPage,
        list::{EndpointsPage, NewEndpointPage},
    },
    event_types::{detail::EventTypePage, list::EventTypesPage},
    events::{detail::EventPage, list::EventsPage},
    login::LoginPage,
    not_found::NotFound,
    policies::page::PoliciesPage,
    replays::page::ReplaysPage,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                // A release site's file names carry a hash of their content.
                <HashedStylesheet options=options.clone() id="herald-css"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // Effects run only in the browser, so this attribute appears exactly when the
    // page has hydrated: tests wait for it before using interactive controls.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Title formatter=|page: String| format!("{page} · Herald")/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage/>
                <Route path=path!("/docs") view=ApiDocsPage/>
                <ParentRoute path=path!("") view=Layout>
                    <Route path=path!("") view=Dashboard/>
                    <Route path=path!("endpoints") view=EndpointsPage/>
                    <Route path=path!("endpoints/new") view=NewEndpointPage/>
                    <Route path=path!("endpoints/:id") view=EndpointPage/>
                    <Route path=path!("retry-policies") view=PoliciesPage/>
                    <Route path=path!("events") view=EventsPage/>
                    <Route path=path!("event-types") view=EventTypesPage/>
                    <Route path=path!("event-types/:name") view=EventTypePage/>
                    <Route path=path!("events/:id") view=EventPage/>
                    <Route path=path!("dlq") view=DlqPage/>
                    <Route path=path!("dlq/:id") view=DlqEntryPage/>
                    <Route path=path!("replays") view=ReplaysPage/>
                    <Route path=path!("settings") view=SettingsPage/>
                    <Route path=path!("api-keys") view=ApiKeysPage/>
                    <Route path=path!("audit") view=AuditPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
