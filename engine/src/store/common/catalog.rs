//! SQLite and PostgreSQL: the event catalog (`store/catalog.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::This;
use super::audit::insert_audit;
use crate::error::taken;
use crate::model::{
    EventId, EventTypeOut, EventTypePatch, FlaggedEvent, SchemaVersionOut, TenantId,
};
use crate::store::{
    Actor, AuditWith, CatalogSnapshot, NewSchemaVersion, from_millis, stored_id, to_millis,
};
use crate::{EngineError, Result};

/// A type's row with its current version's schema and examples.
type TypeRow = (
    String,
    String,
    bool,
    bool,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

const TYPE_SELECT: &str = r"select t.name, t.description, t.deprecated, t.archived, t.current_version, v.schema, v.examples,
       t.created_at, t.updated_at
  from event_types t
  left join event_type_versions v
    on v.tenant_id = t.tenant_id and v.name = t.name and v.version = t.current_version
 where t.tenant_id = $1";

fn json(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| EngineError::Internal(format!("a stored {what} is not JSON: {e}")))
}

fn examples(text: Option<&str>) -> Result<Vec<Value>> {
    match text {
        None => Ok(Vec::new()),
        Some(text) => match json(text, "list of examples")? {
            Value::Array(items) => Ok(items),
            _ => Err(EngineError::Internal(
                "stored examples are not a list".into(),
            )),
        },
    }
}

fn type_out(row: TypeRow) -> Result<EventTypeOut> {
    let (
        name,
        description,
        deprecated,
        archived,
        version,
        schema,
        stored_examples,
        created,
        updated,
    ) = row;
    Ok(EventTypeOut {
        name,
        description,
        deprecated,
        archived,
        version: version.and_then(|v| u32::try_from(v).ok()),
        schema: schema.as_deref().map(|s| json(s, "schema")).transpose()?,
        examples: examples(stored_examples.as_deref())?,
        created_at: from_millis(created),
        updated_at: from_millis(updated),
    })
}

/// Marks a change to what ingest checks the tenant's events against:
/// events checked before it are refused at commit and checked again.
async fn bump_revision(conn: &mut super::DbConnection, tenant: &TenantId) -> Result<()> {
    sqlx::query("update tenants set catalog_revision = catalog_revision + 1 where id = $1")
        .bind(tenant.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl crate::store::CatalogStore for This {
    async fn create_event_type(
        &self,
        tenant: TenantId,
        (name, description, deprecated): (&str, &str, bool),
        now: DateTime<Utc>,
        audit: &AuditWith<'_, EventTypeOut>,
    ) -> Result<EventTypeOut> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            r"insert into event_types (tenant_id, name, description, deprecated, current_version, created_at, updated_at)
              values ($1, $2, $3, $4, null, $5, $5)",
        )
        .bind(tenant.to_string())
        .bind(name)
        .bind(description)
        .bind(deprecated)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(taken(|| format!("name: the event type '{name}' is registered already")))?;
        bump_revision(&mut tx, &tenant).await?;
        let out = EventTypeOut {
            name: name.to_string(),
            description: description.to_string(),
            deprecated,
            archived: false,
            version: None,
            schema: None,
            examples: Vec::new(),
            created_at: from_millis(to_millis(now)),
            updated_at: from_millis(to_millis(now)),
        };
        if let Some(entry) = audit(&out) {
            insert_audit(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn add_schema_version(
        &self,
        tenant: TenantId,
        name: &str,
        version: &NewSchemaVersion,
        actor: &Actor,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, SchemaVersionOut>,
    ) -> Result<SchemaVersionOut> {
        let tenant_text = tenant.to_string();
        let mut tx = self.pool().begin().await?;
        let current: Option<Option<i64>> = sqlx::query_scalar(
            "select current_version from event_types where tenant_id = $1 and name = $2",
        )
        .bind(&tenant_text)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(current) = current else {
            return Err(EngineError::not_found("event type", name));
        };
        let expected = version.after;
        if current != expected.map(i64::from) {
            return Err(EngineError::Conflict {
                message: format!(
                    "version: '{name}' is at version {} now, not {}; compare the new schema with that one",
                    current.map_or("none".into(), |v| v.to_string()),
                    expected.map_or("none".into(), |v| v.to_string()),
                ),
            });
        }
        let next = current.unwrap_or(0) + 1;
        let schema = version.schema.to_string();
        let examples = Value::Array(version.examples.clone()).to_string();
        sqlx::query(
            r"insert into event_type_versions (tenant_id, name, version, schema, examples, breaking, created_by, created_at)
              values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&tenant_text)
        .bind(name)
        .bind(next)
        .bind(&schema)
        .bind(&examples)
        .bind(version.breaking)
        .bind(&actor.0)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(taken(|| format!("version: another version of '{name}' was registered meanwhile")))?;
        sqlx::query(
            "update event_types set current_version = $1, updated_at = $2 where tenant_id = $3 and name = $4",
        )
        .bind(next)
        .bind(to_millis(now))
        .bind(&tenant_text)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        bump_revision(&mut tx, &tenant).await?;
        let out = SchemaVersionOut {
            version: u32::try_from(next).unwrap_or(u32::MAX),
            schema: version.schema.clone(),
            examples: version.examples.clone(),
            breaking: version.breaking,
            created_by: actor.0.clone(),
            created_at: from_millis(to_millis(now)),
        };
        if let Some(entry) = audit(&out) {
            insert_audit(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn event_type(&self, tenant: TenantId, name: &str) -> Result<Option<EventTypeOut>> {
        let row: Option<TypeRow> = sqlx::query_as(&format!("{TYPE_SELECT} and t.name = $2"))
            .bind(tenant.to_string())
            .bind(name)
            .fetch_optional(self.reader())
            .await?;
        row.map(type_out).transpose()
    }

    async fn schema_versions(&self, tenant: TenantId, name: &str) -> Result<Vec<SchemaVersionOut>> {
        let rows: Vec<(i64, String, String, bool, String, i64)> = sqlx::query_as(
            r"select version, schema, examples, breaking, created_by, created_at from event_type_versions
              where tenant_id = $1 and name = $2 order by version",
        )
        .bind(tenant.to_string())
        .bind(name)
        .fetch_all(self.reader())
        .await?;
        rows.into_iter()
            .map(
                |(version, schema, stored_examples, breaking, created_by, created)| {
                    Ok(SchemaVersionOut {
                        version: u32::try_from(version).unwrap_or(u32::MAX),
                        schema: json(&schema, "schema")?,
                        examples: examples(Some(&stored_examples))?,
                        breaking,
                        created_by,
                        created_at: from_millis(created),
                    })
                },
            )
            .collect()
    }

    async fn registered_event_types(&self, tenant: TenantId) -> Result<Vec<EventTypeOut>> {
        let rows: Vec<TypeRow> = sqlx::query_as(&format!("{TYPE_SELECT} order by t.name"))
            .bind(tenant.to_string())
            .fetch_all(self.reader())
            .await?;
        rows.into_iter().map(type_out).collect()
    }

    async fn update_event_type(
        &self,
        tenant: TenantId,
        name: &str,
        patch: &EventTypePatch,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, EventTypeOut>,
    ) -> Result<Option<EventTypeOut>> {
        let mut tx = self.pool().begin().await?;
        let changed = sqlx::query(
            r"update event_types set description = coalesce($1, description),
                deprecated = coalesce($2, deprecated), archived = coalesce($3, archived),
                updated_at = $4
              where tenant_id = $5 and name = $6",
        )
        .bind(patch.description.as_deref())
        .bind(patch.deprecated)
        .bind(patch.archived)
        .bind(to_millis(now))
        .bind(tenant.to_string())
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        bump_revision(&mut tx, &tenant).await?;
        let row: TypeRow = sqlx::query_as(&format!("{TYPE_SELECT} and t.name = $2"))
            .bind(tenant.to_string())
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        let out = type_out(row)?;
        if let Some(entry) = audit(&out) {
            insert_audit(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(Some(out))
    }

    async fn catalog_snapshot(&self, tenant: TenantId) -> Result<CatalogSnapshot> {
        let settings: Option<(i64, String, bool)> = sqlx::query_as(
            "select catalog_revision, schema_mode, require_registered_types from tenants where id = $1",
        )
        .bind(tenant.to_string())
        .fetch_optional(self.reader())
        .await?;
        let Some((revision, mode, require_registered)) = settings else {
            return Err(EngineError::not_found("tenant", tenant));
        };
        Ok(CatalogSnapshot {
            revision,
            mode: stored_id(&mode)?,
            require_registered,
            types: self.registered_event_types(tenant).await?,
        })
    }

    async fn recent_payloads(
        &self,
        tenant: TenantId,
        name: &str,
        limit: u32,
    ) -> Result<Vec<(EventId, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            r"select id, payload from events
              where tenant_id = $1 and event_type = $2 and expunged_at is null
              order by id desc limit $3",
        )
        .bind(tenant.to_string())
        .bind(name)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter()
            .map(|(id, payload)| Ok((stored_id(&id)?, payload)))
            .collect()
    }

    async fn flagged_events(
        &self,
        tenant: TenantId,
        name: &str,
        limit: u32,
    ) -> Result<Vec<FlaggedEvent>> {
        let rows: Vec<(String, i64, Option<i64>, String)> = sqlx::query_as(
            r"select id, received_at, schema_version, schema_problems from events
              where tenant_id = $1 and event_type = $2 and schema_problems is not null
              order by id desc limit $3",
        )
        .bind(tenant.to_string())
        .bind(name)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter()
            .map(|(id, received_at, version, problems)| {
                Ok(FlaggedEvent {
                    event_id: stored_id(&id)?,
                    received_at: from_millis(received_at),
                    version: version.and_then(|v| u32::try_from(v).ok()),
                    problems: serde_json::from_str(&problems).map_err(|e| {
                        EngineError::Internal(format!("stored schema problems do not read: {e}"))
                    })?,
                })
            })
            .collect()
    }
}
