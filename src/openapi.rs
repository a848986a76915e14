//! The OpenAPI document served at `/openapi.json`.
//!
//! When command-api and query-api run as one service, both declare some
//! paths (`/api/v1/projects`: GET on one side, POST on the other), and
//! poem-openapi writes such a path twice into the document's `paths`
//! object. JSON parsers keep the last of duplicate keys, so tools reading
//! the document (Swagger UI, client generators, schemathesis) saw only one
//! side's operations. This merges objects that share a key, at any depth.
//!
//! poem-openapi also leaves out that an `Option` field may be `null`: it
//! marks the field not required, yet writes `None` as `null` and reads
//! `null` as `None`. Every property outside its object's `required` list is
//! therefore marked `nullable`, so the document says what goes over the wire.
//! (A nullable `enum` lists `null` among its values, as OpenAPI 3.0 asks.)
//! Likewise an optional request body (`Json<Option<T>>`) may be `null`.
//!
//! Last, request documents whose schema poem-openapi cannot state
//! (`zekka_platform::input::Document`) get their full schema in place of
//! the registry's placeholder.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// `spec` with the members of duplicate keys merged into one object and
/// optional properties marked nullable. Answers `spec` itself should it not
/// parse (it always does: poem-openapi wrote it).
pub fn served(spec: &str, shapes: &[(&str, Value)]) -> String {
    match serde_json::from_str::<Merged>(spec) {
        Ok(Merged(mut value)) => {
            mark_optional_nullable(&mut value);
            mark_optional_bodies_nullable(&mut value);
            if let Some(Value::Object(schemas)) = value.pointer_mut("/components/schemas") {
                for (name, schema) in shapes {
                    if let Some(placeholder) = schemas.get_mut(*name) {
                        *placeholder = schema.clone();
                    }
                }
            }
            value.to_string()
        }
        Err(_) => spec.to_owned(),
    }
}

/// Marks every property that is not `required` in its object schema as
/// `nullable`, at any depth. A `$ref` cannot carry siblings in OpenAPI 3.0,
/// so a referenced schema is wrapped in `allOf` first.
fn mark_optional_nullable(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let required: Vec<String> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|names| {
                    names
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for (name, property) in properties.iter_mut() {
                    if !required.contains(name) {
                        make_nullable(property);
                    }
                }
            }
            for child in map.values_mut() {
                mark_optional_nullable(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mark_optional_nullable),
        _ => {}
    }
}

/// Every request body that is not required may be sent as `null` too.
fn mark_optional_bodies_nullable(document: &mut Value) {
    let Some(Value::Object(paths)) = document.get_mut("paths") else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|p| p.values_mut());
    for operation in operations {
        let Some(body) = operation.get_mut("requestBody") else {
            continue;
        };
        if body.get("required") != Some(&Value::Bool(false)) {
            continue;
        }
        if let Some(Value::Object(contents)) = body.get_mut("content") {
            for content in contents.values_mut() {
                if let Some(schema) = content.get_mut("schema") {
                    make_nullable(schema);
                }
            }
        }
    }
}

fn make_nullable(property: &mut Value) {
    let Value::Object(schema) = property else {
        return;
    };
    if let Some(reference) = schema.remove("$ref") {
        let mut one = Map::new();
        one.insert("$ref".to_owned(), reference);
        schema.insert("allOf".to_owned(), Value::Array(vec![Value::Object(one)]));
    }
    if let Some(Value::Array(names)) = schema.get_mut("enum") {
        names.push(Value::Null);
    }
    schema.insert("nullable".to_owned(), Value::Bool(true));
}

/// A JSON value read with duplicate object keys merged.
struct Merged(Value);

impl<'de> Deserialize<'de> for Merged {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MergingVisitor).map(Merged)
    }
}

struct MergingVisitor;

/// Puts `value` under `key`, merging it into an object already there.
fn insert(map: &mut Map<String, Value>, key: String, value: Value) {
    match (map.get_mut(&key), value) {
        (Some(Value::Object(existing)), Value::Object(more)) => {
            for (k, v) in more {
                insert(existing, k, v);
            }
        }
        (_, value) => {
            map.insert(key, value);
        }
    }
}

impl<'de> Visitor<'de> for MergingVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Merged(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some((key, Merged(value))) = access.next_entry::<String, Merged>()? {
            insert(&mut map, key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::served;

    #[test]
    fn operations_of_a_path_written_twice_are_all_kept() {
        let spec = r#"{"paths": {"/p": {"get": {"x": 1}}, "/q": {"get": {}}, "/p": {"post": {"y": [1, {"a": null}]}}}, "v": 2}"#;
        let value: serde_json::Value = serde_json::from_str(&served(spec, &[])).expect("JSON");
        assert_eq!(value["paths"]["/p"]["get"]["x"], 1);
        assert_eq!(value["paths"]["/p"]["post"]["y"][1]["a"], serde_json::Value::Null);
        assert!(value["paths"]["/q"]["get"].is_object());
        assert_eq!(value["v"], 2);
    }

    #[test]
    fn properties_that_are_not_required_may_be_null() {
        let spec = json!({"components": {"schemas": {"Page": {
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {"type": "array", "items": {"type": "string"}},
                "next_cursor": {"type": "string"},
                "role": {"type": "string", "enum": ["a", "b"]},
                "failure": {"$ref": "#/components/schemas/Failure", "description": "why"}
            }
        }}}});
        let value: serde_json::Value = serde_json::from_str(&served(&spec.to_string(), &[])).expect("JSON");
        let properties = &value["components"]["schemas"]["Page"]["properties"];
        assert_eq!(properties["items"].get("nullable"), None);
        assert_eq!(properties["next_cursor"]["nullable"], true);
        assert_eq!(properties["role"]["enum"], json!(["a", "b", null]));
        assert_eq!(
            properties["failure"],
            json!({"allOf": [{"$ref": "#/components/schemas/Failure"}], "description": "why", "nullable": true})
        );
    }

    #[test]
    fn shapes_replace_their_placeholders() {
        let spec =
            json!({"components": {"schemas": {"Patch": {"type": "object"}, "Other": {"type": "object"}}}});
        let shape = json!({"type": "object", "additionalProperties": false});
        let value: serde_json::Value =
            serde_json::from_str(&served(&spec.to_string(), &[("Patch", shape.clone())])).expect("JSON");
        assert_eq!(value["components"]["schemas"]["Patch"], shape);
        assert_eq!(value["components"]["schemas"]["Other"], json!({"type": "object"}));
    }

    #[test]
    fn a_body_that_is_not_required_may_be_null() {
        let body = |required: bool| json!({"required": required, "content": {"application/json": {"schema": {"$ref": "#/c/L"}}}});
        let spec = json!({"paths": {"/a": {"post": {"requestBody": body(false)}, "put": {"requestBody": body(true)}}}});
        let value: serde_json::Value = serde_json::from_str(&served(&spec.to_string(), &[])).expect("JSON");
        let schema = |method: &str| {
            value["paths"]["/a"][method]["requestBody"]["content"]["application/json"]["schema"].clone()
        };
        assert_eq!(
            schema("post"),
            json!({"allOf": [{"$ref": "#/c/L"}], "nullable": true})
        );
        assert_eq!(schema("put"), json!({"$ref": "#/c/L"}));
    }
}
