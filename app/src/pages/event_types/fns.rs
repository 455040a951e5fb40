//! The event catalog: its types, one type with its versions (each with a
//! diff from the one before) and recent validation failures, and the
//! schema editor's checks, registrations and dry runs.

use herald_engine::model::schema_compat::Incompatibility;
use herald_engine::model::{
    CatalogEntry, EventTypeDetail, SchemaCheckOut, SchemaDraftCheck, SchemaMode, ValidationFailures,
};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

/// Every type the tenant registered or published, archived ones included.
#[server(prefix = "/fn", endpoint = "list_event_types")]
pub async fn list_event_types() -> Result<Catalog, ConsoleError> {
    use crate::ssr::{Call, open};
    use herald_engine::model::Permission;
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    let entries = state.engine.event_catalog(tenant).await?;
    let mode = state.engine.schema_mode(tenant).await?;
    Ok(Catalog { entries, mode })
}

/// The catalog list and what ingest does with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub entries: Vec<CatalogEntry>,
    pub mode: SchemaMode,
}

/// One line of a diff: `+` added, `-` removed, ` ` kept, `…` lines left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    pub sign: char,
    pub text: String,
}

/// What a version changed from the one before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionChange {
    pub version: u32,
    /// The schema's lines that changed, with two lines around each change
    /// (the first version: all of it, as added).
    pub diff: Vec<DiffLine>,
    /// What could refuse events the version before accepted.
    pub incompatibilities: Vec<Incompatibility>,
}

/// One type as its page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTypePage {
    pub name: String,
    /// None: published but never registered.
    pub detail: Option<EventTypeDetail>,
    /// Newest first.
    pub changes: Vec<VersionChange>,
    pub events: u64,
    pub last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    pub schema_warnings: u64,
    pub failures: ValidationFailures,
    pub mode: SchemaMode,
}

/// The lines of `new` against `old`, each pretty-printed: changed lines
/// with `context` kept lines around them.
#[cfg(feature = "ssr")]
pub fn schema_diff(old: &serde_json::Value, new: &serde_json::Value) -> Vec<DiffLine> {
    use similar::{ChangeTag, TextDiff};
    let old = if old.is_null() {
        String::new()
    } else {
        serde_json::to_string_pretty(old).unwrap_or_default() + "\n"
    };
    let new = serde_json::to_string_pretty(new).unwrap_or_default() + "\n";
    let diff = TextDiff::from_lines(&old, &new);
    let mut lines = Vec::new();
    for (i, group) in diff.grouped_ops(2).iter().enumerate() {
        if i > 0 {
            lines.push(DiffLine {
                sign: '…',
                text: String::new(),
            });
        }
        for op in group {
            for change in diff.iter_changes(op) {
                lines.push(DiffLine {
                    sign: match change.tag() {
                        ChangeTag::Delete => '-',
                        ChangeTag::Insert => '+',
                        ChangeTag::Equal => ' ',
                    },
                    text: change.value().trim_end_matches('\n').to_string(),
                });
            }
        }
    }
    lines
}

#[server(prefix = "/fn", endpoint = "get_event_type")]
pub async fn get_event_type(name: String) -> Result<EventTypePage, ConsoleError> {
    use crate::ssr::{Call, fail, open};
    use herald_engine::model::Permission;
    use herald_engine::model::schema_compat::incompatibilities;
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    let entry = state
        .engine
        .event_catalog(tenant)
        .await?
        .into_iter()
        .find(|e| e.event_type == name)
        .ok_or_else(|| {
            fail(ConsoleError::NotFound {
                message: format!("event type '{name}' is neither registered nor published"),
            })
        })?;
    let detail = if entry.registered {
        Some(state.engine.event_type_detail(tenant, &name).await?)
    } else {
        None
    };
    let mut changes = Vec::new();
    if let Some(d) = &detail {
        let mut before = serde_json::Value::Null;
        for v in &d.versions {
            changes.push(VersionChange {
                version: v.version,
                diff: schema_diff(&before, &v.schema),
                incompatibilities: if before.is_null() {
                    Vec::new()
                } else {
                    incompatibilities(&before, &v.schema)
                },
            });
            before = v.schema.clone();
        }
        changes.reverse();
    }
    // Only a registered type has a schema to fail.
    let failures = if entry.registered {
        state.engine.validation_failures(tenant, &name).await?
    } else {
        ValidationFailures::default()
    };
    let mode = state.engine.schema_mode(tenant).await?;
    Ok(EventTypePage {
        name,
        detail,
        changes,
        events: entry.events,
        last_seen_at: entry.last_seen_at,
        schema_warnings: entry.schema_warnings,
        failures,
        mode,
    })
}

/// Reads the schema editor's two fields: the schema (a JSON object) and its
/// examples (a JSON array of payloads; empty: none). A field that is not
/// JSON is named, with where the text goes wrong.
#[cfg(feature = "ssr")]
fn read_draft(
    schema: &str,
    examples: &str,
) -> Result<(serde_json::Value, Vec<serde_json::Value>), ConsoleError> {
    use crate::ssr::fail;
    let invalid = |field: &str, message: String| {
        fail(ConsoleError::Invalid {
            field: field.into(),
            message,
        })
    };
    if schema.trim().is_empty() {
        return Err(invalid("schema", "write the schema: a JSON object".into()));
    }
    let schema: serde_json::Value = serde_json::from_str(schema).map_err(|e| {
        invalid(
            "schema",
            format!("not JSON: {e} (line {}, column {})", e.line(), e.column()),
        )
    })?;
    let examples = if examples.trim().is_empty() {
        Vec::new()
    } else {
        match serde_json::from_str::<serde_json::Value>(examples) {
            Ok(serde_json::Value::Array(items)) => items,
            Ok(_) => {
                return Err(invalid(
                    "examples",
                    "a JSON array of example payloads, such as [{\"id\": \"ord_1\"}]".into(),
                ));
            }
            Err(e) => {
                return Err(invalid(
                    "examples",
                    format!("not JSON: {e} (line {}, column {})", e.line(), e.column()),
                ));
            }
        }
    };
    Ok((schema, examples))
}

/// Checks a schema draft as it is typed: whether it compiles, what it says
/// of each example, and (for a registered type) what it changes that could
/// refuse events the current version accepts. Nothing is stored.
#[server(prefix = "/fn", endpoint = "check_schema_draft")]
pub async fn check_schema_draft(
    #[server(default)] name: String,
    schema: String,
    #[server(default)] examples: String,
) -> Result<SchemaDraftCheck, ConsoleError> {
    use crate::ssr::{Call, open};
    use herald_engine::model::Permission;
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    let (schema, examples) = read_draft(&schema, &examples)?;
    let current = if name.trim().is_empty() {
        None
    } else {
        state.store.event_type(tenant, name.trim()).await?
    };
    let current = current.and_then(|t| t.version.zip(t.schema));
    Ok(herald_engine::event_types::check_draft(
        &schema,
        &examples,
        current.as_ref().map(|(v, s)| (*v, s)),
    ))
}

/// The register form: a new type with its first schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventTypeForm {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub examples: String,
}

#[server(prefix = "/fn", endpoint = "register_event_type")]
pub async fn register_event_type(form: EventTypeForm) -> Result<EventTypeDetail, ConsoleError> {
    use crate::ssr::{Call, by_user, open};
    use herald_engine::model::{EventTypeIn, Permission};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageEndpoints).await?;
    let (schema, examples) = if form.schema.trim().is_empty() && form.examples.trim().is_empty() {
        (None, Vec::new())
    } else {
        let (schema, examples) = read_draft(&form.schema, &form.examples)?;
        (Some(schema), examples)
    };
    let input = EventTypeIn {
        name: form.name.trim().to_string(),
        description: form.description.trim().to_string(),
        deprecated: false,
        schema,
        examples,
    };
    Ok(state
        .engine
        .create_event_type(tenant, input, &by_user(&user))
        .await?)
}

/// A new version of a type's schema: checked against the current one and,
/// for a dry run, against the type's recent events; registered otherwise.
#[server(prefix = "/fn", endpoint = "add_schema_version")]
pub async fn add_schema_version(
    name: String,
    schema: String,
    #[server(default)] examples: String,
    #[server(default)] breaking: bool,
    #[server(default)] dry_run: bool,
) -> Result<SchemaCheckOut, ConsoleError> {
    use crate::ssr::{Call, by_user, open};
    use herald_engine::model::{Permission, SchemaVersionIn};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageEndpoints).await?;
    let (schema, examples) = read_draft(&schema, &examples)?;
    let input = SchemaVersionIn {
        schema,
        examples,
        breaking,
        dry_run,
        dry_run_events: None,
    };
    Ok(state
        .engine
        .add_schema_version(tenant, name.trim(), input, &by_user(&user))
        .await?)
}

/// Changes a registered type's description and flags; `archived` takes it
/// out of the catalog (its versions are kept) or brings it back.
#[server(prefix = "/fn", endpoint = "update_event_type")]
pub async fn update_event_type(
    name: String,
    #[server(default)] description: String,
    #[server(default)] deprecated: bool,
    #[server(default)] archived: bool,
) -> Result<herald_engine::model::EventTypeOut, ConsoleError> {
    use crate::ssr::{Call, by_user, open};
    use herald_engine::model::{EventTypePatch, Permission};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageEndpoints).await?;
    let name = name.trim();
    let Some(current) = state.store.event_type(tenant, name).await? else {
        return Err(crate::ssr::fail(ConsoleError::NotFound {
            message: format!("event type '{name}' is not registered"),
        }));
    };
    // Only what changed, so the audit log says what was done.
    let description = description.trim().to_string();
    let patch = EventTypePatch {
        description: (description != current.description).then_some(description),
        deprecated: (deprecated != current.deprecated).then_some(deprecated),
        archived: (archived != current.archived).then_some(archived),
    };
    if patch == EventTypePatch::default() {
        return Ok(current);
    }
    Ok(state
        .engine
        .update_event_type(tenant, name, patch, &by_user(&user))
        .await?)
}

/// The tenant's catalog as an AsyncAPI 3.0 document (the API's
/// `GET /api/v1/event-types/asyncapi.json`), fetched by the console's
/// download link: a GET, sent as an attachment named `asyncapi.json`.
#[server(prefix = "/fn", endpoint = "asyncapi_document", input = leptos::server_fn::codec::GetUrl)]
pub async fn asyncapi_document() -> Result<serde_json::Value, ConsoleError> {
    use crate::ssr::{Call, internal, open};
    use herald_engine::model::Permission;
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    let name = state
        .store
        .list_tenants()
        .await?
        .into_iter()
        .find(|t| t.id == tenant)
        .map(|t| t.name)
        .ok_or_else(|| internal(format!("tenant {tenant} is missing")))?;
    let document = state.engine.asyncapi(tenant, &name).await?;
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.insert_header(
            http::header::CONTENT_DISPOSITION,
            http::HeaderValue::from_static("attachment; filename=\"asyncapi.json\""),
        );
    }
    Ok(document)
}
