//! The API reference the `/docs` page shows, read from the server's OpenAPI
//! document (the same one `/api/v1/openapi.json` serves), so the page and the
//! document cannot disagree.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiReference {
    pub title: String,
    pub version: String,
    pub description: String,
    pub groups: Vec<ApiGroup>,
    pub schemas: Vec<ApiSchema>,
}

/// The operations of one tag, in the document's tag order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiGroup {
    pub tag: String,
    pub description: String,
    pub operations: Vec<ApiOperation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiOperation {
    /// Unique on the page: the anchor and the try-it form's ids.
    pub id: String,
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    /// Needs an API key.
    pub authenticated: bool,
    /// A websocket upgrade: the page cannot send it with fetch.
    pub websocket: bool,
    pub params: Vec<ApiParam>,
    pub request: Option<ApiBody>,
    pub responses: Vec<ApiResponse>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiParam {
    pub name: String,
    /// `path`, `query` or `header`.
    pub location: String,
    pub required: bool,
    pub kind: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiBody {
    pub schema: String,
    pub description: String,
    /// Pretty-printed JSON.
    pub example: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiResponse {
    pub status: String,
    pub description: String,
    pub content_type: Option<String>,
    pub schema: Option<String>,
    pub example: Option<String>,
}

/// A component schema's fields, for the reference's last section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiSchema {
    pub name: String,
    pub description: String,
    pub fields: Vec<ApiField>,
    /// For enums: the accepted values.
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiField {
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub description: String,
}

/// Public: the API's documentation needs no sign-in.
#[server(prefix = "/fn", endpoint = "api_reference")]
pub async fn get_api_reference() -> Result<ApiReference, ConsoleError> {
    let state = crate::ssr::console_state()?;
    Ok(reference_from(state.api_doc))
}

#[cfg(feature = "ssr")]
fn text(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A schema as a short type name: `EndpointOut`, `string`, `array of EventId`.
#[cfg(feature = "ssr")]
fn kind_of(schema: &serde_json::Value) -> String {
    use serde_json::Value;
    if let Some(r) = schema["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema[key].as_array() {
            let kinds: Vec<String> = list.iter().map(kind_of).filter(|k| k != "null").collect();
            let nullable = list.iter().any(|s| s["type"] == "null");
            let joined = kinds.join(if key == "allOf" { " & " } else { " | " });
            return if nullable {
                format!("{joined} or null")
            } else {
                joined
            };
        }
    }
    let base = |t: &str| match t {
        "array" => format!("array of {}", kind_of(&schema["items"])),
        other => other.to_string(),
    };
    match &schema["type"] {
        Value::String(t) => base(t),
        Value::Array(types) => {
            let names: Vec<String> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .map(base)
                .collect();
            let nullable = types.iter().any(|t| t == "null");
            format!(
                "{}{}",
                names.join(" | "),
                if nullable { " or null" } else { "" }
            )
        }
        _ if schema.get("properties").is_some() => "object".into(),
        _ => "any".into(),
    }
}

#[cfg(feature = "ssr")]
fn pretty(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// The reference from an OpenAPI 3.1 document.
#[cfg(feature = "ssr")]
pub fn reference_from(doc: &serde_json::Value) -> ApiReference {
    use serde_json::Value;
    const METHODS: [&str; 5] = ["get", "post", "patch", "put", "delete"];
    let empty = serde_json::Map::new();
    let mut groups: Vec<ApiGroup> = doc["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| ApiGroup {
                    tag: text(&t["name"]),
                    description: text(&t["description"]),
                    operations: Vec::new(),
                })
                .collect()
        })
        .unwrap_or_default();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    for (path, item) in paths {
        for method in METHODS {
            let op = &item[method];
            if !op.is_object() {
                continue;
            }
            let params = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| ApiParam {
                            name: text(&p["name"]),
                            location: text(&p["in"]),
                            required: p["required"].as_bool().unwrap_or(false),
                            kind: kind_of(&p["schema"]),
                            description: text(&p["description"]),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let request = op["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|media| ApiBody {
                    schema: kind_of(&media["schema"]),
                    description: text(&op["requestBody"]["description"]),
                    example: pretty(&media["example"]),
                });
            let mut responses: Vec<ApiResponse> = op["responses"]
                .as_object()
                .unwrap_or(&empty)
                .iter()
                .map(|(status, r)| {
                    let media = r["content"].as_object().and_then(|c| c.iter().next());
                    ApiResponse {
                        status: status.clone(),
                        description: text(&r["description"]),
                        content_type: media.map(|(t, _)| t.clone()),
                        schema: media.map(|(_, m)| kind_of(&m["schema"])),
                        example: media
                            .map(|(_, m)| &m["example"])
                            .filter(|e| !e.is_null())
                            .map(pretty),
                    }
                })
                .collect();
            responses.sort_by(|a, b| a.status.cmp(&b.status));
            let tag = op["tags"][0].as_str().unwrap_or("Other").to_string();
            let operation = ApiOperation {
                id: format!(
                    "{method}-{}",
                    path.trim_matches('/')
                        .replace(['/', '{', '}', '.'], "-")
                        .replace("--", "-")
                        .trim_end_matches('-')
                ),
                method: method.to_uppercase(),
                path: path.clone(),
                summary: text(&op["summary"]),
                description: text(&op["description"]),
                authenticated: op.get("security").is_some(),
                websocket: op["responses"].get("101").is_some(),
                params,
                request,
                responses,
            };
            match groups.iter_mut().find(|g| g.tag == tag) {
                Some(group) => group.operations.push(operation),
                None => groups.push(ApiGroup {
                    tag,
                    description: String::new(),
                    operations: vec![operation],
                }),
            }
        }
    }
    groups.retain(|g| !g.operations.is_empty());
    let schemas = doc["components"]["schemas"]
        .as_object()
        .unwrap_or(&empty)
        .iter()
        .map(|(name, s)| {
            let required: Vec<&str> = s["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            ApiSchema {
                name: name.clone(),
                description: text(&s["description"]),
                fields: s["properties"]
                    .as_object()
                    .unwrap_or(&empty)
                    .iter()
                    .map(|(field, f)| ApiField {
                        name: field.clone(),
                        kind: kind_of(f),
                        required: required.contains(&field.as_str()),
                        description: text(&f["description"]),
                    })
                    .collect(),
                values: s["enum"]
                    .as_array()
                    .map(|v| v.iter().map(pretty).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    ApiReference {
        title: text(&doc["info"]["title"]),
        version: text(&doc["info"]["version"]),
        description: text(&doc["info"]["description"]),
        groups,
        schemas,
    }
}
