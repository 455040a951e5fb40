//! The console's wasm entry point: hydrate the server-rendered page, nothing else.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(herald_app::App);
}
