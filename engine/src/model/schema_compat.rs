//! Whether a new version of an event type's JSON Schema still accepts every
//! event the current version accepts. Consumers built against the current
//! version must not start receiving events it would have refused, so a new
//! version that could refuse an event the old one took (a new required
//! property, a narrowed type, a removed enum value, `additionalProperties`
//! closed…) is *breaking*, and each such change is named by where it is.
//!
//! A property the current version does not declare, under an open content
//! model (no `additionalProperties`), is outside its contract: declaring it
//! in the new version, optional, is compatible whatever its schema (the usual
//! way a schema grows), while making it required is not.
//!
//! The comparison is structural and conservative: it walks both schemas side
//! by side, proves the common keywords (types, required, properties, enums,
//! bounds, lengths, patterns, items) compatible, and reports a change to a
//! keyword it cannot reason about (`$ref`, `anyOf`, `oneOf`, `allOf`, `not`,
//! `if`/`then`/`else`…) as one it cannot prove compatible. It never calls a
//! breaking change compatible; it may call a harmless rewrite of a
//! combinator breaking, which `breaking: true` then accepts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One way the new version may refuse what the old one accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Incompatibility {
    /// Where in the schema (a JSON pointer into the new version; `""` is its root).
    pub pointer: String,
    /// The keyword that changed.
    pub keyword: String,
    /// What changed, in words.
    pub change: String,
}

impl Incompatibility {
    /// `/required: required (property 'currency' became required)`; the
    /// schema's root reads as `(the schema)`.
    pub fn describe(&self) -> String {
        let at = if self.pointer.is_empty() {
            "(the schema)"
        } else {
            &self.pointer
        };
        format!("{at}: {} ({})", self.keyword, self.change)
    }
}

/// Each incompatibility described, joined by `; `.
pub fn describe_all(found: &[Incompatibility]) -> String {
    found
        .iter()
        .map(Incompatibility::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every change from `old` to `new` that could refuse an event `old` accepted.
/// Empty: every event valid under `old` is valid under `new`.
pub fn incompatibilities(old: &Value, new: &Value) -> Vec<Incompatibility> {
    let mut found = Vec::new();
    compare(old, new, "", &mut found);
    found
}

/// Keywords this comparison reasons about; any other keyword that differs
/// between the versions is reported as unprovable.
const UNDERSTOOD: &[&str] = &[
    "type",
    "required",
    "properties",
    "additionalProperties",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "items",
    "minProperties",
    "maxProperties",
];

/// Keywords that never change which instances validate (annotations).
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "format",
    "contentMediaType",
    "contentEncoding",
    "$defs",
];

fn push(found: &mut Vec<Incompatibility>, pointer: &str, keyword: &str, change: String) {
    found.push(Incompatibility {
        pointer: pointer.to_string(),
        keyword: keyword.to_string(),
        change,
    });
}

/// A JSON pointer segment, escaped (RFC 6901).
fn segment(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn compare(old: &Value, new: &Value, at: &str, found: &mut Vec<Incompatibility>) {
    // Boolean schemas: `true` accepts everything, `false` nothing.
    match (old, new) {
        (_, Value::Bool(true)) | (Value::Bool(false), _) => return,
        (_, Value::Bool(false)) => {
            push(found, at, "false", "now refuses every value".into());
            return;
        }
        _ => {}
    }
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);

    types(old, new, at, found);
    required(old, new, at, found);
    properties(old, new, at, found);
    values(old, new, at, found);
    for (keyword, raise_is_narrower) in [
        ("minimum", true),
        ("exclusiveMinimum", true),
        ("minLength", true),
        ("minItems", true),
        ("minProperties", true),
        ("maximum", false),
        ("exclusiveMaximum", false),
        ("maxLength", false),
        ("maxItems", false),
        ("maxProperties", false),
    ] {
        bound(old, new, keyword, raise_is_narrower, at, found);
    }
    for keyword in ["pattern", "multipleOf"] {
        if new.get(keyword).is_some() && old.get(keyword) != new.get(keyword) {
            let change = match old.get(keyword) {
                None => format!("{keyword} {} added", new[keyword]),
                Some(was) => format!("{keyword} changed from {was} to {}", new[keyword]),
            };
            push(found, &format!("{at}/{keyword}"), keyword, change);
        }
    }
    if new.get("uniqueItems") == Some(&Value::Bool(true))
        && old.get("uniqueItems") != Some(&Value::Bool(true))
    {
        push(
            found,
            &format!("{at}/uniqueItems"),
            "uniqueItems",
            "items must now be unique".into(),
        );
    }
    match (old.get("items"), new.get("items")) {
        (_, None) => {}
        (None, Some(items)) => compare(&Value::Bool(true), items, &format!("{at}/items"), found),
        (Some(was), Some(items)) => compare(was, items, &format!("{at}/items"), found),
    }
    // Keywords this comparison does not model: any difference may narrow.
    let mut others: Vec<&String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| !UNDERSTOOD.contains(&k.as_str()) && !ANNOTATIONS.contains(&k.as_str()))
        .collect();
    others.sort();
    others.dedup();
    for keyword in others {
        if old.get(keyword) != new.get(keyword) {
            push(
                found,
                &format!("{at}/{}", segment(keyword)),
                keyword,
                format!(
                    "{keyword} changed, and Herald cannot prove the change accepts everything the old version did"
                ),
            );
        }
    }
}

/// The JSON types a schema allows (`None`: any).
fn type_set(schema: &Map<String, Value>) -> Option<Vec<String>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.clone()]),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

fn types(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    at: &str,
    found: &mut Vec<Incompatibility>,
) {
    let Some(allowed) = type_set(new) else { return };
    let accepts = |t: &str| {
        allowed.iter().any(|a| a == t) || (t == "integer" && allowed.iter().any(|a| a == "number"))
    };
    let was = type_set(old).unwrap_or_else(|| {
        ["null", "boolean", "object", "array", "number", "string"]
            .map(str::to_string)
            .to_vec()
    });
    let lost: Vec<&String> = was.iter().filter(|t| !accepts(t)).collect();
    if !lost.is_empty() {
        let lost: Vec<&str> = lost.iter().map(|t| t.as_str()).collect();
        push(
            found,
            &format!("{at}/type"),
            "type",
            format!("no longer accepts {}", lost.join(", ")),
        );
    }
}

fn names(schema: &Map<String, Value>, keyword: &str) -> Vec<String> {
    schema
        .get(keyword)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn required(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    at: &str,
    found: &mut Vec<Incompatibility>,
) {
    let was = names(old, "required");
    for name in names(new, "required") {
        if !was.contains(&name) {
            push(
                found,
                &format!("{at}/required"),
                "required",
                format!("property '{name}' became required"),
            );
        }
    }
}

fn properties(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    at: &str,
    found: &mut Vec<Incompatibility>,
) {
    let empty = Map::new();
    let old_props = old
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let new_props = new
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    // What a property not listed may be, in each version (absent: anything).
    let old_other = old
        .get("additionalProperties")
        .unwrap_or(&Value::Bool(true));
    let new_other = new
        .get("additionalProperties")
        .unwrap_or(&Value::Bool(true));
    for (name, schema) in new_props {
        let was = match old_props.get(name) {
            Some(was) => was,
            // A property the old version never declared is not part of its
            // contract: declaring it (optional) is how a schema grows.
            None if old_other == &Value::Bool(true) => continue,
            None => old_other,
        };
        compare(
            was,
            schema,
            &format!("{at}/properties/{}", segment(name)),
            found,
        );
    }
    for (name, was) in old_props {
        if !new_props.contains_key(name) {
            // The property falls under the new `additionalProperties`.
            compare(
                was,
                new_other,
                &format!("{at}/properties/{}", segment(name)),
                found,
            );
        }
    }
    if new_other != old_other {
        let before = found.len();
        compare(
            old_other,
            new_other,
            &format!("{at}/additionalProperties"),
            found,
        );
        if found.len() > before && new_other == &Value::Bool(false) {
            found.truncate(before);
            push(
                found,
                &format!("{at}/additionalProperties"),
                "additionalProperties",
                "closed: properties not listed are now refused".into(),
            );
        }
    }
}

/// `enum` and `const`: the values the new version allows must include every
/// value the old one allowed.
fn values(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    at: &str,
    found: &mut Vec<Incompatibility>,
) {
    let allowed = |s: &Map<String, Value>| -> Option<Vec<Value>> {
        match (s.get("const"), s.get("enum")) {
            (Some(c), _) => Some(vec![c.clone()]),
            (None, Some(Value::Array(values))) => Some(values.clone()),
            _ => None,
        }
    };
    let Some(now) = allowed(new) else { return };
    let keyword = if new.contains_key("const") {
        "const"
    } else {
        "enum"
    };
    match allowed(old) {
        None => push(
            found,
            &format!("{at}/{keyword}"),
            keyword,
            format!("{keyword} added: only {} allowed now", Value::Array(now)),
        ),
        Some(was) => {
            for value in was.iter().filter(|v| !now.contains(v)) {
                push(
                    found,
                    &format!("{at}/{keyword}"),
                    keyword,
                    format!("value {value} removed"),
                );
            }
        }
    }
}

fn bound(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    keyword: &str,
    raise_is_narrower: bool,
    at: &str,
    found: &mut Vec<Incompatibility>,
) {
    let Some(now) = new.get(keyword).and_then(Value::as_f64) else {
        return;
    };
    let narrower = match old.get(keyword).and_then(Value::as_f64) {
        None => true,
        Some(was) if raise_is_narrower => now > was,
        Some(was) => now < was,
    };
    if narrower {
        let change = match old.get(keyword) {
            None => format!("{keyword} {} added", new[keyword]),
            Some(was) => format!(
                "{keyword} {} from {was} to {}",
                if raise_is_narrower {
                    "raised"
                } else {
                    "lowered"
                },
                new[keyword]
            ),
        };
        push(found, &format!("{at}/{keyword}"), keyword, change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The base every case changes: an order with an id, an amount, a status
    /// and tags.
    fn order() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["id", "amount"],
            "properties": {
                "id": {"type": "string", "minLength": 1, "maxLength": 64},
                "amount": {"type": "number", "minimum": 0},
                "status": {"enum": ["new", "paid", "refunded"]},
                "note": {"type": ["string", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
                "customer": {"type": "object", "properties": {"email": {"type": "string"}}}
            }
        })
    }

    /// `order()` with `change` applied at a JSON pointer (`null` removes).
    fn changed(pointer: &str, change: Value) -> Value {
        let mut schema = order();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let holder = schema.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        if change.is_null() {
            holder.remove(key);
        } else {
            holder.insert(key.to_string(), change);
        }
        schema
    }

    #[test]
    fn each_kind_of_change_is_judged_and_a_breaking_one_named_where_it_is() {
        // (what changed, the new version, the pointers of what it breaks)
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            ("nothing", order(), vec![]),
            (
                "a description",
                changed("/description", json!("An order")),
                vec![],
            ),
            (
                "an optional property added",
                changed("/properties/coupon", json!({"type": "string"})),
                vec![],
            ),
            (
                "a required property made optional",
                changed("/required", json!(["id"])),
                vec![],
            ),
            (
                "a new required property",
                changed("/required", json!(["id", "amount", "currency"])),
                vec!["/required"],
            ),
            (
                "a type narrowed (number to integer)",
                changed("/properties/amount/type", json!("integer")),
                vec!["/properties/amount/type"],
            ),
            (
                "null no longer allowed",
                changed("/properties/note/type", json!("string")),
                vec!["/properties/note/type"],
            ),
            (
                "a type widened to allow null",
                changed("/properties/id/type", json!(["string", "null"])),
                vec![],
            ),
            (
                "an enum value added",
                changed(
                    "/properties/status/enum",
                    json!(["new", "paid", "refunded", "void"]),
                ),
                vec![],
            ),
            (
                "an enum value removed",
                changed("/properties/status/enum", json!(["new", "paid"])),
                vec!["/properties/status/enum"],
            ),
            (
                "an enum added where any value was allowed",
                changed("/properties/note/enum", json!(["a", "b"])),
                vec!["/properties/note/enum"],
            ),
            (
                "additionalProperties closed",
                changed("/additionalProperties", json!(false)),
                vec!["/additionalProperties"],
            ),
            (
                "a minimum raised",
                changed("/properties/amount/minimum", json!(1)),
                vec!["/properties/amount/minimum"],
            ),
            (
                "a minimum lowered",
                changed("/properties/amount/minimum", json!(-5)),
                vec![],
            ),
            (
                "a maximum added",
                changed("/properties/amount/maximum", json!(1000)),
                vec!["/properties/amount/maximum"],
            ),
            (
                "a maxLength lowered",
                changed("/properties/id/maxLength", json!(32)),
                vec!["/properties/id/maxLength"],
            ),
            (
                "a maxLength raised",
                changed("/properties/id/maxLength", json!(128)),
                vec![],
            ),
            (
                "a pattern added",
                changed("/properties/id/pattern", json!("^ord_")),
                vec!["/properties/id/pattern"],
            ),
            (
                "array items narrowed",
                changed(
                    "/properties/tags/items",
                    json!({"type": "string", "maxLength": 20}),
                ),
                vec!["/properties/tags/items/maxLength"],
            ),
            (
                "maxItems lowered",
                changed("/properties/tags/maxItems", json!(5)),
                vec!["/properties/tags/maxItems"],
            ),
            (
                "uniqueItems required",
                changed("/properties/tags/uniqueItems", json!(true)),
                vec!["/properties/tags/uniqueItems"],
            ),
            (
                "a nested property made required",
                changed("/properties/customer/required", json!(["email"])),
                vec!["/properties/customer/required"],
            ),
            (
                "a property's type changed",
                changed(
                    "/properties/customer/properties/email/type",
                    json!("integer"),
                ),
                vec!["/properties/customer/properties/email/type"],
            ),
            (
                "a combinator introduced",
                changed("/properties/note/anyOf", json!([{"type": "string"}])),
                vec!["/properties/note/anyOf"],
            ),
            (
                "a format added (an annotation)",
                changed(
                    "/properties/customer/properties/email/format",
                    json!("email"),
                ),
                vec![],
            ),
            (
                "the whole schema refusing everything",
                json!(false),
                vec![""],
            ),
        ];
        assert!(cases.len() >= 10);
        for (what, new, expected) in cases {
            let found = incompatibilities(&order(), &new);
            if what != "nothing" && expected.is_empty() {
                assert_ne!(new, order(), "{what}: the case changes nothing");
            }
            let pointers: Vec<&str> = found.iter().map(|i| i.pointer.as_str()).collect();
            assert_eq!(pointers, expected, "{what}: {found:#?}");
            assert!(found.iter().all(|i| !i.change.is_empty()), "{what}");
        }
    }

    #[test]
    fn integer_to_number_widens_and_number_to_integer_narrows() {
        let integer = json!({"type": "integer"});
        let number = json!({"type": "number"});
        assert!(incompatibilities(&integer, &number).is_empty());
        assert_eq!(incompatibilities(&number, &integer).len(), 1);
        // No type at all (anything) to one type narrows; back widens.
        assert_eq!(incompatibilities(&json!({}), &integer).len(), 1);
        assert!(incompatibilities(&integer, &json!({})).is_empty());
    }

    #[test]
    fn a_removed_property_falls_under_additional_properties() {
        let old = json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false});
        let new = json!({"type": "object", "properties": {}, "additionalProperties": false});
        let found = incompatibilities(&old, &new);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].pointer, "/properties/a");
        // With additional properties allowed, removing a definition is harmless.
        let open = json!({"type": "object", "properties": {}});
        assert!(incompatibilities(&old, &open).is_empty());
    }

    #[test]
    fn pointers_escape_slashes_and_tildes() {
        let old = json!({"properties": {"a/b~c": {"type": "string"}}});
        let new = json!({"properties": {"a/b~c": {"type": "integer"}}});
        assert_eq!(
            incompatibilities(&old, &new)[0].pointer,
            "/properties/a~1b~0c/type"
        );
    }
}
