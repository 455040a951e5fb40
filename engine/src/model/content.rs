//! Trying an endpoint's content filter before it goes live.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::EventId;

/// An event to try a filter on, given in full.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SampleEvent {
    #[cfg_attr(feature = "openapi", schema(value_type = super::EventTypeName))]
    pub event_type: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: Value,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = "^[A-Za-z0-9._:/-]+$")
    )]
    pub source: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Value>,
}

/// `POST /api/v1/endpoints/filter-test`: a filter and the event to try it
/// on, named in exactly one way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FilterTestIn {
    /// The filter, as an endpoint's `filter` takes it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub filter: Value,
    /// A stored event of the tenant's.
    #[serde(default)]
    pub event_id: Option<EventId>,
    /// The newest stored event of this type.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::EventTypeName>))]
    pub event_type: Option<String>,
    /// An event given in full.
    #[serde(default)]
    pub event: Option<SampleEvent>,
}

/// Whether the event matches the filter, and if not, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FilterTestOut {
    pub matches: bool,
    /// The first condition that failed, with its place in the filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The stored event tried (absent for an event given in full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// What the filter read: `{event_type, source, payload, metadata}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub document: Value,
}

/// `POST /api/v1/endpoints/transform-test`: a transform and the payload to
/// try it on, named in exactly one way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TransformTestIn {
    /// The jq program, as an endpoint's `transform` takes it.
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub transform: String,
    /// A stored event of the tenant's.
    #[serde(default)]
    pub event_id: Option<EventId>,
    /// The newest stored event of this type.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::EventTypeName>))]
    pub event_type: Option<String>,
    /// A payload given in full.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<Value>,
}

/// What a transform made of a payload: the body a receiver would get.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransformTestOut {
    /// The body, as it would be signed and sent: any JSON value.
    pub output: Value,
    /// The stored event tried (absent for a payload given in full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
}
