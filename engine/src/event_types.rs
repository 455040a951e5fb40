//! The event catalog's operations, shared by the REST API and the console:
//! registering types, their schema versions (compared with the current one,
//! and tried on stored events before they go live), and the catalog list.
//! Every change drops the tenant's cached catalog so ingest checks against
//! the new one at once on this node; other nodes find out at their next
//! commit (see `catalog::SchemaGate`).

use chrono::Utc;
use serde_json::Value;

use crate::audit::{self, AuditBy};
use crate::catalog::CompiledSchema;
use crate::model::event_type::validate_event_type;
use crate::model::schema_compat::incompatibilities;
use crate::model::{
    AuditAction, CatalogEntry, EventFailure, EventTypeDetail, EventTypeIn, EventTypeOut,
    EventTypePatch, ExampleCheck, Permission, SchemaCheckOut, SchemaDraftCheck, SchemaVersionIn,
    TenantId, ValidationFailures,
};
use crate::service::Engine;
use crate::store::{Actor, NewSchemaVersion};
use crate::{EngineError, Result};

/// Stored events a dry run validates unless told otherwise, and at most.
pub const DRY_RUN_EVENTS: u32 = 1_000;
pub const MAX_DRY_RUN_EVENTS: u32 = 10_000;
/// Examples one version may carry.
pub const MAX_EXAMPLES: usize = 20;
/// A schema's largest size, as JSON text.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// A description's longest length, in characters.
pub const MAX_DESCRIPTION: usize = 1_000;
/// Failing events a dry run lists (it counts them all).
const LISTED_FAILURES: usize = 10;
/// Events accepted with problems a type's failures list.
const LISTED_FLAGGED: u32 = 20;

/// A schema and its examples as they are being written: whether the schema
/// compiles, what it says of each example, and what it changes from
/// `current` that could refuse events `current` accepts.
pub fn check_draft(
    schema: &Value,
    examples: &[Value],
    current: Option<(u32, &Value)>,
) -> SchemaDraftCheck {
    let mut check = SchemaDraftCheck {
        compared_with: current.map(|(v, _)| v),
        ..SchemaDraftCheck::default()
    };
    let compiled = match compile_schema(schema) {
        Ok(compiled) => compiled,
        Err(EngineError::Invalid { message, .. } | EngineError::TooLarge { message, .. }) => {
            check.schema_error = Some(message);
            return check;
        }
        Err(other) => {
            check.schema_error = Some(other.to_string());
            return check;
        }
    };
    check.examples = examples
        .iter()
        .take(MAX_EXAMPLES)
        .enumerate()
        .map(|(index, example)| ExampleCheck {
            index,
            problems: if example.is_object() {
                compiled.problems(example)
            } else {
                vec![crate::model::SchemaProblem {
                    pointer: String::new(),
                    keyword: "type".into(),
                    message: "an example is a payload: a JSON object".into(),
                }]
            },
        })
        .collect();
    if let Some((_, old)) = current {
        check.incompatibilities = incompatibilities(old, schema);
    }
    check
}

fn description(text: &str) -> Result<()> {
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(EngineError::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(())
}

/// Compiles a catalog schema: a JSON object within the size limit that is a
/// JSON Schema (draft 2020-12); the error names `schema`.
fn compile_schema(schema: &Value) -> Result<CompiledSchema> {
    // `true` is a JSON Schema too, but in the catalog "no schema" is said
    // by leaving it out.
    if !schema.is_object() {
        return Err(EngineError::invalid(
            "schema",
            "must be a JSON object: a JSON Schema (draft 2020-12)",
        ));
    }
    let size = schema.to_string().len();
    if size > MAX_SCHEMA_BYTES {
        return Err(EngineError::TooLarge {
            field: "schema".into(),
            message: format!("{size} bytes is more than the limit of {MAX_SCHEMA_BYTES}"),
        });
    }
    CompiledSchema::compile(schema).map_err(|p| {
        EngineError::invalid(
            "schema",
            format!("not a JSON Schema (draft 2020-12): {}", p.describe()),
        )
    })
}

/// Compiles a schema and checks its examples against it.
fn schema_and_examples(schema: &Value, examples: &[Value]) -> Result<CompiledSchema> {
    let compiled = compile_schema(schema)?;
    if examples.len() > MAX_EXAMPLES {
        return Err(EngineError::invalid(
            "examples",
            format!("at most {MAX_EXAMPLES}; got {}", examples.len()),
        ));
    }
    for (i, example) in examples.iter().enumerate() {
        if !example.is_object() {
            return Err(EngineError::invalid(
                format!("examples[{i}]"),
                "an example is a payload: a JSON object",
            ));
        }
        let problems = compiled.problems(example);
        if !problems.is_empty() {
            let each: Vec<String> = problems.iter().map(|p| p.describe()).collect();
            return Err(EngineError::invalid(
                format!("examples[{i}]"),
                format!("the schema refuses it: {}", each.join("; ")),
            ));
        }
    }
    Ok(compiled)
}

impl Engine {
    /// What ingest does with the tenant's catalog (read from the cache).
    pub async fn schema_mode(&self, tenant: TenantId) -> Result<crate::model::SchemaMode> {
        Ok(self.schemas.catalog(&*self.store, tenant).await?.mode)
    }

    /// Every type the tenant registered or published, by name.
    pub async fn event_catalog(&self, tenant: TenantId) -> Result<Vec<CatalogEntry>> {
        let registered = self.store.registered_event_types(tenant).await?;
        let published = self.store.event_types(tenant).await?;
        let mut entries: std::collections::BTreeMap<String, CatalogEntry> = registered
            .into_iter()
            .map(|t| {
                let entry = CatalogEntry {
                    event_type: t.name.clone(),
                    registered: true,
                    description: t.description,
                    deprecated: t.deprecated,
                    archived: t.archived,
                    version: t.version,
                    events: 0,
                    last_seen_at: None,
                    schema_warnings: 0,
                };
                (t.name, entry)
            })
            .collect();
        for seen in published {
            let entry = entries
                .entry(seen.event_type.clone())
                .or_insert_with(|| CatalogEntry {
                    event_type: seen.event_type.clone(),
                    registered: false,
                    description: String::new(),
                    deprecated: false,
                    archived: false,
                    version: None,
                    events: 0,
                    last_seen_at: None,
                    schema_warnings: 0,
                });
            entry.events = seen.events;
            entry.last_seen_at = Some(seen.last_seen_at);
            entry.schema_warnings = seen.schema_warnings;
        }
        Ok(entries.into_values().collect())
    }

    /// The tenant's catalog (registered types, not archived ones) as an
    /// AsyncAPI 3.0 document; its version is the catalog's revision.
    pub async fn asyncapi(&self, tenant: TenantId, tenant_name: &str) -> Result<Value> {
        let snapshot = self.store.catalog_snapshot(tenant).await?;
        Ok(crate::asyncapi::document(
            tenant_name,
            &snapshot.revision.to_string(),
            &snapshot.types,
        ))
    }

    /// A registered type with its versions and counts.
    pub async fn event_type_detail(&self, tenant: TenantId, name: &str) -> Result<EventTypeDetail> {
        let event_type = self
            .store
            .event_type(tenant, name)
            .await?
            .ok_or_else(|| EngineError::not_found("event type", name))?;
        let versions = self.store.schema_versions(tenant, name).await?;
        let seen = self
            .store
            .event_types(tenant)
            .await?
            .into_iter()
            .find(|s| s.event_type == name);
        Ok(EventTypeDetail {
            event_type,
            versions,
            events: seen.as_ref().map_or(0, |s| s.events),
            last_seen_at: seen.as_ref().map(|s| s.last_seen_at),
            schema_warnings: seen.as_ref().map_or(0, |s| s.schema_warnings),
        })
    }

    /// The registered type's recent validation failures: refused at ingest
    /// on this node and accepted with problems (stored), newest first.
    pub async fn validation_failures(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<ValidationFailures> {
        if self.store.event_type(tenant, name).await?.is_none() {
            return Err(EngineError::not_found("event type", name));
        }
        Ok(ValidationFailures {
            refused: self.schemas.refusals(tenant, name),
            flagged: self
                .store
                .flagged_events(tenant, name, LISTED_FLAGGED)
                .await?,
        })
    }

    /// Registers a type, with its first schema when one is given.
    pub async fn create_event_type(
        &self,
        tenant: TenantId,
        input: EventTypeIn,
        by: &AuditBy,
    ) -> Result<EventTypeDetail> {
        by.require(Permission::ManageEndpoints)?;
        validate_event_type(&input.name).map_err(|m| EngineError::invalid("name", m))?;
        description(&input.description)?;
        match &input.schema {
            Some(schema) => {
                schema_and_examples(schema, &input.examples)?;
            }
            None if !input.examples.is_empty() => {
                return Err(EngineError::invalid(
                    "examples",
                    "examples need a schema to be checked against; send one with them",
                ));
            }
            None => {}
        }
        let audit = |t: &EventTypeOut| {
            Some(by.entry(
                Some(tenant),
                AuditAction::EventTypeCreate,
                &t.name,
                format!("registered event type {}", t.name),
            ))
        };
        let created = self
            .store
            .create_event_type(
                tenant,
                (&input.name, &input.description, input.deprecated),
                Utc::now(),
                &audit,
            )
            .await?;
        self.schemas.forget(tenant, None);
        if let Some(entry) = audit(&created) {
            audit::logged(&entry);
        }
        if let Some(schema) = input.schema {
            self.register_version(
                tenant,
                &input.name,
                NewSchemaVersion {
                    after: None,
                    schema,
                    examples: input.examples,
                    breaking: false,
                },
                by,
            )
            .await?;
        }
        self.event_type_detail(tenant, &input.name).await
    }

    /// Changes a type's description or flags.
    pub async fn update_event_type(
        &self,
        tenant: TenantId,
        name: &str,
        patch: EventTypePatch,
        by: &AuditBy,
    ) -> Result<EventTypeOut> {
        by.require(Permission::ManageEndpoints)?;
        if let Some(text) = &patch.description {
            description(text)?;
        }
        let archived_only = patch.description.is_none()
            && patch.deprecated.is_none()
            && patch.archived == Some(true);
        let action = if archived_only {
            AuditAction::EventTypeDelete
        } else {
            AuditAction::EventTypeUpdate
        };
        let summary = audit::changed_fields(&patch);
        let audit = |t: &EventTypeOut| {
            Some(by.entry(
                Some(tenant),
                action,
                &t.name,
                if archived_only {
                    format!("archived event type {}", t.name)
                } else {
                    summary.clone()
                },
            ))
        };
        let updated = self
            .store
            .update_event_type(tenant, name, &patch, Utc::now(), &audit)
            .await?
            .ok_or_else(|| EngineError::not_found("event type", name))?;
        self.schemas.forget(tenant, None);
        if let Some(entry) = audit(&updated) {
            audit::logged(&entry);
        }
        Ok(updated)
    }

    /// Archives a type: out of the catalog, its versions kept.
    pub async fn delete_event_type(
        &self,
        tenant: TenantId,
        name: &str,
        by: &AuditBy,
    ) -> Result<EventTypeOut> {
        let patch = EventTypePatch {
            archived: Some(true),
            ..EventTypePatch::default()
        };
        self.update_event_type(tenant, name, patch, by).await
    }

    /// Checks a new schema version against the current one (and, for a dry
    /// run, against the type's recent events) and registers it unless it is
    /// a dry run. An incompatible version is refused unless `breaking`.
    pub async fn add_schema_version(
        &self,
        tenant: TenantId,
        name: &str,
        input: SchemaVersionIn,
        by: &AuditBy,
    ) -> Result<SchemaCheckOut> {
        by.require(Permission::ManageEndpoints)?;
        let current = self
            .store
            .event_type(tenant, name)
            .await?
            .ok_or_else(|| EngineError::not_found("event type", name))?;
        if current.archived {
            return Err(EngineError::Conflict {
                message: format!(
                    "event type '{name}' is archived; restore it (PATCH archived: false) before adding a version"
                ),
            });
        }
        let limit = input.dry_run_events.unwrap_or(DRY_RUN_EVENTS);
        if !(1..=MAX_DRY_RUN_EVENTS).contains(&limit) {
            return Err(EngineError::invalid(
                "dry_run_events",
                format!("must be from 1 to {MAX_DRY_RUN_EVENTS}"),
            ));
        }
        let compiled = schema_and_examples(&input.schema, &input.examples)?;
        let found = match &current.schema {
            Some(old) => incompatibilities(old, &input.schema),
            None => Vec::new(),
        };
        let mut check = SchemaCheckOut {
            compared_with: current.version,
            incompatibilities: found,
            events_checked: 0,
            events_failing: 0,
            failures: Vec::new(),
            registered: None,
        };
        if input.dry_run {
            for (event_id, payload) in self.store.recent_payloads(tenant, name, limit).await? {
                check.events_checked += 1;
                let Ok(payload) = serde_json::from_str::<Value>(&payload) else {
                    continue;
                };
                let problems = compiled.problems(&payload);
                if !problems.is_empty() {
                    check.events_failing += 1;
                    if check.failures.len() < LISTED_FAILURES {
                        check.failures.push(EventFailure { event_id, problems });
                    }
                }
            }
            return Ok(check);
        }
        if !check.incompatibilities.is_empty() && !input.breaking {
            return Err(EngineError::invalid(
                "schema",
                format!(
                    "the new version could refuse events version {} accepts: {}. Send \"breaking\": true to register it anyway",
                    current.version.unwrap_or(0),
                    crate::model::schema_compat::describe_all(&check.incompatibilities)
                ),
            ));
        }
        let registered = self
            .register_version(
                tenant,
                name,
                NewSchemaVersion {
                    after: current.version,
                    schema: input.schema,
                    examples: input.examples,
                    breaking: input.breaking && !check.incompatibilities.is_empty(),
                },
                by,
            )
            .await?;
        check.registered = Some(registered);
        Ok(check)
    }

    async fn register_version(
        &self,
        tenant: TenantId,
        name: &str,
        version: NewSchemaVersion,
        by: &AuditBy,
    ) -> Result<crate::model::SchemaVersionOut> {
        let audit = |v: &crate::model::SchemaVersionOut| {
            Some(by.entry(
                Some(tenant),
                AuditAction::EventTypeVersion,
                name,
                format!(
                    "registered version {} of {name}'s schema{}",
                    v.version,
                    if v.breaking { " (breaking)" } else { "" }
                ),
            ))
        };
        let out = self
            .store
            .add_schema_version(
                tenant,
                name,
                &version,
                &Actor(by.actor.clone()),
                Utc::now(),
                &audit,
            )
            .await?;
        self.schemas.forget(tenant, None);
        if let Some(entry) = audit(&out) {
            audit::logged(&entry);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_draft_names_each_failing_example_and_each_incompatibility() {
        let current = json!({"type": "object", "properties": {"id": {"type": "string"}}});
        let draft = json!({
            "type": "object",
            "required": ["id", "amount"],
            "properties": {"id": {"type": "string"}, "amount": {"type": "number", "minimum": 0}}
        });
        let examples = [
            json!({"id": "a", "amount": 1}),
            json!({"id": "b", "amount": -1}),
            json!([1]),
        ];
        let check = check_draft(&draft, &examples, Some((3, &current)));
        assert_eq!(check.schema_error, None);
        assert_eq!(check.compared_with, Some(3));
        assert!(check.examples[0].problems.is_empty());
        assert_eq!(check.examples[1].problems[0].pointer, "/amount");
        assert_eq!(check.examples[1].problems[0].keyword, "minimum");
        assert_eq!(check.examples[2].problems[0].keyword, "type");
        assert!(
            check
                .incompatibilities
                .iter()
                .any(|i| i.keyword == "required"),
            "{:?}",
            check.incompatibilities
        );
        assert!(
            check_draft(&current, &[], Some((3, &current)))
                .incompatibilities
                .is_empty()
        );
    }

    #[test]
    fn a_draft_that_is_not_a_schema_says_why() {
        let check = check_draft(&json!({"type": "nonsense"}), &[json!({})], None);
        assert!(
            check
                .schema_error
                .as_deref()
                .is_some_and(|e| e.starts_with("not a JSON Schema")),
            "{check:?}"
        );
        assert!(check.examples.is_empty());
        assert!(check_draft(&json!([]), &[], None).schema_error.is_some());
    }
}
