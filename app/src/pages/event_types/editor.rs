//! The schema editor: a schema and its examples, checked on the server as
//! they are typed (a moment after the last key), with what the schema says
//! of each example and what it changes from the type's current version.

use herald_engine::model::SchemaDraftCheck;
use herald_engine::model::schema_compat::describe_all;
use leptos::prelude::*;

use crate::components::ui::{ErrorNotice, FieldMessage};
use crate::error::ConsoleError;
use crate::pages::event_types::fns::CheckSchemaDraft;

/// How long after the last key the draft is checked.
const SETTLE_MS: u64 = 400;

/// `Example 2: /amount: minimum (…)`: one line per example.
fn example_lines(check: &SchemaDraftCheck) -> Vec<(bool, String)> {
    check
        .examples
        .iter()
        .map(|e| {
            let n = e.index + 1;
            if e.problems.is_empty() {
                (true, format!("Example {n}: passes"))
            } else {
                let each: Vec<String> = e.problems.iter().map(|p| p.describe()).collect();
                (false, format!("Example {n}: refused: {}", each.join("; ")))
            }
        })
        .collect()
}

/// What the draft changes from the current version, in one sentence.
fn comparison(check: &SchemaDraftCheck) -> Option<(bool, String)> {
    let version = check.compared_with?;
    if check.incompatibilities.is_empty() {
        return Some((
            true,
            format!("Compatible with version {version}: every event it accepts is still accepted."),
        ));
    }
    Some((
        false,
        format!(
            "Could refuse events version {version} accepts: {}",
            describe_all(&check.incompatibilities)
        ),
    ))
}

#[component]
pub fn SchemaEditor(
    schema: RwSignal<String>,
    examples: RwSignal<String>,
    /// The registered type the draft is compared with (empty: a new type).
    #[prop(into)]
    name: Signal<String>,
    /// The last submission's error, shown beside its field.
    #[prop(into)]
    error: Signal<Option<ConsoleError>>,
) -> impl IntoView {
    let check = ServerAction::<CheckSchemaDraft>::new();
    let typed = RwSignal::new(0u64);
    let run = move || {
        if schema.with_untracked(|s| s.trim().is_empty()) {
            return;
        }
        check.dispatch(CheckSchemaDraft {
            name: name.get_untracked(),
            schema: schema.get_untracked(),
            examples: examples.get_untracked(),
        });
    };
    let changed = move || {
        typed.update(|n| *n += 1);
        let at = typed.get_untracked();
        set_timeout(
            move || {
                if typed.get_untracked() == at {
                    run();
                }
            },
            std::time::Duration::from_millis(SETTLE_MS),
        );
    };
    // A form opened with a schema in it (the current version) is checked at once.
    Effect::new(move |_| run());
    let invalid = move |field: &'static str| {
        move || {
            error
                .get()
                .and_then(|e| e.for_field(field))
                .is_some()
                .to_string()
        }
    };
    let result = move || check.value().get();
    view! {
        <label>
            "Schema (JSON Schema, draft 2020-12)"
            <textarea
                name="schema"
                rows="14"
                class="mono"
                spellcheck="false"
                placeholder=r#"{"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}"#
                prop:value=move || schema.get()
                on:input=move |ev| {
                    schema.set(event_target_value(&ev));
                    changed();
                }
                aria-invalid=invalid("schema")
                aria-describedby="schema-check schema-error"
            ></textarea>
            <FieldMessage error name="schema" id="schema-error"/>
        </label>
        <label>
            "Examples"
            <textarea
                name="examples"
                rows="6"
                class="mono"
                spellcheck="false"
                placeholder=r#"[{"id": "ord_1"}]"#
                prop:value=move || examples.get()
                on:input=move |ev| {
                    examples.set(event_target_value(&ev));
                    changed();
                }
                aria-invalid=invalid("examples")
                aria-describedby="examples-help schema-check examples-error"
            ></textarea>
            <span class="help" id="examples-help">
                "A JSON array of example payloads; each must pass the schema. They are published with the catalog."
            </span>
            <FieldMessage error name="examples" id="examples-error"/>
        </label>
        <div id="schema-check" class="schema-check" role="status" aria-live="polite">
            {move || match result() {
                None => None,
                Some(Err(error)) => Some(view! { <ErrorNotice error/> }.into_any()),
                Some(Ok(c)) => Some(match &c.schema_error {
                    Some(why) => view! { <p class="error">{format!("The schema does not compile: {why}")}</p> }.into_any(),
                    None => {
                        let lines = example_lines(&c);
                        let compared = comparison(&c);
                        view! {
                            <p class="notice success">"The schema compiles."</p>
                            <ul class="example-checks">
                                {lines.into_iter().map(|(ok, text)| view! {
                                    <li class={if ok { "passes" } else { "error" }}>{text}</li>
                                }).collect_view()}
                            </ul>
                            {compared.map(|(ok, text)| view! {
                                <p class={if ok { "notice success" } else { "notice warn" }}>{text}</p>
                            })}
                        }.into_any()
                    }
                }),
            }}
        </div>
    }
}
