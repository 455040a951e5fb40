//! Named retry policies: the list with each schedule, and a form whose preview
//! is computed in the browser, with the engine's own code, as you type.

use herald_engine::model::{Permission, RetryPolicyOut};
use herald_engine::retry::RetryPolicy;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::dialog::ConfirmDialog;
use crate::components::list::{Allowed, Listing};
use crate::components::ui::{Columns, ErrorNotice, FieldMessage, form_level_error};
use crate::forms::{PolicyFields, format_duration_secs};
use crate::pages::endpoints::list::SectionTabs;
use crate::pages::policies::fns::{
    DeleteRetryPolicy, PolicyForm, SaveRetryPolicy, list_retry_policies,
};

const FIELDS: [&str; 11] = [
    "name",
    "description",
    "kind",
    "delays",
    "base",
    "factor",
    "cap",
    "max_attempts",
    "max_age",
    "jitter",
    "give_up_on",
];

fn schedule_text(policy: &RetryPolicy) -> String {
    let schedule = policy
        .preview_offsets_secs()
        .into_iter()
        .map(format_duration_secs)
        .collect::<Vec<_>>()
        .join(" → ");
    if policy.give_up_on.is_empty() {
        schedule
    } else {
        format!(
            "{schedule}; gives up at once on {}",
            crate::forms::give_up_text(policy)
        )
    }
}

/// The form's policy fields for `policy`, with no id, name or description.
fn policy_form(policy: &RetryPolicy) -> PolicyForm {
    let fields = PolicyFields::from_policy(policy);
    PolicyForm {
        kind: fields.kind,
        delays: fields.delays,
        base: fields.base,
        factor: fields.factor,
        cap: fields.cap,
        max_attempts: fields.max_attempts,
        max_age: fields.max_age,
        jitter_percent: fields.jitter_percent,
        give_up_on: fields.give_up_on,
        ..PolicyForm::default()
    }
}

/// A new policy's form, starting from the standard schedule.
fn blank_form() -> PolicyForm {
    policy_form(&RetryPolicy::STANDARD)
}

/// The form to change `p`.
fn form_of(p: &RetryPolicyOut) -> PolicyForm {
    PolicyForm {
        id: p.id.to_string(),
        name: p.name.clone(),
        description: p.description.clone(),
        ..policy_form(&p.policy)
    }
}

#[component]
pub fn PoliciesPage() -> impl IntoView {
    let save = ServerAction::<SaveRetryPolicy>::new();
    let delete = ServerAction::<DeleteRetryPolicy>::new();
    let list = Resource::new(
        move || (save.version().get(), delete.version().get()),
        |_| list_retry_policies(),
    );
    let form = RwSignal::new(blank_form());
    // A successful save empties the form for the next policy.
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            form.set(blank_form());
        }
    });

    view! {
        <Title text="Retry policies"/>
        <div class="page-head"><h1>"Retry policies"</h1></div>
        <SectionTabs/>
        <p class="muted">
            "Named policies endpoints can follow. Changing one changes the schedule of every endpoint that follows it, from its next attempt."
        </p>
        <Listing resource=list
            empty={|| view! {
                <p class="muted">"No named policies yet: endpoints use the Standard Webhooks schedule unless given one."</p>
            }}
            rows={move |policies: Vec<RetryPolicyOut>| view! {
                        <table>
                            <Columns names=&["Name", "Attempts at", "Endpoints"] actions=true/>
                            <tbody>
                                {policies.into_iter().map(|p| {
                                    let schedule = schedule_text(&p.policy);
                                    let editing = form_of(&p);
                                    let id = p.id.to_string();
                                    let edit = Callback::new(move |()| form.set(editing.clone()));
                                    let confirm_delete = RwSignal::new(false);
                                    let remove = Callback::new(move |()| {
                                        delete.dispatch(DeleteRetryPolicy { id: id.clone() });
                                    });
                                    let dialog_id = format!("delete-policy-{}", p.id);
                                    let dialog_title = format!("Delete the policy {}?", p.name);
                                    let dialog_message = if p.endpoints == 0 {
                                        "No endpoint follows it. It cannot be brought back.".to_string()
                                    } else {
                                        format!("{} endpoints follow it: Herald refuses to delete a policy in use; give them another one first.", p.endpoints)
                                    };
                                    let (edit_label, delete_label) = (format!("Edit {}", p.name), format!("Delete {}", p.name));
                                    view! {
                                        <tr>
                                            <td data-label="Name"><strong>{p.name.clone()}</strong><br/><span class="muted">{p.description.clone()}</span></td>
                                            <td data-label="Attempts at">{schedule}</td>
                                            <td data-label="Endpoints">{p.endpoints}</td>
                                            <td class="actions"><Allowed permission=Permission::ManageEndpoints>
                                                <button type="button" class="secondary" aria-label=edit_label.clone()
                                                    on:click=move |_| edit.run(())>"Edit"</button>
                                                <button type="button" class="danger" aria-label=delete_label.clone()
                                                    on:click=move |_| confirm_delete.set(true)>"Delete"</button>
                                                <ConfirmDialog
                                                    id=dialog_id.clone()
                                                    open=confirm_delete
                                                    title=dialog_title.clone()
                                                    message=dialog_message.clone()
                                                    confirm="Delete the policy".to_string()
                                                    danger=true
                                                    on_confirm=remove
                                                />
                                            </Allowed></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
            }}/>
        {move || delete.value().get().and_then(Result::err).map(|e| view! { <ErrorNotice error=e/> })}
        <Allowed permission=Permission::ManageEndpoints>
            <PolicyEditor form save/>
        </Allowed>
    }
}

#[component]
fn PolicyEditor(form: RwSignal<PolicyForm>, save: ServerAction<SaveRetryPolicy>) -> impl IntoView {
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let preview = move || form.with(|f| f.fields().to_policy());
    let exponential = move || form.with(|f| f.kind == "exponential");
    let heading = move || {
        if form.with(|f| f.id.is_empty()) {
            "New retry policy"
        } else {
            "Edit retry policy"
        }
    };

    view! {
        <section aria-labelledby="policy-form-heading">
            <h2 id="policy-form-heading">{heading}</h2>
            <form
                class="stack form"
                aria-label="Retry policy"
                novalidate=true
                on:submit=move |ev| {
                    ev.prevent_default();
                    save.dispatch(SaveRetryPolicy { form: form.get_untracked() });
                }
            >
                <div class="row">
                    <label>"Name"
                        <input type="text" prop:value=move || form.with(|f| f.name.clone()) on:input=move |ev| form.update(|f| f.name = event_target_value(&ev))/>
                        <FieldMessage error name="name" id="name-error"/>
                    </label>
                    <label>"Description"
                        <input type="text" prop:value=move || form.with(|f| f.description.clone()) on:input=move |ev| form.update(|f| f.description = event_target_value(&ev))/>
                        <FieldMessage error name="description" id="description-error"/>
                    </label>
                </div>
                <fieldset>
                    <legend>"Backoff"</legend>
                    <label class="inline">
                        <input type="radio" name="kind" value="schedule"
                            prop:checked=move || !exponential()
                            on:change=move |_| form.update(|f| f.kind = "schedule".into())/>
                        "Explicit schedule"
                    </label>
                    <label class="inline">
                        <input type="radio" name="kind" value="exponential"
                            prop:checked=exponential
                            on:change=move |_| form.update(|f| f.kind = "exponential".into())/>
                        "Exponential"
                    </label>
                </fieldset>
                <Show
                    when=exponential
                    fallback=move || view! {
                        <label>"Delays between attempts"
                            <input type="text" placeholder="5s, 5m, 30m, 2h" prop:value=move || form.with(|f| f.delays.clone()) on:input=move |ev| form.update(|f| f.delays = event_target_value(&ev))/>
                            <span class="help">"Comma-separated, in s, m, h or d. Past the end the last delay repeats."</span>
                            <FieldMessage error name="delays" id="delays-error"/>
                        </label>
                    }
                >
                    <div class="row">
                        <label>"First delay" <input type="text" prop:value=move || form.with(|f| f.base.clone()) on:input=move |ev| form.update(|f| f.base = event_target_value(&ev))/>
                            <FieldMessage error name="base" id="base-error"/></label>
                        <label>"Factor" <input type="text" inputmode="decimal" prop:value=move || form.with(|f| f.factor.clone()) on:input=move |ev| form.update(|f| f.factor = event_target_value(&ev))/>
                            <FieldMessage error name="factor" id="factor-error"/></label>
                        <label>"Longest delay" <input type="text" prop:value=move || form.with(|f| f.cap.clone()) on:input=move |ev| form.update(|f| f.cap = event_target_value(&ev))/>
                            <FieldMessage error name="cap" id="cap-error"/></label>
                    </div>
                </Show>
                <div class="row">
                    <label>"Attempts in all" <input type="text" inputmode="numeric" prop:value=move || form.with(|f| f.max_attempts.clone()) on:input=move |ev| form.update(|f| f.max_attempts = event_target_value(&ev))/>
                        <FieldMessage error name="max_attempts" id="attempts-error"/></label>
                    <label>"Give up after" <input type="text" placeholder="no limit" prop:value=move || form.with(|f| f.max_age.clone()) on:input=move |ev| form.update(|f| f.max_age = event_target_value(&ev))/>
                        <FieldMessage error name="max_age" id="age-error"/></label>
                    <label>"Jitter (%)" <input type="text" inputmode="numeric" prop:value=move || form.with(|f| f.jitter_percent.clone()) on:input=move |ev| form.update(|f| f.jitter_percent = event_target_value(&ev))/>
                        <FieldMessage error name="jitter" id="jitter-error"/></label>
                </div>
                <label>"Give up at once on statuses"
                    <input type="text" placeholder="none: every failure but 410 is retried" aria-describedby="give-up-help"
                        prop:value=move || form.with(|f| f.give_up_on.clone()) on:input=move |ev| form.update(|f| f.give_up_on = event_target_value(&ev))/>
                    <span class="help" id="give-up-help">"Comma-separated, such as " <code>"400, 401, 403, 404, 422"</code> ": the receiver says the request itself is wrong, so retrying cannot help."</span>
                    <FieldMessage error name="give_up_on" id="give-up-error"/></label>
                <div class="preview" aria-live="polite">
                    <strong>"Schedule preview: "</strong>
                    {move || match preview() {
                        Ok(policy) => view! {
                            <span data-testid="schedule-preview">
                                {format!("{} attempts at {}", policy.preview_offsets_secs().len(), schedule_text(&policy))}
                            </span>
                        }.into_any(),
                        Err(e) => view! { <span class="error">{format!("{}: {}", e.field, e.message)}</span> }.into_any(),
                    }}
                </div>
                {move || form_level_error(error.get(), &FIELDS).map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <div class="row">
                    <button type="submit" disabled=move || save.pending().get()>
                        {move || if form.with(|f| f.id.is_empty()) { "Create policy" } else { "Save policy" }}
                    </button>
                    <button type="button" class="secondary" on:click=move |_| form.set(blank_form())>"Clear"</button>
                </div>
            </form>
        </section>
    }
}
