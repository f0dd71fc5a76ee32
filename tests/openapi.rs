//! The committed spec is the contract: it must match what the code generates, and every
//! operation must carry an operation id, a tag and its error responses.

#[test]
fn committed_spec_is_current() {
    let generated = zhimaguan::openapi::spec_yaml();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.yaml"))
            .unwrap_or_default();
    assert!(generated == committed, "openapi/openapi.yaml is stale; refresh it with:\n\n    cargo run -q -- openapi > openapi/openapi.yaml\n");
}

#[test]
fn every_operation_has_id_tag_and_error_responses() {
    let spec: serde_json::Value =
        serde_json::from_str(&zhimaguan::openapi::service().spec()).unwrap();
    let mut problems = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            if op["operationId"].as_str().unwrap_or("").is_empty() {
                problems.push(format!("{name}: no operationId"));
            }
            if op["tags"].as_array().is_none_or(|t| t.is_empty()) {
                problems.push(format!("{name}: no tag"));
            }
            for status in ["401", "403", "404", "422", "500"] {
                if op["responses"].get(status).is_none() {
                    problems.push(format!("{name}: {status} undocumented"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
