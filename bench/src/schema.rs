//! Validation of a results document against `bench/schema/results-v2.schema.json`
//! (or, for a document that says `veriflop-bench/1`, the version-1 schema it was written with).
//!
//! The schema file is standard JSON Schema (draft 2020-12) so any validator can
//! use it; this module implements the subset the file uses (`type`,
//! `properties`, `required`, `additionalProperties`, `items`, `prefixItems`,
//! `enum`, `const`, `minimum`, `minItems`, `maxItems`, `pattern`-free strings,
//! local `$ref` to `#/$defs/...`), so the check needs no extra dependency.

use serde_json::Value;

/// The schema of `veriflop-bench/2` (what this version writes), as committed.
pub const SCHEMA_V2: &str = include_str!("../schema/results-v2.schema.json");
/// The schema of `veriflop-bench/1` (read for comparison with older publications).
pub const SCHEMA_V1: &str = include_str!("../schema/results-v1.schema.json");

/// Errors (JSON pointer: message) of `doc` against the schema its `schema`
/// field names (v1 or v2; anything else against v2); empty when valid.
pub fn validate(doc: &Value) -> Vec<String> {
    let text = if doc.get("schema").and_then(Value::as_str) == Some(crate::results::SCHEMA_V1) {
        SCHEMA_V1
    } else {
        SCHEMA_V2
    };
    let schema: Value = serde_json::from_str(text).expect("the embedded schema is JSON");
    let mut errors = Vec::new();
    check(&schema, &schema, doc, "", &mut errors);
    errors
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_u64() || v.is_i64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn resolve<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    let path = r.strip_prefix("#/")?;
    path.split('/').try_fold(root, |v, part| v.get(part))
}

fn check(root: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let here = if at.is_empty() { "/" } else { at };
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        match resolve(root, r) {
            Some(s) => check(root, s, v, at, errors),
            None => errors.push(format!("{here}: unresolvable $ref {r}")),
        }
        return;
    }
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)),
            _ => true,
        };
        if !ok {
            errors.push(format!("{here}: expected type {t}, found {}", short(v)));
            return;
        }
    }
    if let Some(c) = schema.get("const") {
        if c != v {
            errors.push(format!("{here}: must be {c}, found {}", short(v)));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errors.push(format!("{here}: {} is not one of {}", short(v), Value::Array(e.clone())));
        }
    }
    if let (Some(min), Some(x)) = (schema.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if x < min {
            errors.push(format!("{here}: {x} is below the minimum {min}"));
        }
    }
    if let Value::Object(map) = v {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(req) = schema.get("required").and_then(Value::as_array) {
            for k in req.iter().filter_map(Value::as_str) {
                if !map.contains_key(k) {
                    errors.push(format!("{here}: missing required field {k:?}"));
                }
            }
        }
        for (k, x) in map {
            let sub = format!("{at}/{k}");
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(root, s, x, &sub, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!("{here}: unexpected field {k:?}")),
                    Some(s @ Value::Object(_)) => check(root, s, x, &sub, errors),
                    _ => {}
                },
            }
        }
    }
    if let Value::Array(items) = v {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                errors.push(format!("{here}: {} items, at least {min} required", items.len()));
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if items.len() as u64 > max {
                errors.push(format!("{here}: {} items, at most {max} allowed", items.len()));
            }
        }
        let prefix = schema.get("prefixItems").and_then(Value::as_array);
        for (i, x) in items.iter().enumerate() {
            let sub = format!("{at}/{i}");
            match prefix.and_then(|p| p.get(i)) {
                Some(s) => check(root, s, x, &sub, errors),
                None => {
                    if let Some(s) = schema.get("items") {
                        check(root, s, x, &sub, errors)
                    }
                }
            }
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..s.char_indices().nth(60).map(|(i, _)| i).unwrap_or(s.len())])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_semantics() {
        let root = json!({
            "type": "object", "required": ["a"], "additionalProperties": false,
            "properties": {"a": {"$ref": "#/$defs/pos"}, "b": {"type": "array", "items": {"enum": ["x", "y"]}, "maxItems": 2}},
            "$defs": {"pos": {"type": "integer", "minimum": 1}}
        });
        let run = |v: Value| {
            let mut e = Vec::new();
            check(&root, &root, &v, "", &mut e);
            e
        };
        assert!(run(json!({"a": 3, "b": ["x"]})).is_empty());
        assert_eq!(run(json!({"a": 0})).len(), 1);
        assert_eq!(run(json!({"b": []})).len(), 1);
        assert_eq!(run(json!({"a": 2, "c": 1})).len(), 1);
        assert_eq!(run(json!({"a": 2, "b": ["z"]})).len(), 1);
        assert_eq!(run(json!({"a": 2, "b": ["x", "x", "y"]})).len(), 1);
        assert_eq!(run(json!({"a": "2"})).len(), 1);
    }
}
