//! Where keyboard focus goes after a page change or an action, so that a
//! keyboard or screen-reader user carries on from the result instead of the
//! top of the document.

#[cfg(feature = "hydrate")]
use leptos::prelude::*;

/// Moves focus to the first element matching `selector` as soon as the page
/// has it (it may still be loading behind a `Suspense`): tries each 50 ms for
/// two seconds. An element that is not focusable by itself (a heading, a
/// status line) becomes focusable by script only (`tabindex="-1"`).
pub fn focus_on(selector: &'static str) {
    #[cfg(feature = "hydrate")]
    try_focus(selector, 40);
    #[cfg(not(feature = "hydrate"))]
    let _ = selector;
}

#[cfg(feature = "hydrate")]
fn try_focus(selector: &'static str, tries_left: u32) {
    use wasm_bindgen::JsCast;
    let found = document()
        .query_selector(selector)
        .ok()
        .flatten()
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok());
    match found {
        Some(el) => {
            if !el.has_attribute("tabindex") {
                let _ = el.set_attribute("tabindex", "-1");
            }
            let _ = el.focus();
        }
        None if tries_left > 0 => set_timeout(
            move || try_focus(selector, tries_left - 1),
            std::time::Duration::from_millis(50),
        ),
        None => {}
    }
}
