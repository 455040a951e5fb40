//! Settings: your account and password, the tenant you work in, and (admins)
//! the console's users.

use herald_engine::model::{Role, TenantOut, UserOut};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::auth::ChangePassword;
use crate::components::dialog::ConfirmDialog;
use crate::components::list::signed_in;
use crate::components::ui::{Columns, ErrorNotice, FieldMessage, form_level_error, when};
use crate::error::ConsoleError;
use crate::pages::admin::fns::{
    CreateUser, DeleteUser, SwitchTenant, UpdateUser, list_users, tenant_choice,
};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let me = signed_in().0;

    view! {
        <Title text="Settings"/>
        <h1>"Settings"</h1>
        <section aria-labelledby="account-heading">
            <h2 id="account-heading">"Your account"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    me.await.ok().flatten().map(|u| view! {
                        <dl class="facts">
                            <dt>"Email"</dt><dd>{u.email}</dd>
                            <dt>"Role"</dt><dd>{u.role.as_str()}</dd>
                            <dt>"Scope"</dt><dd>{if u.tenant_id.is_some() { "one tenant" } else { "global" }}</dd>
                        </dl>
                    })
                })}
            </Suspense>
            <PasswordForm/>
        </section>
        <TenantSection/>
        <UsersSection/>
    }
}

#[component]
fn PasswordForm() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let error = Signal::derive(move || change.value().get().and_then(Result::err));
    view! {
        <h3>"Change password"</h3>
        <p class="muted">"Changing it signs you out everywhere, this browser included."</p>
        <ActionForm action=change attr:class="stack narrow" attr:aria-label="Change password">
            <label>
                "Current password"
                <input type="password" name="current" autocomplete="current-password" required/>
            </label>
            <FieldMessage error name="current" id="current-error"/>
            <label>
                "New password (at least 8 characters)"
                <input type="password" name="new_password" autocomplete="new-password" minlength="8" required/>
            </label>
            <FieldMessage error name="new_password" id="new-password-error"/>
            {move || form_level_error(error.get(), &["current", "new_password"]).map(|m| view! {
                <p class="error" role="alert">{m}</p>
            })}
            <button type="submit" disabled=move || change.pending().get()>"Change password"</button>
        </ActionForm>
    }
}

#[component]
fn TenantSection() -> impl IntoView {
    let choice = OnceResource::new(tenant_choice());
    let switch = ServerAction::<SwitchTenant>::new();
    view! {
        <section aria-labelledby="tenant-heading">
            <h2 id="tenant-heading">"Tenant"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match choice.await {
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                        Ok(c) if !c.can_switch => view! {
                            <p>"You work in tenant " <strong>{c.current}</strong> "."</p>
                        }.into_any(),
                        Ok(c) => {
                            let current = c.current.clone();
                            view! {
                                <p class="muted">"Pages, the live feed and API keys show the tenant chosen here."</p>
                                <ActionForm action=switch attr:class="inline-form" attr:aria-label="Switch tenant">
                                    <label>
                                        "Working tenant "
                                        <select name="slug">
                                            {c.tenants.into_iter().map(|t| {
                                                let selected = t.slug == current;
                                                view! { <option value=t.slug.clone() selected=selected>{format!("{} ({})", t.name, t.slug)}</option> }
                                            }).collect_view()}
                                        </select>
                                    </label>
                                    <button type="submit">"Switch"</button>
                                </ActionForm>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

fn tenant_slug(tenants: &[TenantOut], user: &UserOut) -> String {
    user.tenant_id
        .and_then(|id| tenants.iter().find(|t| t.id == id))
        .map(|t| t.slug.clone())
        .unwrap_or_default()
}

#[component]
fn UsersSection() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let delete = ServerAction::<DeleteUser>::new();
    let signed_in_user = signed_in().0;
    let users = Resource::new(
        move || {
            (
                create.version().get(),
                update.version().get(),
                delete.version().get(),
            )
        },
        |_| async move {
            let users = list_users().await?;
            let tenants = tenant_choice().await?.tenants;
            Ok::<_, ConsoleError>((users, tenants))
        },
    );
    let create_error = Signal::derive(move || create.value().get().and_then(Result::err));
    let row_error = move || {
        update
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| delete.value().get().and_then(Result::err))
            .map(|e| e.to_string())
    };

    view! {
        <section aria-labelledby="users-heading">
            <h2 id="users-heading">"Users"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Err(ConsoleError::Forbidden { .. }) => view! {
                            <p class="muted">"Only admins can see and manage console users."</p>
                        }.into_any(),
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                        Ok((users, tenants)) => {
                            let me = signed_in_user.await.ok().flatten().map(|u| u.id);
                            let tenants_for_form = tenants.clone();
                            view! {
                                <Show when=move || row_error().is_some()>
                                    <p class="error" role="alert">{row_error}</p>
                                </Show>
                                <table aria-label="Users">
                                    <Columns names=&["Email", "Role and tenant", "Last sign-in"] actions=true/>
                                    <tbody>
                                        {users.into_iter().map(|u| {
                                            let slug = tenant_slug(&tenants, &u);
                                            let choices = tenants.clone();
                                            let locked = u.locked_until.filter(|t| *t > chrono::Utc::now());
                                            view! {
                                                <tr>
                                                    <td data-label="Email">
                                                        {u.email.clone()}
                                                        {locked.map(|t| view! { <br/><span class="badge bad">{format!("locked until {}", when(t))}</span> })}
                                                    </td>
                                                    <td data-label="Role and tenant">
                                                        <ActionForm action=update attr:class="inline-form" attr:aria-label=format!("Role of {}", u.email)>
                                                            <input type="hidden" name="id" value=u.id.to_string()/>
                                                            <RoleSelect selected=u.role/>
                                                            <TenantSelect tenants=choices selected=slug/>
                                                            <button type="submit">"Save"</button>
                                                        </ActionForm>
                                                    </td>
                                                    <td data-label="Last sign-in">{u.last_login_at.map(when).unwrap_or_else(|| "never".into())}</td>
                                                    <td class="actions">
                                                        // Admins cannot delete themselves: not offered.
                                                        {(me.as_ref() != Some(&u.id)).then(|| {
                                                            let open = RwSignal::new(false);
                                                            let id = u.id.to_string();
                                                            view! {
                                                                <button type="button" class="danger" aria-label=format!("Delete {}", u.email)
                                                                    on:click=move |_| open.set(true)>"Delete"</button>
                                                                <ConfirmDialog
                                                                    id=format!("delete-user-{id}")
                                                                    open
                                                                    title=format!("Delete {}?", u.email)
                                                                    message="They are signed out everywhere and can no longer sign in. What they did stays in the audit log. This cannot be undone.".to_string()
                                                                    confirm="Delete the user".to_string()
                                                                    danger=true
                                                                    on_confirm=Callback::new(move |()| { delete.dispatch(DeleteUser { id: id.clone() }); })
                                                                />
                                                            }
                                                        })}
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                <h3>"Add a user"</h3>
                                <ActionForm action=create attr:class="stack narrow" attr:aria-label="Add a user">
                                    <label>"Email" <input type="email" name="email" required/></label>
                                    <FieldMessage error=create_error name="email" id="new-user-email-error"/>
                                    <label>"Role" <RoleSelect selected=Role::Viewer/></label>
                                    <label>"Tenant" <TenantSelect tenants=tenants_for_form selected=String::new()/></label>
                                    <FieldMessage error=create_error name="tenant" id="new-user-tenant-error"/>
                                    <label>"Initial password (at least 8 characters)"
                                        <input type="password" name="password" autocomplete="new-password" minlength="8" required/>
                                    </label>
                                    <FieldMessage error=create_error name="password" id="new-user-password-error"/>
                                    {move || form_level_error(create_error.get(), &["email", "tenant", "password"]).map(|m| view! {
                                        <p class="error" role="alert">{m}</p>
                                    })}
                                    <button type="submit" disabled=move || create.pending().get()>"Add user"</button>
                                </ActionForm>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn RoleSelect(selected: Role) -> impl IntoView {
    view! {
        <select name="role" aria-label="Role">
            {Role::ALL.into_iter().map(|r| view! {
                <option value=r.as_str() selected={r == selected}>{r.as_str()}</option>
            }).collect_view()}
        </select>
    }
}

/// Empty value: a global user.
#[component]
fn TenantSelect(tenants: Vec<TenantOut>, selected: String) -> impl IntoView {
    view! {
        <select name="tenant" aria-label="Tenant">
            <option value="" selected=selected.is_empty()>"global (every tenant)"</option>
            {tenants.into_iter().map(|t| {
                let is = t.slug == selected;
                view! { <option value=t.slug.clone() selected=is>{t.slug.clone()}</option> }
            }).collect_view()}
        </select>
    }
}
