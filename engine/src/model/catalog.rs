//! The event catalog's wire types: registered event types, their schema
//! versions, and what a schema says is wrong with a payload.

use serde::{Deserialize, Serialize};

/// One way a payload (or a schema) fails: where, which keyword, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaProblem {
    /// A JSON pointer into the payload (`""`: the payload itself).
    pub pointer: String,
    /// The schema keyword that failed (`required`, `type`, `minimum`…).
    pub keyword: String,
    /// What failed, in words (the offending value is not repeated).
    pub message: String,
}

impl SchemaProblem {
    /// `/amount: minimum (value is less than the minimum of 0)`; the payload
    /// itself reads as `(the payload)`.
    pub fn describe(&self) -> String {
        let at = if self.pointer.is_empty() {
            "(the payload)"
        } else {
            &self.pointer
        };
        format!("{at}: {} ({})", self.keyword, self.message)
    }
}

/// A problem with one event of a publish: its place in the request (a
/// batch's index; none for a single publish) and what its schema says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventProblem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub event_type: String,
    /// The schema version that refused it.
    pub version: u32,
    pub pointer: String,
    pub keyword: String,
    pub message: String,
}

/// A registered event type and its current schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventTypeOut {
    pub name: String,
    pub description: String,
    /// Still accepted; publishers are told to move off it.
    pub deprecated: bool,
    /// Out of the catalog (deleted): refused when registered types are
    /// required; its versions are kept.
    #[serde(default)]
    pub archived: bool,
    /// The current schema's version (none: no schema registered yet).
    pub version: Option<u32>,
    /// The current schema (JSON Schema, draft 2020-12).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub schema: Option<serde_json::Value>,
    /// Example payloads of the current version.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub examples: Vec<serde_json::Value>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// One version of an event type's schema, as registered (versions are never
/// changed or removed: each event records the one that checked it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaVersionOut {
    /// 1 for the first, then one more each time.
    pub version: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub schema: serde_json::Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub examples: Vec<serde_json::Value>,
    /// Registered although it could refuse events the version before accepted.
    pub breaking: bool,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// What ingest does with a payload its event type's schema refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SchemaMode {
    /// Schemas are not checked at ingest.
    #[default]
    Off,
    /// Accepted, recorded with what is wrong, and counted.
    Warn,
    /// Refused with 422 naming each failing pointer and keyword.
    Enforce,
}

impl SchemaMode {
    pub const ALL: [SchemaMode; 3] = [SchemaMode::Off, SchemaMode::Warn, SchemaMode::Enforce];

    pub fn as_str(self) -> &'static str {
        match self {
            SchemaMode::Off => "off",
            SchemaMode::Warn => "warn",
            SchemaMode::Enforce => "enforce",
        }
    }
}

str_enum!(SchemaMode, "schema mode");

/// Registering an event type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventTypeIn {
    /// The type's name, as events carry it (`order.created`).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 128,
            pattern = "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$"
        )
    )]
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub description: String,
    #[serde(default)]
    pub deprecated: bool,
    /// Its first schema (JSON Schema, draft 2020-12); it may come later as a version.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub schema: Option<serde_json::Value>,
    /// Example payloads; each must pass the schema.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>, max_items = 20))]
    pub examples: Vec<serde_json::Value>,
}

/// Changing a registered type's description and flags; fields left out stay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventTypePatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub description: Option<String>,
    #[serde(default)]
    pub deprecated: Option<bool>,
    /// `false` brings an archived type back into the catalog.
    #[serde(default)]
    pub archived: Option<bool>,
}

/// Registering a new version of a type's schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SchemaVersionIn {
    /// JSON Schema, draft 2020-12.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub schema: serde_json::Value,
    /// Example payloads; each must pass the schema.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>, max_items = 20))]
    pub examples: Vec<serde_json::Value>,
    /// Register it although it could refuse events the current version
    /// accepts (each such change is named otherwise, and it is refused).
    #[serde(default)]
    pub breaking: bool,
    /// Check only: compare with the current version and validate the type's
    /// most recent stored events against it; nothing is registered.
    #[serde(default)]
    pub dry_run: bool,
    /// How many of the most recent events a dry run validates (1 to 10000; default 1000).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000))]
    pub dry_run_events: Option<u32>,
}

/// What a new schema version was found to be, checked or registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaCheckOut {
    /// The version compared with (none: the type had no schema).
    pub compared_with: Option<u32>,
    /// Each change that could refuse events the current version accepts.
    pub incompatibilities: Vec<crate::model::schema_compat::Incompatibility>,
    /// Of the type's most recent stored events (at most `dry_run_events`),
    /// how many were checked and how many the new schema refuses.
    pub events_checked: u64,
    pub events_failing: u64,
    /// Up to 10 failing events, each with its problems.
    pub failures: Vec<EventFailure>,
    /// The version registered (absent for a dry run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<SchemaVersionOut>,
}

/// A stored event a schema refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventFailure {
    pub event_id: crate::model::EventId,
    pub problems: Vec<SchemaProblem>,
}

/// A type in the catalog list: registered, published, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogEntry {
    pub event_type: String,
    /// Registered in the catalog (else only seen in published events).
    pub registered: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    pub archived: bool,
    /// The current schema version (none: no schema).
    #[serde(default)]
    pub version: Option<u32>,
    /// Events published under this type, and the newest one's time.
    pub events: u64,
    pub last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Events accepted with schema problems (warn mode).
    #[serde(default)]
    pub schema_warnings: u64,
}

/// A registered type with every version of its schema and what was
/// published under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventTypeDetail {
    #[serde(flatten)]
    pub event_type: EventTypeOut,
    /// Oldest first; the last is current.
    pub versions: Vec<SchemaVersionOut>,
    /// Events published under this type, the newest one's time, and how
    /// many were accepted with schema problems.
    pub events: u64,
    pub last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    pub schema_warnings: u64,
}

/// An event ingest refused for its type's schema (`enforce`), as the node
/// that refused it saw it: refused events are not stored, so this is kept
/// in memory, the most recent few per tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaRefusal {
    pub at: chrono::DateTime<chrono::Utc>,
    pub event_type: String,
    /// The schema version that refused it.
    pub version: u32,
    /// The publishing service, when the event or its key named one.
    #[serde(default)]
    pub source: Option<String>,
    pub problems: Vec<SchemaProblem>,
}

/// A stored event accepted although its schema refuses it (`warn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlaggedEvent {
    pub event_id: crate::model::EventId,
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// The schema version that checked it.
    pub version: Option<u32>,
    pub problems: Vec<SchemaProblem>,
}

/// A type's recent validation failures: events refused at ingest (on this
/// node, since it started) and events accepted with problems (stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationFailures {
    /// Newest first.
    pub refused: Vec<SchemaRefusal>,
    /// Newest first.
    pub flagged: Vec<FlaggedEvent>,
}

/// What is wrong with one example of a schema draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExampleCheck {
    /// Its place in the examples, from 0.
    pub index: usize,
    /// Empty: the schema accepts it.
    pub problems: Vec<SchemaProblem>,
}

/// A schema and its examples, checked as they are written: whether the
/// schema compiles, what it says of each example, and how it compares with
/// the type's current version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaDraftCheck {
    /// Why the schema is not one (none: it compiles).
    pub schema_error: Option<String>,
    /// Each example's verdict, in order (empty when the schema does not compile).
    pub examples: Vec<ExampleCheck>,
    /// The version compared with (none: no current version).
    pub compared_with: Option<u32>,
    /// Each change that could refuse events the current version accepts.
    pub incompatibilities: Vec<crate::model::schema_compat::Incompatibility>,
}
