//! Event types' JSON Schemas (draft 2020-12), compiled once with the
//! `jsonschema` crate and checked against payloads: what `schema_mode` warns
//! about or enforces at ingest.

use serde_json::Value;

use crate::model::SchemaProblem;

/// At most this many problems are reported for one payload: enough to fix a
/// publisher, not so many that a huge array of bad items makes a huge answer.
pub const MAX_PROBLEMS: usize = 20;

/// A schema ready to check payloads against.
pub struct CompiledSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledSchema")
    }
}

impl CompiledSchema {
    /// Compiles a schema as draft 2020-12 (whatever its `$schema` says). A
    /// schema that is not one (checked against the draft's meta-schema), or
    /// that refers outside itself, is refused with where and why.
    pub fn compile(schema: &Value) -> Result<Self, SchemaProblem> {
        if !(schema.is_object() || schema.is_boolean()) {
            return Err(SchemaProblem {
                pointer: String::new(),
                keyword: "type".into(),
                message: "a schema is a JSON object (or true or false)".into(),
            });
        }
        jsonschema::draft202012::options()
            .build(schema)
            .map(|validator| CompiledSchema { validator })
            .map_err(|e| SchemaProblem {
                pointer: e.instance_path().as_str().to_string(),
                keyword: e.kind().keyword().to_string(),
                message: e.masked().to_string(),
            })
    }

    /// Whether `payload` passes; cheaper than `problems` when it does.
    pub fn accepts(&self, payload: &Value) -> bool {
        self.validator.is_valid(payload)
    }

    /// Every way `payload` fails the schema (at most `MAX_PROBLEMS`), in the
    /// order the validator finds them; empty when it passes.
    pub fn problems(&self, payload: &Value) -> Vec<SchemaProblem> {
        if self.accepts(payload) {
            return Vec::new();
        }
        self.validator
            .iter_errors(payload)
            .take(MAX_PROBLEMS)
            .map(|e| SchemaProblem {
                pointer: e.instance_path().as_str().to_string(),
                keyword: e.kind().keyword().to_string(),
                message: e.masked().to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> CompiledSchema {
        CompiledSchema::compile(&json!({
            "type": "object",
            "required": ["id", "amount"],
            "properties": {
                "id": {"type": "string", "pattern": "^ord_"},
                "amount": {"type": "number", "minimum": 0},
                "items": {"type": "array", "items": {"type": "object", "required": ["sku"]}}
            },
            "additionalProperties": false
        }))
        .unwrap()
    }

    #[test]
    fn a_payload_that_fits_has_no_problems() {
        let payload = json!({"id": "ord_1", "amount": 12.5, "items": [{"sku": "A"}]});
        assert!(order().accepts(&payload));
        assert!(order().problems(&payload).is_empty());
    }

    #[test]
    fn each_failing_pointer_and_keyword_is_named() {
        let payload = json!({"id": "1", "amount": -3, "items": [{"sku": "A"}, {}], "extra": true});
        let mut found: Vec<(String, String)> = order()
            .problems(&payload)
            .into_iter()
            .map(|p| (p.pointer, p.keyword))
            .collect();
        found.sort();
        let expected: Vec<(String, String)> = [
            ("", "additionalProperties"),
            ("/amount", "minimum"),
            ("/id", "pattern"),
            ("/items/1", "required"),
        ]
        .into_iter()
        .map(|(p, k)| (p.to_string(), k.to_string()))
        .collect();
        assert_eq!(found, expected);
        // The payload's values are not repeated in the messages.
        for problem in order().problems(&payload) {
            assert!(!problem.message.contains("-3"), "{problem:?}");
            assert!(!problem.describe().is_empty());
        }
        let missing = order().problems(&json!({}));
        assert!(
            missing
                .iter()
                .all(|p| p.keyword == "required" && p.pointer.is_empty()),
            "{missing:?}"
        );
    }

    #[test]
    fn a_schema_that_is_not_one_is_refused_with_where_and_why() {
        let bad = CompiledSchema::compile(&json!({"type": "objekt"})).unwrap_err();
        assert_eq!(bad.pointer, "/type", "{bad:?}");
        assert!(!bad.message.is_empty());
        let bad = CompiledSchema::compile(&json!({"properties": {"a": {"minimum": "zero"}}}))
            .unwrap_err();
        assert_eq!(bad.pointer, "/properties/a/minimum", "{bad:?}");
        assert!(CompiledSchema::compile(&json!([1, 2])).is_err());
        // A reference outside the schema cannot be resolved offline.
        assert!(CompiledSchema::compile(&json!({"$ref": "https://example.com/s.json"})).is_err());
        assert!(CompiledSchema::compile(&json!(true)).is_ok());
    }

    #[test]
    fn many_problems_are_capped() {
        let schema =
            CompiledSchema::compile(&json!({"type": "array", "items": {"type": "string"}}))
                .unwrap();
        let payload = Value::Array((0..100).map(|n| json!(n)).collect());
        assert_eq!(schema.problems(&payload).len(), MAX_PROBLEMS);
    }
}
