//! The event catalog: registered event types and their schema versions.

use super::*;
use crate::model::{
    EventId, EventTypeOut, EventTypePatch, FlaggedEvent, SchemaMode, SchemaVersionOut,
};

/// A schema version to register.
#[derive(Debug, Clone)]
pub struct NewSchemaVersion {
    /// The version the new one was checked against (none: the type had no
    /// schema): registering is a conflict when another version came first.
    pub after: Option<u32>,
    pub schema: serde_json::Value,
    pub examples: Vec<serde_json::Value>,
    /// Registered although it could refuse what the version before accepted.
    pub breaking: bool,
}

/// What ingest checks events against for one tenant: its settings and its
/// registered types (archived ones included), at a catalog revision.
#[derive(Debug, Clone)]
pub struct CatalogSnapshot {
    /// Read before the rest: what was read is at least this new, so ingest
    /// comparing it with the committed revision never misses a change.
    pub revision: i64,
    pub mode: SchemaMode,
    pub require_registered: bool,
    pub types: Vec<EventTypeOut>,
}

#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Registers event type `name` for `tenant`, without a schema; a conflict
    /// when it is registered already.
    async fn create_event_type(
        &self,
        tenant: TenantId,
        (name, description, deprecated): (&str, &str, bool),
        now: DateTime<Utc>,
        audit: &AuditWith<'_, EventTypeOut>,
    ) -> Result<EventTypeOut>;
    /// Registers the next version of the type's schema, which becomes the
    /// current one: a conflict when the current one is not `version.after`,
    /// not found when the type is not registered.
    async fn add_schema_version(
        &self,
        tenant: TenantId,
        name: &str,
        version: &NewSchemaVersion,
        actor: &Actor,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, SchemaVersionOut>,
    ) -> Result<SchemaVersionOut>;
    /// A registered type with its current schema.
    async fn event_type(&self, tenant: TenantId, name: &str) -> Result<Option<EventTypeOut>>;
    /// Every version of a type's schema, oldest first.
    async fn schema_versions(&self, tenant: TenantId, name: &str) -> Result<Vec<SchemaVersionOut>>;
    /// The tenant's registered types (archived ones too), by name.
    async fn registered_event_types(&self, tenant: TenantId) -> Result<Vec<EventTypeOut>>;
    /// Changes a registered type's description and flags (archiving is a
    /// delete); none when it is not registered.
    async fn update_event_type(
        &self,
        tenant: TenantId,
        name: &str,
        patch: &EventTypePatch,
        now: DateTime<Utc>,
        audit: &AuditWith<'_, EventTypeOut>,
    ) -> Result<Option<EventTypeOut>>;
    /// What ingest checks the tenant's events against.
    async fn catalog_snapshot(&self, tenant: TenantId) -> Result<CatalogSnapshot>;
    /// The type's `limit` most recent stored events (not expunged), newest
    /// first, with their payloads as stored.
    async fn recent_payloads(
        &self,
        tenant: TenantId,
        name: &str,
        limit: u32,
    ) -> Result<Vec<(EventId, String)>>;
    /// The type's `limit` most recent events accepted with schema problems
    /// (`warn`), newest first.
    async fn flagged_events(
        &self,
        tenant: TenantId,
        name: &str,
        limit: u32,
    ) -> Result<Vec<FlaggedEvent>>;
}
