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

/// A registered event type and its current schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventTypeOut {
    pub name: String,
    pub description: String,
    /// Still accepted; publishers are told to move off it.
    pub deprecated: bool,
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
