//! `/docs`: the REST API's reference, rendered from its OpenAPI document, with
//! a "Try it" form on each operation that sends the request from the browser
//! with an API key typed into the page (kept in memory only, never sent to the
//! console's server functions).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::ui::ErrorNotice;
use crate::pages::docs::fns::{ApiOperation, ApiReference, ApiSchema, get_api_reference};

#[component]
pub fn ApiDocsPage() -> impl IntoView {
    let reference = OnceResource::new(get_api_reference());
    let api_key = RwSignal::new(String::new());
    view! {
        <Title text="API reference"/>
        <div class="docs">
            <header class="docs-head">
                <a href="/" class="brand">"Herald"</a>
                <span class="muted">" · API reference · "</span>
                <a href="/api/v1/openapi.json">"openapi.json"</a>
            </header>
            <main>
                <Suspense fallback=|| view! { <p class="muted">"Loading the reference…"</p> }>
                    {move || Suspend::new(async move {
                        match reference.await {
                            Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                            Ok(r) => view! { <Reference reference=r api_key/> }.into_any(),
                        }
                    })}
                </Suspense>
            </main>
        </div>
    }
}

#[component]
fn Reference(reference: ApiReference, api_key: RwSignal<String>) -> impl IntoView {
    let toc = reference
        .groups
        .iter()
        .map(|g| {
            let href = format!("#tag-{}", slug(&g.tag));
            view! { <li><a href=href>{g.tag.clone()}</a>" "<span class="muted">{format!("({})", g.operations.len())}</span></li> }
        })
        .collect_view();
    let groups = reference
        .groups
        .into_iter()
        .map(|g| {
            let id = format!("tag-{}", slug(&g.tag));
            let labelled_by = id.clone();
            view! {
                <section class="docs-group" aria-labelledby=labelled_by>
                    <h2 id=id>{g.tag}</h2>
                    <p class="muted">{rich(&g.description)}</p>
                    {g.operations.into_iter().map(|op| view! { <Operation op api_key/> }).collect_view()}
                </section>
            }
        })
        .collect_view();
    let schemas = reference
        .schemas
        .into_iter()
        .map(|s| view! { <Schema schema=s/> })
        .collect_view();
    view! {
        <h1>{reference.title}" "<span class="muted">{reference.version}</span></h1>
        <p class="docs-intro">{rich(&reference.description)}</p>
        <section class="docs-key" aria-labelledby="key-heading">
            <h2 id="key-heading">"Your API key"</h2>
            <p class="muted">"Used by the “Try it” forms below, in this tab only. Create one on the API keys page."</p>
            <label>"API key "
                <input type="password" autocomplete="off" placeholder="hrld_…" class="mono"
                    prop:value=move || api_key.get()
                    on:input=move |ev| api_key.set(event_target_value(&ev))/>
            </label>
        </section>
        <nav aria-label="API sections"><ul class="docs-toc">{toc}<li><a href="#schemas">"Schemas"</a></li></ul></nav>
        {groups}
        <section aria-labelledby="schemas">
            <h2 id="schemas">"Schemas"</h2>
            {schemas}
        </section>
    }
}

/// Text with `code` spans, as the document's descriptions write them.
fn rich(text: &str) -> impl IntoView + use<> {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            let part = part.to_string();
            if i % 2 == 1 {
                view! { <code>{part}</code> }.into_any()
            } else {
                part.into_any()
            }
        })
        .collect_view()
}

fn slug(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

#[component]
fn Operation(op: ApiOperation, api_key: RwSignal<String>) -> impl IntoView {
    let method_class = format!("method {}", op.method.to_lowercase());
    let heading = format!("{}-heading", op.id);
    let labelled_by = heading.clone();
    let params = (!op.params.is_empty()).then(|| {
        view! {
            <h4>"Parameters"</h4>
            <table class="docs-table">
                <thead><tr><th scope="col">"Name"</th><th scope="col">"In"</th><th scope="col">"Type"</th><th scope="col">"Description"</th></tr></thead>
                <tbody>
                    {op.params.iter().map(|p| view! {
                        <tr>
                            <td><code>{p.name.clone()}</code>{p.required.then_some(" (required)")}</td>
                            <td>{p.location.clone()}</td>
                            <td><code>{p.kind.clone()}</code></td>
                            <td>{rich(&p.description)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        }
    });
    let request = op.request.clone().map(|b| {
        view! {
            <h4>"Request body " <code>{b.schema}</code></h4>
            {(!b.description.is_empty()).then(|| view! { <p>{rich(&b.description)}</p> })}
            <pre class="example" tabindex="0" aria-label="Request example"><code>{b.example}</code></pre>
        }
    });
    let responses = op
        .responses
        .iter()
        .map(|r| {
            let class = if r.status.starts_with('2') || r.status.starts_with('1') { "status ok" } else { "status bad" };
            view! {
                <details class="docs-response">
                    <summary>
                        <span class=class>{r.status.clone()}</span>" "{rich(&r.description)}
                        {r.schema.clone().map(|s| view! { " " <code>{s}</code> })}
                    </summary>
                    {r.example.clone().map(|e| view! { <pre class="example" tabindex="0"><code>{e}</code></pre> })}
                </details>
            }
        })
        .collect_view();
    view! {
        <article class="docs-op" id=op.id.clone() aria-labelledby=labelled_by>
            <h3 id=heading>
                <span class=method_class>{op.method.clone()}</span>" "
                <code>{op.path.clone()}</code>" "
                <span class="docs-summary">{rich(&op.summary)}</span>
            </h3>
            {(!op.description.is_empty()).then(|| view! { <p class="docs-desc">{rich(&op.description)}</p> })}
            <p class="muted">{if op.authenticated { "Needs an API key (Authorization: Bearer …)." } else { "No API key needed." }}</p>
            {params}
            {request}
            <h4>"Responses"</h4>
            {responses}
            {(!op.websocket).then(|| view! { <TryIt op=op.clone() api_key/> })}
        </article>
    }
}

/// Sends the operation's request from the browser and shows the answer.
#[component]
fn TryIt(op: ApiOperation, api_key: RwSignal<String>) -> impl IntoView {
    let path_params: Vec<String> = op
        .params
        .iter()
        .filter(|p| p.location == "path")
        .map(|p| p.name.clone())
        .collect();
    let values: Vec<(String, RwSignal<String>)> = path_params
        .iter()
        .map(|n| (n.clone(), RwSignal::new(String::new())))
        .collect();
    let has_query = op.params.iter().any(|p| p.location == "query");
    let query = RwSignal::new(String::new());
    let body = RwSignal::new(
        op.request
            .as_ref()
            .map(|b| b.example.clone())
            .unwrap_or_default(),
    );
    let answer: RwSignal<Option<(u16, String)>> = RwSignal::new(None);
    let sending = RwSignal::new(false);
    let (method, path) = (op.method.clone(), op.path.clone());
    let has_body = op.request.is_some();
    let id = op.id.clone();
    let inputs = values
        .iter()
        .map(|(name, value)| {
            let value = *value;
            view! {
                <label>{format!("{name} ")}
                    <input type="text" class="mono" prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
                </label>
            }
        })
        .collect_view();
    let send = move |_| {
        let mut url = path.clone();
        for (name, value) in &values {
            url = url.replace(
                &format!("{{{name}}}"),
                &crate::components::ui::query_escape(&value.get_untracked()),
            );
        }
        let q = query.get_untracked();
        if !q.trim().is_empty() {
            url = format!("{url}?{}", q.trim().trim_start_matches('?'));
        }
        let body = has_body
            .then(|| body.get_untracked())
            .filter(|b| !b.trim().is_empty());
        sending.set(true);
        send_request(
            method.clone(),
            url,
            api_key.get_untracked(),
            body,
            answer,
            sending,
        );
    };
    view! {
        <details class="try-it">
            <summary>"Try it"</summary>
            <div class="try-it-form">
                {inputs}
                {has_query.then(|| view! {
                    <label>"Query string "
                        <input type="text" class="mono" placeholder="limit=10" prop:value=move || query.get() on:input=move |ev| query.set(event_target_value(&ev))/>
                    </label>
                })}
                {has_body.then(|| view! {
                    <label>"Body (JSON)"
                        <textarea class="mono" rows="8" prop:value=move || body.get() on:input=move |ev| body.set(event_target_value(&ev))></textarea>
                    </label>
                })}
                <button type="button" on:click=send disabled=move || sending.get()>
                    {format!("Send {}", op.method)}
                </button>
                <div role="status" aria-live="polite" id=format!("{id}-answer")>
                    {move || answer.get().map(|(status, text)| view! {
                        <p><strong>{format!("HTTP {status}")}</strong></p>
                        <pre class="example" tabindex="0"><code>{text}</code></pre>
                    })}
                </div>
            </div>
        </details>
    }
}

fn send_request(
    method: String,
    url: String,
    key: String,
    body: Option<String>,
    answer: RwSignal<Option<(u16, String)>>,
    sending: RwSignal<bool>,
) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        let result = fetch(&method, &url, &key, body.as_deref()).await;
        answer.set(Some(
            result.unwrap_or_else(|e| (0, format!("The request failed: {e}"))),
        ));
        sending.set(false);
    });
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (method, url, key, body);
        answer.set(Some((
            0,
            "Requests are sent once the page is interactive.".into(),
        )));
        sending.set(false);
    }
}

#[cfg(feature = "hydrate")]
async fn fetch(
    method: &str,
    url: &str,
    key: &str,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let fail = |e: wasm_bindgen::JsValue| format!("{e:?}");
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(fail)?;
    if !key.trim().is_empty() {
        headers
            .set("Authorization", &format!("Bearer {}", key.trim()))
            .map_err(fail)?;
    }
    if let Some(body) = body {
        headers
            .set("Content-Type", "application/json")
            .map_err(fail)?;
        init.set_body(&wasm_bindgen::JsValue::from_str(body));
    }
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(fail)?;
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(fail)?
        .dyn_into()
        .map_err(fail)?;
    let text = JsFuture::from(response.text().map_err(fail)?)
        .await
        .map_err(fail)?
        .as_string()
        .unwrap_or_default();
    let shown = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    Ok((response.status(), shown))
}

#[component]
fn Schema(schema: ApiSchema) -> impl IntoView {
    let id = format!("schema-{}", schema.name);
    view! {
        <details class="docs-schema" id=id>
            <summary><code>{schema.name.clone()}</code>" "<span class="muted">{rich(&schema.description)}</span></summary>
            {(!schema.values.is_empty()).then(|| view! {
                <p>"One of: " <code>{schema.values.join(", ")}</code></p>
            })}
            {(!schema.fields.is_empty()).then(|| view! {
                <table class="docs-table">
                    <thead><tr><th scope="col">"Field"</th><th scope="col">"Type"</th><th scope="col">"Description"</th></tr></thead>
                    <tbody>
                        {schema.fields.into_iter().map(|f| view! {
                            <tr>
                                <td><code>{f.name}</code>{f.required.then_some(" (required)")}</td>
                                <td><code>{f.kind}</code></td>
                                <td>{rich(&f.description)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </details>
    }
}
