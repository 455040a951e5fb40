//! The event catalog's wire types: how strictly a tenant's events are held to
//! their types' schemas, and what a schema says is wrong with a payload.

use serde::{Deserialize, Serialize};

/// How a tenant's events are checked against their type's current schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SchemaMode {
    /// Not checked (the default).
    #[default]
    Off,
    /// Checked; an event that fails is accepted, flagged with what failed and counted.
    Warn,
    /// Checked; an event that fails is refused (422) with what failed, and nothing is stored.
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
