//! A "Copy" button beside an id, a URL or a secret: copies the value to the
//! clipboard and says so (announced to screen readers). Before the page is
//! interactive, or where the clipboard is refused, the value stays
//! selectable by hand.

use leptos::prelude::*;

#[component]
pub fn CopyButton(
    /// What is copied.
    #[prop(into)]
    value: String,
    /// What it is, for the button's accessible name ("Copy the signing secret").
    what: &'static str,
) -> impl IntoView {
    let copied = RwSignal::new(None::<bool>);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let value = value.clone();
            leptos::task::spawn_local(async move {
                let ok = match web_sys::window() {
                    Some(w) => wasm_bindgen_futures::JsFuture::from(
                        w.navigator().clipboard().write_text(&value),
                    )
                    .await
                    .is_ok(),
                    None => false,
                };
                copied.set(Some(ok));
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &value;
    };
    view! {
        <button type="button" class="copy" aria-label=format!("Copy {what}") on:click=copy>
            {move || match copied.get() {
                Some(true) => "Copied",
                Some(false) => "Copy failed: select it instead",
                None => "Copy",
            }}
        </button>
        <span class="visually-hidden" role="status">
            {move || copied.get().map(|ok| if ok { format!("{what} copied") } else { String::new() })}
        </span>
    }
}
