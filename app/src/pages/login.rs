use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::auth::Login;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next").unwrap_or_else(|| "/".into()));
    let error = move || {
        login
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };

    view! {
        <Title text="Sign in"/>
        <main class="standalone login">
            <h1>"Herald"</h1>
            <p class="muted">"Sign in to the console."</p>
            <ActionForm action=login attr:class="stack" attr:aria-label="Sign in">
                <input type="hidden" name="next" prop:value=next/>
                <label>
                    "Email"
                    <input type="email" name="email" autocomplete="username" required/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <Show when=move || error().is_some()>
                    <p class="error" role="alert">{error}</p>
                </Show>
                <button type="submit" disabled=move || login.pending().get()>"Sign in"</button>
            </ActionForm>
        </main>
    }
}
