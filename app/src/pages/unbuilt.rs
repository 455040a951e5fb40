use leptos::prelude::*;
use leptos_meta::Title;

/// A console section whose feature has not been built yet. It says so plainly
/// and shows no invented data.
#[component]
pub fn Unbuilt(title: &'static str, what: &'static str) -> impl IntoView {
    view! {
        <Title text=title/>
        <h1>{title}</h1>
        <section class="notice" role="status">
            <p><strong>"Not built yet."</strong></p>
            <p>{what}" will live here. Nothing on this page is wired to data yet."</p>
        </section>
    }
}
