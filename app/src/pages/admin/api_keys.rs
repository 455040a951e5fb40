//! API keys of the working tenant: create (the key is shown once), list by
//! prefix and name, revoke.

use herald_engine::model::{ApiKeyOut, Permission, Scope};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::list::{Allowed, Listing};
use crate::components::ui::{Columns, FieldMessage, form_level_error, when};
use crate::pages::admin::fns::{CreateApiKey, RevokeApiKey, list_api_keys};

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    let create_error = Signal::derive(move || create.value().get().and_then(Result::err));
    let revoke_error = move || {
        revoke
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };
    let created = move || create.value().get().and_then(Result::ok);

    view! {
        <Title text="API keys"/>
        <div class="page-head"><h1>"API keys"</h1></div>
        <p class="muted">
            "Keys authenticate services on the REST API and belong to the working tenant. A key is shown once, when it is made; Herald keeps only its digest."
        </p>
        {move || created().map(|c| view! {
            <div class="notice" role="status" data-testid="new-key">
                <p>"Key " <strong>{c.listing.name.clone()}</strong> " created. Copy it now: it will not be shown again."</p>
                <pre class="secret"><code>{c.key.clone()}</code></pre>
            </div>
        })}
        <Show when=move || revoke_error().is_some()>
            <p class="error" role="alert">{revoke_error}</p>
        </Show>
        <Listing resource=keys
            empty={|| view! { <p class="muted">"No keys yet."</p> }}
            rows={move |keys: Vec<ApiKeyOut>| view! {
                        <table aria-label="API keys">
                            <Columns names=&["Name", "Prefix", "Scope", "Created", "Last used"] actions=true/>
                            <tbody>
                                {keys.into_iter().map(|k| view! {
                                    <tr>
                                        <td data-label="Name">{k.name.clone()}</td>
                                        <td data-label="Prefix"><code>{format!("{}…", k.prefix)}</code></td>
                                        <td data-label="Scope">{k.scope.as_str()}</td>
                                        <td data-label="Created">{when(k.created_at)}</td>
                                        <td data-label="Last used">{k.last_used_at.map(when).unwrap_or_else(|| "never".into())}</td>
                                        <td>
                                            <ActionForm action=revoke attr:aria-label=format!("Revoke {}", k.name)>
                                                <input type="hidden" name="id" value=k.id.to_string()/>
                                                <button type="submit" class="danger">"Revoke"</button>
                                            </ActionForm>
                                        </td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
            }}/>
        <Allowed permission=Permission::ManageApiKeys>
        <h2>"Create a key"</h2>
        <ActionForm action=create attr:class="stack narrow" attr:aria-label="Create a key">
            <label>"Name" <input type="text" name="name" maxlength="100" required/></label>
            <FieldMessage error=create_error name="name" id="key-name-error"/>
            <label>
                "Scope"
                <select name="scope">
                    {Scope::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected={s == Scope::Ingest}>{s.as_str()}</option>
                    }).collect_view()}
                </select>
            </label>
            {move || form_level_error(create_error.get(), &["name"]).map(|m| view! {
                <p class="error" role="alert">{m}</p>
            })}
            <button type="submit" disabled=move || create.pending().get()>"Create key"</button>
        </ActionForm>
        </Allowed>
    }
}
