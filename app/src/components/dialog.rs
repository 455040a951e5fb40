//! A confirmation before an action that cannot be taken back, or that touches
//! many items at once: a modal dialog that says what will happen and to how
//! many, asks for the reason where one is recorded, and confirms or cancels.
//! Escape and Cancel close it without doing anything.

use leptos::prelude::*;

#[component]
pub fn ConfirmDialog(
    /// The dialog's id; its title and message ids derive from it.
    #[prop(into)]
    id: String,
    /// Open while true; closing it (Cancel, Escape) sets it back to false.
    open: RwSignal<bool>,
    #[prop(into)] title: Signal<String>,
    /// What will happen, and to how many items.
    #[prop(into)]
    message: Signal<String>,
    /// The confirming button's label ("Reprocess 3 entries").
    #[prop(into)]
    confirm: Signal<String>,
    /// Asks for a reason, kept in this signal; confirming needs one.
    #[prop(optional)]
    reason: Option<RwSignal<String>>,
    /// The confirming button is drawn as destructive.
    #[prop(optional)]
    danger: bool,
    on_confirm: Callback<()>,
    /// Choices drawn between the message and the reason.
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    let missing = RwSignal::new(false);
    Effect::new(move |_| {
        let want = open.get();
        if let Some(d) = dialog.get() {
            if want && !d.open() {
                missing.set(false);
                let _ = d.show_modal();
            } else if !want && d.open() {
                d.close();
            }
        }
    });
    let title_id = format!("{id}-title");
    let message_id = format!("{id}-message");
    let (labelled_by, described_by) = (title_id.clone(), message_id.clone());
    let reason_id = format!("{id}-reason");
    let error_id = format!("{id}-reason-error");
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if reason.is_some_and(|r| r.with_untracked(|r| r.trim().is_empty())) {
            missing.set(true);
            return;
        }
        open.set(false);
        on_confirm.run(());
    };
    view! {
        <dialog
            node_ref=dialog
            id=id
            class="confirm"
            aria-labelledby=labelled_by
            aria-describedby=described_by
            on:close=move |_| open.set(false)
        >
            <form on:submit=submit>
                <h2 id=title_id>{title}</h2>
                <p id=message_id>{message}</p>
                {children.map(|c| c())}
                {reason.map(|r| {
                    let (error_id, described) = (error_id.clone(), error_id.clone());
                    view! {
                        <label for=reason_id.clone()>"Reason " <span class="help">"(recorded in the audit log)"</span></label>
                        <input
                            type="text"
                            id=reason_id.clone()
                            autofocus
                            aria-required="true"
                            aria-invalid=move || missing.get().to_string()
                            aria-describedby=move || missing.get().then(|| described.clone())
                            prop:value=move || r.get()
                            on:input=move |ev| {
                                r.set(event_target_value(&ev));
                                missing.set(false);
                            }
                        />
                        <Show when=move || missing.get()>
                            <p class="field-error" id=error_id.clone() role="alert">"Say why: the reason is recorded."</p>
                        </Show>
                    }
                })}
                <div class="dialog-actions">
                    <button type="submit" class:danger=danger autofocus=reason.is_none()>{confirm}</button>
                    <button type="button" class="secondary" on:click=move |_| open.set(false)>"Cancel"</button>
                </div>
            </form>
        </dialog>
    }
}
