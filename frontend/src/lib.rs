//! The console's wasm entry point: hydrate the server-rendered page, nothing else.

// The console's view types nest deeply (components are not type-erased in
// debug builds either, see Cargo.toml); the default limit of 128 is too low.
#![recursion_limit = "256"]

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(herald_app::App);
}
