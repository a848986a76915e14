//! The OpenAPI document served at `/openapi.json`.
//!
//! When command-api and query-api run as one service, both declare some
//! paths (`/api/v1/projects`: GET on one side, POST on the other), and
//! poem-openapi writes such a path twice into the document's `paths`
//! object. JSON parsers keep the last of duplicate keys, so tools reading
//! the document (Swagger UI, client generators, schemathesis) saw only one
//! side's operations. This merges objects that share a key, at any depth.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// `spec` with the members of duplicate keys merged into one object.
/// Answers `spec` itself should it not parse (it always does: poem-openapi
/// wrote it).
pub fn merged(spec: &str) -> String {
    match serde_json::from_str::<Merged>(spec) {
        Ok(Merged(value)) => value.to_string(),
        Err(_) => spec.to_owned(),
    }
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
    use super::merged;

    #[test]
    fn operations_of_a_path_written_twice_are_all_kept() {
        let spec = r#"{"paths": {"/p": {"get": {"x": 1}}, "/q": {"get": {}}, "/p": {"post": {"y": [1, {"a": null}]}}}, "v": 2}"#;
        let value: serde_json::Value = serde_json::from_str(&merged(spec)).expect("JSON");
        assert_eq!(value["paths"]["/p"]["get"]["x"], 1);
        assert_eq!(value["paths"]["/p"]["post"]["y"][1]["a"], serde_json::Value::Null);
        assert!(value["paths"]["/q"]["get"].is_object());
        assert_eq!(value["v"], 2);
    }
}
