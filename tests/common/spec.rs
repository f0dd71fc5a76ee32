//! Reading the OpenAPI spec the service generates, for tests that walk every operation.

use serde_json::{json, Map, Value};

/// The schema itself behind a `$ref`, or an `allOf` holding one (how a documented reference is
/// written).
pub fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(r) = schema["$ref"].as_str() {
        return resolve(
            spec,
            &spec["components"]["schemas"][r.rsplit('/').next().unwrap()],
        );
    }
    match schema["allOf"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s.get("$ref").is_some()))
    {
        Some(reference) => resolve(spec, reference),
        None => schema,
    }
}

pub fn is_free_text(schema: &Value) -> bool {
    schema["type"] == "string" && schema.get("format").is_none() && schema.get("enum").is_none()
}

/// A body the parser accepts: every property present, with a value of its type.
pub fn sample(spec: &Value, schema: &Value) -> Value {
    let schema = resolve(spec, schema);
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("string"), Some("uuid")) => json!("0b7f4c8e-0000-4000-8000-000000000000"),
        (Some("string"), Some("date-time")) => json!("2030-01-01T00:00:00Z"),
        (Some("string"), Some("date" | "naive-date")) => json!("2030-01-01"),
        (Some("string"), _) => json!("合法"),
        (Some("integer" | "number"), _) => json!(1),
        (Some("boolean"), _) => json!(false),
        (Some("array"), _) => json!([sample(spec, &schema["items"])]),
        _ => {
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            Value::Object(
                properties
                    .iter()
                    .map(|(name, s)| (name.clone(), sample(spec, s)))
                    .collect::<Map<_, _>>(),
            )
        }
    }
}
