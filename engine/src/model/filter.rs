//! Content filters: which events an endpoint wants, by what they carry, in a
//! small JSON language of the kind Convoy and Outpost users know.
//!
//! A filter is a JSON object over the event as a document
//! `{"event_type", "source", "payload", "metadata"}`. Each key is a dotted
//! path into it (`payload.order.total`, `metadata.region`) or an operator:
//! `$and` / `$or` (a list of filters) and `$not` (one filter). A path's value
//! is a literal, which the value found must equal, or an object of
//! comparisons: `$eq $neq $gt $gte $lt $lte $in $nin $exists`. Every key of
//! an object must hold.
//!
//! Arrays match as in MongoDB: a condition on a path that reaches an array
//! holds when it holds for the array itself or for any of its elements, and
//! a path goes through arrays (`payload.items.sku` reaches every item's sku;
//! a number picks one: `payload.items.0.sku`). `$neq` and `$nin` hold when no
//! value found is equal or listed (so also when nothing is found).
//! Comparisons order numbers with numbers and strings with strings; any
//! other pair does not compare.
//!
//! A filter is checked when it is saved ([`Filter::parse`]): each error names
//! its place as a JSON pointer into the filter. [`Filter::explain`] says why an
//! event does not match, naming the first condition that failed.

use serde_json::{Map, Value};
use std::cmp::Ordering;

/// The largest filter, as JSON text.
pub const MAX_FILTER_BYTES: usize = 8 * 1024;
/// How deeply `$and`, `$or` and `$not` may nest.
pub const MAX_DEPTH: usize = 8;
/// The most conditions one filter may hold.
pub const MAX_CONDITIONS: usize = 64;

/// What is wrong with a filter, and where (a JSON pointer into it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.at.is_empty() {
            "(the filter)"
        } else {
            &self.at
        };
        write!(f, "{at}: {}", self.message)
    }
}

/// A comparison of the values a path finds.
#[derive(Debug, Clone, PartialEq)]
enum Test {
    Eq(Value),
    Neq(Value),
    Gt(Value),
    Gte(Value),
    Lt(Value),
    Lte(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Path {
        /// Where the condition is in the filter, for explanations.
        at: String,
        path: Vec<String>,
        test: Test,
    },
}

/// A checked filter, ready to match events.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    root: Node,
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn error(at: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        at: at.to_string(),
        message: message.into(),
    }
}

/// The first segment a path may start with.
const ROOTS: [&str; 4] = ["event_type", "source", "payload", "metadata"];

struct Parser {
    conditions: usize,
}

impl Parser {
    fn object(
        &mut self,
        map: &Map<String, Value>,
        at: &str,
        depth: usize,
    ) -> Result<Node, FilterError> {
        if depth > MAX_DEPTH {
            return Err(error(at, format!("nested more than {MAX_DEPTH} deep")));
        }
        let mut all = Vec::with_capacity(map.len());
        for (key, value) in map {
            let here = format!("{at}/{}", escape(key));
            all.push(match key.as_str() {
                "$and" | "$or" => {
                    let Value::Array(items) = value else {
                        return Err(error(&here, format!("{key} takes a list of filters")));
                    };
                    if items.is_empty() {
                        return Err(error(&here, format!("{key} needs at least one filter")));
                    }
                    let nodes = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let at = format!("{here}/{i}");
                            match item {
                                Value::Object(m) => self.object(m, &at, depth + 1),
                                _ => Err(error(&at, "a filter is a JSON object")),
                            }
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    if key == "$and" { Node::All(nodes) } else { Node::Any(nodes) }
                }
                "$not" => match value {
                    Value::Object(m) => Node::Not(Box::new(self.object(m, &here, depth + 1)?)),
                    _ => return Err(error(&here, "$not takes one filter (a JSON object)")),
                },
                k if k.starts_with('$') => {
                    return Err(error(
                        &here,
                        format!("'{k}' is not an operator here: use $and, $or or $not, or a path such as payload.amount"),
                    ));
                }
                path => self.path(path, value, &here)?,
            });
        }
        Ok(Node::All(all))
    }

    fn path(&mut self, path: &str, value: &Value, at: &str) -> Result<Node, FilterError> {
        let segments: Vec<String> = path.split('.').map(str::to_string).collect();
        if segments.iter().any(String::is_empty) {
            return Err(error(
                at,
                format!("'{path}' is not a path: dot-separated names, such as payload.order.total"),
            ));
        }
        if !ROOTS.contains(&segments[0].as_str()) {
            return Err(error(
                at,
                format!("'{path}' must start with one of {}", ROOTS.join(", ")),
            ));
        }
        let comparisons = match value {
            Value::Object(m) if m.keys().any(|k| k.starts_with('$')) => m,
            literal => return self.node(at, segments, Test::Eq(literal.clone())),
        };
        if let Some(plain) = comparisons.keys().find(|k| !k.starts_with('$')) {
            return Err(error(
                &format!("{at}/{}", escape(plain)),
                "comparisons and plain keys cannot be mixed: put an object to compare with under $eq",
            ));
        }
        let mut all = Vec::with_capacity(comparisons.len());
        for (op, operand) in comparisons {
            let here = format!("{at}/{}", escape(op));
            let list = |what: &str| match operand {
                Value::Array(items) => Ok(items.clone()),
                _ => Err(error(&here, format!("{what} takes a list of values"))),
            };
            let ordered = |v: &Value| match v {
                Value::Number(_) | Value::String(_) => Ok(v.clone()),
                _ => Err(error(
                    &here,
                    format!("{op} compares with a number or a string"),
                )),
            };
            let test = match op.as_str() {
                "$eq" => Test::Eq(operand.clone()),
                "$neq" => Test::Neq(operand.clone()),
                "$gt" => Test::Gt(ordered(operand)?),
                "$gte" => Test::Gte(ordered(operand)?),
                "$lt" => Test::Lt(ordered(operand)?),
                "$lte" => Test::Lte(ordered(operand)?),
                "$in" => Test::In(list("$in")?),
                "$nin" => Test::Nin(list("$nin")?),
                "$exists" => match operand {
                    Value::Bool(b) => Test::Exists(*b),
                    _ => return Err(error(&here, "$exists takes true or false")),
                },
                other => {
                    return Err(error(
                        &here,
                        format!(
                            "'{other}' is not a comparison: use $eq, $neq, $gt, $gte, $lt, $lte, $in, $nin or $exists"
                        ),
                    ));
                }
            };
            all.push(self.node(&here, segments.clone(), test)?);
        }
        Ok(Node::All(all))
    }

    fn node(&mut self, at: &str, path: Vec<String>, test: Test) -> Result<Node, FilterError> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(error(
                at,
                format!("a filter holds at most {MAX_CONDITIONS} conditions"),
            ));
        }
        Ok(Node::Path {
            at: at.to_string(),
            path,
            test,
        })
    }
}

/// Every value `path` reaches from `value`, going through arrays.
fn reach<'v>(value: &'v Value, path: &[String], out: &mut Vec<&'v Value>) {
    let Some((first, rest)) = path.split_first() else {
        out.push(value);
        return;
    };
    match value {
        Value::Object(map) => {
            if let Some(next) = map.get(first) {
                reach(next, rest, out);
            }
        }
        Value::Array(items) => {
            if let Ok(i) = first.parse::<usize>() {
                if let Some(next) = items.get(i) {
                    reach(next, rest, out);
                }
            } else {
                for item in items {
                    reach(item, path, out);
                }
            }
        }
        _ => {}
    }
}

/// Equal as JSON values, numbers by value (`1` equals `1.0`).
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// The value itself and, for an array, each element: what a condition is
/// tried on.
fn candidates<'v>(found: &[&'v Value]) -> Vec<&'v Value> {
    let mut out = Vec::new();
    for v in found {
        out.push(*v);
        if let Value::Array(items) = v {
            out.extend(items.iter());
        }
    }
    out
}

fn holds(test: &Test, found: &[&Value]) -> bool {
    let each = candidates(found);
    let any = |f: &dyn Fn(&Value) -> bool| each.iter().any(|v| f(v));
    match test {
        Test::Eq(x) => any(&|v| equal(v, x)),
        Test::Neq(x) => !any(&|v| equal(v, x)),
        Test::Gt(x) => any(&|v| order(v, x) == Some(Ordering::Greater)),
        Test::Gte(x) => any(&|v| matches!(order(v, x), Some(Ordering::Greater | Ordering::Equal))),
        Test::Lt(x) => any(&|v| order(v, x) == Some(Ordering::Less)),
        Test::Lte(x) => any(&|v| matches!(order(v, x), Some(Ordering::Less | Ordering::Equal))),
        Test::In(xs) => any(&|v| xs.iter().any(|x| equal(v, x))),
        Test::Nin(xs) => !any(&|v| xs.iter().any(|x| equal(v, x))),
        Test::Exists(wanted) => found.is_empty() != *wanted,
    }
}

fn words(test: &Test) -> String {
    let show = |v: &Value| {
        let text = v.to_string();
        if text.chars().count() > 60 {
            format!("{}…", text.chars().take(60).collect::<String>())
        } else {
            text
        }
    };
    match test {
        Test::Eq(x) => format!("equal to {}", show(x)),
        Test::Neq(x) => format!("not equal to {}", show(x)),
        Test::Gt(x) => format!("greater than {}", show(x)),
        Test::Gte(x) => format!("at least {}", show(x)),
        Test::Lt(x) => format!("less than {}", show(x)),
        Test::Lte(x) => format!("at most {}", show(x)),
        Test::In(xs) => format!("one of {}", show(&Value::Array(xs.clone()))),
        Test::Nin(xs) => format!("none of {}", show(&Value::Array(xs.clone()))),
        Test::Exists(true) => "present".to_string(),
        Test::Exists(false) => "absent".to_string(),
    }
}

/// Why a node fails for `doc`, or `None` when it holds.
fn why_not(node: &Node, doc: &Value) -> Option<String> {
    match node {
        Node::All(nodes) => nodes.iter().find_map(|n| why_not(n, doc)),
        Node::Any(nodes) => {
            let reasons: Vec<String> = nodes
                .iter()
                .map(|n| why_not(n, doc))
                .collect::<Option<_>>()?;
            Some(format!("none of $or holds: {}", reasons.join("; ")))
        }
        Node::Not(inner) => match why_not(inner, doc) {
            Some(_) => None,
            None => Some("$not: the filter under it holds".to_string()),
        },
        Node::Path { at, path, test } => {
            let mut found = Vec::new();
            reach(doc, path, &mut found);
            if holds(test, &found) {
                return None;
            }
            let dotted = path.join(".");
            let seen = match found.as_slice() {
                [] => "is absent".to_string(),
                [one] => format!("is {one}"),
                many => format!("has {} values", many.len()),
            };
            Some(format!("{at}: {dotted} {seen}, not {}", words(test)))
        }
    }
}

impl Filter {
    /// Checks a filter; the error names where it is wrong.
    pub fn parse(filter: &Value) -> Result<Filter, FilterError> {
        let size = filter.to_string().len();
        if size > MAX_FILTER_BYTES {
            return Err(error(
                "",
                format!("{size} bytes is more than the limit of {MAX_FILTER_BYTES}"),
            ));
        }
        let Value::Object(map) = filter else {
            return Err(error("", "a filter is a JSON object"));
        };
        let root = Parser { conditions: 0 }.object(map, "", 0)?;
        Ok(Filter { root })
    }

    /// Whether the event (as `{"event_type","source","payload","metadata"}`) matches.
    pub fn matches(&self, event: &Value) -> bool {
        why_not(&self.root, event).is_none()
    }

    /// Why the event does not match (the first condition that failed, with
    /// its place in the filter), or `None` when it does.
    pub fn explain(&self, event: &Value) -> Option<String> {
        why_not(&self.root, event)
    }
}

/// The document a filter reads: the event's type, source, payload and metadata.
pub fn event_document(
    event_type: &str,
    source: Option<&str>,
    payload: Value,
    metadata: Option<Value>,
) -> Value {
    let mut doc = Map::with_capacity(4);
    doc.insert("event_type".into(), Value::from(event_type));
    doc.insert("source".into(), source.map_or(Value::Null, Value::from));
    doc.insert("payload".into(), payload);
    doc.insert("metadata".into(), metadata.unwrap_or(Value::Null));
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Value {
        event_document(
            "order.created",
            Some("shop"),
            json!({
                "id": "ord_1", "total": 120.5, "currency": "EUR", "express": false,
                "customer": {"tier": "gold", "tags": ["vip", "eu"]},
                "items": [{"sku": "A1", "qty": 2}, {"sku": "B7", "qty": 1}]
            }),
            Some(json!({"region": "eu-west"})),
        )
    }

    #[test]
    fn each_operator_matches_and_refuses_as_documented() {
        let cases: Vec<(Value, bool)> = vec![
            (json!({}), true),
            (json!({"event_type": "order.created"}), true),
            (json!({"event_type": "order.paid"}), false),
            (json!({"source": "shop"}), true),
            (json!({"metadata.region": "eu-west"}), true),
            (json!({"payload.currency": {"$eq": "EUR"}}), true),
            (json!({"payload.currency": {"$neq": "EUR"}}), false),
            (json!({"payload.missing": {"$neq": 1}}), true),
            (json!({"payload.total": {"$gt": 100}}), true),
            (json!({"payload.total": {"$gt": 120.5}}), false),
            (json!({"payload.total": {"$gte": 120.5}}), true),
            (json!({"payload.total": {"$lt": 100}}), false),
            (json!({"payload.total": {"$lte": 120.5, "$gt": 1}}), true),
            (json!({"payload.currency": {"$gt": "AAA"}}), true),
            (json!({"payload.currency": {"$gt": 5}}), false),
            (json!({"payload.currency": {"$in": ["USD", "EUR"]}}), true),
            (json!({"payload.currency": {"$in": ["USD"]}}), false),
            (json!({"payload.currency": {"$nin": ["USD"]}}), true),
            (json!({"payload.currency": {"$nin": ["EUR"]}}), false),
            (json!({"payload.customer.tier": {"$exists": true}}), true),
            (json!({"payload.coupon": {"$exists": true}}), false),
            (json!({"payload.coupon": {"$exists": false}}), true),
            (json!({"payload.express": false}), true),
            (json!({"payload.total": 120.5}), true),
            (
                json!({"payload.customer": {"tier": "gold", "tags": ["vip", "eu"]}}),
                true,
            ),
            (json!({"payload.customer": {"tier": "gold"}}), false),
            // Arrays: any element, the array itself, through arrays, by index.
            (json!({"payload.customer.tags": "vip"}), true),
            (json!({"payload.customer.tags": ["vip", "eu"]}), true),
            (
                json!({"payload.customer.tags": {"$nin": ["blocked"]}}),
                true,
            ),
            (json!({"payload.customer.tags": {"$neq": "vip"}}), false),
            (json!({"payload.items.sku": "B7"}), true),
            (json!({"payload.items.qty": {"$gt": 1}}), true),
            (json!({"payload.items.qty": {"$gt": 2}}), false),
            (json!({"payload.items.0.sku": "A1"}), true),
            (json!({"payload.items.1.sku": "A1"}), false),
            // Logic.
            (
                json!({"$and": [{"payload.currency": "EUR"}, {"payload.total": {"$gt": 100}}]}),
                true,
            ),
            (
                json!({"$and": [{"payload.currency": "EUR"}, {"payload.total": {"$gt": 500}}]}),
                false,
            ),
            (
                json!({"$or": [{"payload.currency": "USD"}, {"payload.total": {"$gt": 100}}]}),
                true,
            ),
            (
                json!({"$or": [{"payload.currency": "USD"}, {"payload.total": {"$gt": 500}}]}),
                false,
            ),
            (json!({"$not": {"payload.currency": "USD"}}), true),
            (json!({"$not": {"payload.currency": "EUR"}}), false),
            (
                json!({"event_type": "order.created", "$not": {"metadata.region": {"$in": ["us-east"]}}}),
                true,
            ),
        ];
        for (filter, expected) in cases {
            let parsed = Filter::parse(&filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
            assert_eq!(parsed.matches(&order()), expected, "{filter}");
            assert_eq!(parsed.explain(&order()).is_none(), expected, "{filter}");
        }
    }

    #[test]
    fn a_mismatch_is_explained_by_the_condition_that_failed() {
        let filter = Filter::parse(&json!({
            "event_type": "order.created",
            "payload.total": {"$gt": 500}
        }))
        .unwrap();
        assert_eq!(
            filter.explain(&order()).unwrap(),
            "/payload.total/$gt: payload.total is 120.5, not greater than 500"
        );
        let filter = Filter::parse(&json!({"payload.coupon": {"$exists": true}})).unwrap();
        assert_eq!(
            filter.explain(&order()).unwrap(),
            "/payload.coupon/$exists: payload.coupon is absent, not present"
        );
    }

    #[test]
    fn a_bad_filter_is_refused_naming_where() {
        let cases = [
            (json!([]), "", "a filter is a JSON object"),
            (json!({"total": 1}), "/total", "must start with one of"),
            (json!({"payload..x": 1}), "/payload..x", "not a path"),
            (
                json!({"payload.x": {"$gt": true}}),
                "/payload.x/$gt",
                "number or a string",
            ),
            (
                json!({"payload.x": {"$in": 3}}),
                "/payload.x/$in",
                "list of values",
            ),
            (
                json!({"payload.x": {"$exists": "yes"}}),
                "/payload.x/$exists",
                "true or false",
            ),
            (
                json!({"payload.x": {"$regex": "a"}}),
                "/payload.x/$regex",
                "not a comparison",
            ),
            (
                json!({"payload.x": {"$eq": 1, "y": 2}}),
                "/payload.x/y",
                "cannot be mixed",
            ),
            (json!({"$and": {}}), "/$and", "list of filters"),
            (json!({"$or": []}), "/$or", "at least one"),
            (
                json!({"$or": [{"payload.a": 1}, 5]}),
                "/$or/1",
                "JSON object",
            ),
            (json!({"$not": []}), "/$not", "one filter"),
            (json!({"$nor": []}), "/$nor", "not an operator"),
            (
                json!({"payload.a~b/c": {"$gt": null}}),
                "/payload.a~0b~1c/$gt",
                "number or a string",
            ),
        ];
        for (filter, at, words) in cases {
            let e = Filter::parse(&filter).expect_err(&filter.to_string());
            assert_eq!(e.at, at, "{filter}: {e}");
            assert!(e.message.contains(words), "{filter}: {e}");
        }
        let mut deep = json!({"payload.a": 1});
        for _ in 0..=MAX_DEPTH {
            deep = json!({"$not": deep});
        }
        assert!(Filter::parse(&deep).unwrap_err().message.contains("nested"));
        let many: Map<String, Value> = (0..=MAX_CONDITIONS)
            .map(|i| (format!("payload.f{i}"), json!(i)))
            .collect();
        assert!(
            Filter::parse(&Value::Object(many))
                .unwrap_err()
                .message
                .contains("at most")
        );
    }
}
