//! Event types' JSON Schemas (draft 2020-12), compiled once with the
//! `jsonschema` crate and checked against payloads: what `schema_mode` warns
//! about or enforces at ingest.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::model::{EventProblem, SchemaMode, SchemaProblem, SchemaRefusal, TenantId};
use crate::store::{CatalogSnapshot, NewEvent, Store};
use crate::{EngineError, Result};

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

/// A tenant's catalog as ingest checks events against it, at one revision.
#[derive(Debug)]
pub struct TenantCatalog {
    pub revision: i64,
    pub mode: SchemaMode,
    pub require_registered: bool,
    types: HashMap<String, Checked>,
}

/// One registered type: archived or not, and its current schema compiled.
#[derive(Debug)]
struct Checked {
    archived: bool,
    schema: Option<(u32, Arc<CompiledSchema>)>,
}

/// At most this many problems are named in one refusal, over all its events.
pub const MAX_REFUSAL_PROBLEMS: usize = 100;

impl TenantCatalog {
    /// Checks a publish's events against their types: refuses an
    /// unregistered (or archived) type when registered types are required;
    /// under `warn` and `enforce` records on each event the version that
    /// checked it and, under `warn`, what it found wrong. Under `enforce`
    /// any problem refuses the whole request (`SchemaViolation`, naming
    /// each pointer and keyword). Answers how many events were accepted
    /// with problems. `batch`: the events are a batch, named by index.
    pub fn check(&self, events: &mut [NewEvent], batch: bool) -> Result<u64> {
        let at = |i: usize| {
            if batch {
                format!("events[{i}].")
            } else {
                String::new()
            }
        };
        if self.require_registered {
            for (i, event) in events.iter().enumerate() {
                match self.types.get(&event.event_type) {
                    Some(t) if !t.archived => {}
                    found => {
                        let why = if found.is_some() {
                            "is archived"
                        } else {
                            "is not registered"
                        };
                        return Err(EngineError::invalid(
                            format!("{}event_type", at(i)),
                            format!(
                                "'{}' {why} in the event catalog, and this tenant accepts registered types only (require_registered_types)",
                                event.event_type
                            ),
                        ));
                    }
                }
            }
        }
        if self.mode == SchemaMode::Off {
            return Ok(0);
        }
        let mut refused: Vec<EventProblem> = Vec::new();
        let mut refused_events = 0usize;
        let mut warned = 0u64;
        for (i, event) in events.iter_mut().enumerate() {
            let Some((version, schema)) = self
                .types
                .get(&event.event_type)
                .and_then(|t| t.schema.as_ref())
            else {
                continue;
            };
            event.schema_version = Some(*version);
            let payload: Value = serde_json::from_str(&event.payload).map_err(|e| {
                EngineError::Internal(format!("a checked payload is not JSON: {e}"))
            })?;
            if schema.accepts(&payload) {
                continue;
            }
            let problems = schema.problems(&payload);
            match self.mode {
                SchemaMode::Warn => {
                    warned += 1;
                    event.schema_problems = problems;
                }
                _ => {
                    refused_events += 1;
                    let room = MAX_REFUSAL_PROBLEMS.saturating_sub(refused.len());
                    refused.extend(problems.into_iter().take(room).map(|p| EventProblem {
                        index: batch.then_some(i),
                        event_type: event.event_type.clone(),
                        version: *version,
                        pointer: p.pointer,
                        keyword: p.keyword,
                        message: p.message,
                    }));
                }
            }
        }
        if refused.is_empty() {
            return Ok(warned);
        }
        Err(EngineError::SchemaViolation {
            message: refusal_message(&refused, refused_events, batch),
            problems: refused,
            events: refused_events,
        })
    }
}

/// `payload: refused by order.created's schema (version 2): /amount: minimum
/// (…); (the payload): required (…)`, one clause per event.
fn refusal_message(problems: &[EventProblem], events: usize, batch: bool) -> String {
    let mut clauses: Vec<String> = Vec::new();
    let mut i = 0;
    while i < problems.len() {
        let first = &problems[i];
        let same: Vec<&EventProblem> = problems[i..]
            .iter()
            .take_while(|p| p.index == first.index)
            .collect();
        i += same.len();
        let at = match (batch, first.index) {
            (true, Some(n)) => format!("events[{n}].payload"),
            _ => "payload".to_string(),
        };
        let each: Vec<String> = same
            .iter()
            .map(|p| {
                SchemaProblem {
                    pointer: p.pointer.clone(),
                    keyword: p.keyword.clone(),
                    message: p.message.clone(),
                }
                .describe()
            })
            .collect();
        clauses.push(format!(
            "{at}: refused by {}'s schema (version {}): {}",
            first.event_type,
            first.version,
            each.join("; ")
        ));
    }
    let mut message = clauses.join(". ");
    let named = problems
        .iter()
        .map(|p| p.index)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if events > named {
        message.push_str(&format!(
            ". {} more event(s) refused as well; the first {MAX_REFUSAL_PROBLEMS} problems are named",
            events - named
        ));
    }
    message
}

/// Each tenant's catalog as last read, and every schema compiled so far
/// (kept across revisions: a new version compiles once, not the whole
/// catalog). Ingest checks against the cached catalog and the commit
/// compares its revision with the stored one, so a stale entry costs a
/// second check, never a wrong one.
#[derive(Debug, Default)]
pub struct SchemaGate {
    tenants: Mutex<HashMap<TenantId, Arc<TenantCatalog>>>,
    compiled: Mutex<HashMap<(TenantId, String, u32), Arc<CompiledSchema>>>,
    /// The events each tenant's publishes were refused for, newest last.
    refused: Mutex<HashMap<TenantId, VecDeque<SchemaRefusal>>>,
}

/// Refusals kept per tenant (on each node, in memory).
pub const KEPT_REFUSALS: usize = 100;

impl SchemaGate {
    /// Keeps what a refused publish was refused for: one entry per refused
    /// event (`events` as published, `problems` as `check` named them).
    pub fn record_refusal(
        &self,
        tenant: TenantId,
        events: &[NewEvent],
        problems: &[EventProblem],
        at: chrono::DateTime<chrono::Utc>,
    ) {
        // `check` names an event's problems together, in its order.
        let mut each: Vec<(Option<usize>, SchemaRefusal)> = Vec::new();
        for p in problems {
            let problem = SchemaProblem {
                pointer: p.pointer.clone(),
                keyword: p.keyword.clone(),
                message: p.message.clone(),
            };
            match each.last_mut() {
                Some((index, last)) if *index == p.index => last.problems.push(problem),
                _ => each.push((
                    p.index,
                    SchemaRefusal {
                        at,
                        event_type: p.event_type.clone(),
                        version: p.version,
                        source: events
                            .get(p.index.unwrap_or(0))
                            .and_then(|e| e.source.clone()),
                        problems: vec![problem],
                    },
                )),
            }
        }
        let mut refused = self.refused.lock().expect("refusals");
        let kept = refused.entry(tenant).or_default();
        for (_, r) in each {
            if kept.len() == KEPT_REFUSALS {
                kept.pop_front();
            }
            kept.push_back(r);
        }
    }

    /// The type's refusals this node keeps, newest first.
    pub fn refusals(&self, tenant: TenantId, event_type: &str) -> Vec<SchemaRefusal> {
        self.refused
            .lock()
            .expect("refusals")
            .get(&tenant)
            .map(|kept| {
                kept.iter()
                    .rev()
                    .filter(|r| r.event_type == event_type)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The tenant's catalog, read from the store when none is cached.
    pub async fn catalog(&self, store: &dyn Store, tenant: TenantId) -> Result<Arc<TenantCatalog>> {
        if let Some(found) = self.tenants.lock().expect("catalog cache").get(&tenant) {
            return Ok(found.clone());
        }
        let snapshot = store.catalog_snapshot(tenant).await?;
        let catalog = Arc::new(self.build(tenant, snapshot)?);
        let mut tenants = self.tenants.lock().expect("catalog cache");
        // Another request may have read a newer one meanwhile.
        let keep = match tenants.get(&tenant) {
            Some(cached) if cached.revision > catalog.revision => cached.clone(),
            _ => catalog,
        };
        tenants.insert(tenant, keep.clone());
        Ok(keep)
    }

    /// Drops the tenant's cached catalog if it is still at `revision`
    /// (a commit found the stored one newer, or this node changed it).
    pub fn forget(&self, tenant: TenantId, revision: Option<i64>) {
        let mut tenants = self.tenants.lock().expect("catalog cache");
        if revision.is_none_or(|r| tenants.get(&tenant).is_some_and(|c| c.revision <= r)) {
            tenants.remove(&tenant);
        }
    }

    fn build(&self, tenant: TenantId, snapshot: CatalogSnapshot) -> Result<TenantCatalog> {
        // Schemas are compiled only when something checks them.
        let compile = snapshot.mode != SchemaMode::Off;
        let mut types = HashMap::with_capacity(snapshot.types.len());
        for t in snapshot.types {
            let schema = match (compile, t.version, &t.schema) {
                (true, Some(version), Some(schema)) => {
                    Some((version, self.compiled(tenant, &t.name, version, schema)?))
                }
                _ => None,
            };
            types.insert(
                t.name,
                Checked {
                    archived: t.archived,
                    schema,
                },
            );
        }
        Ok(TenantCatalog {
            revision: snapshot.revision,
            mode: snapshot.mode,
            require_registered: snapshot.require_registered,
            types,
        })
    }

    fn compiled(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        schema: &Value,
    ) -> Result<Arc<CompiledSchema>> {
        let key = (tenant, name.to_string(), version);
        if let Some(found) = self.compiled.lock().expect("schema cache").get(&key) {
            return Ok(found.clone());
        }
        let compiled = Arc::new(CompiledSchema::compile(schema).map_err(|p| {
            EngineError::Internal(format!(
                "the stored schema of '{name}' version {version} does not compile ({}); `herald validate-schemas` lists such schemas",
                p.describe()
            ))
        })?);
        self.compiled
            .lock()
            .expect("schema cache")
            .insert(key, compiled.clone());
        Ok(compiled)
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

    fn refused(index: Option<usize>, event_type: &str, pointer: &str) -> EventProblem {
        EventProblem {
            index,
            event_type: event_type.into(),
            version: 2,
            pointer: pointer.into(),
            keyword: "minimum".into(),
            message: "less than 0".into(),
        }
    }

    #[test]
    fn refusals_are_kept_per_event_newest_first_and_capped() {
        let gate = SchemaGate::default();
        let tenant = TenantId::new();
        let other = TenantId::new();
        let published = |source: &str| NewEvent {
            event_type: "order.created".into(),
            payload: "{}".into(),
            idempotency_key: None,
            correlation_id: None,
            entity_id: None,
            ordering_key: None,
            metadata: None,
            source: Some(source.into()),
            only_endpoint: None,
            operational: false,
            schema_version: None,
            schema_problems: Vec::new(),
        };
        let at = chrono::Utc::now();
        // A batch: its events 0 and 2 refused, the first with two problems.
        gate.record_refusal(
            tenant,
            &[published("a"), published("b"), published("c")],
            &[
                refused(Some(0), "order.created", "/amount"),
                refused(Some(0), "order.created", "/id"),
                refused(Some(2), "order.created", "/total"),
            ],
            at,
        );
        let kept = gate.refusals(tenant, "order.created");
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].source.as_deref(), Some("c"), "newest first");
        assert_eq!(kept[0].problems[0].pointer, "/total");
        assert_eq!(kept[1].source.as_deref(), Some("a"));
        let pointers: Vec<&str> = kept[1]
            .problems
            .iter()
            .map(|p| p.pointer.as_str())
            .collect();
        assert_eq!(pointers, ["/amount", "/id"]);
        assert_eq!(kept[1].version, 2);
        assert!(gate.refusals(tenant, "order.paid").is_empty());
        assert!(gate.refusals(other, "order.created").is_empty());

        for _ in 0..KEPT_REFUSALS + 5 {
            gate.record_refusal(
                tenant,
                &[published("d")],
                &[refused(None, "order.paid", "/x")],
                at,
            );
        }
        assert_eq!(gate.refusals(tenant, "order.paid").len(), KEPT_REFUSALS);
        assert!(
            gate.refusals(tenant, "order.created").is_empty(),
            "the oldest make room"
        );
    }
}
