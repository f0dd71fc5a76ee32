//! The committed spec is the contract: it must match what the code generates, and every
//! operation must say what a client needs to call it: its id and tag, the street office and the
//! token exactly when the server wants them, and the errors it can answer as RFC 9457 problems.

mod common;

use serde_json::Value;

#[test]
fn committed_spec_is_current() {
    let generated = zhimaguan::openapi::spec_yaml();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.yaml"))
            .unwrap_or_default();
    assert!(generated == committed, "openapi/openapi.yaml is stale; refresh it with:\n\n    cargo run -q -- openapi > openapi/openapi.yaml\n");
}

/// Every (path, method, operation) of the spec.
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

#[test]
fn every_operation_has_id_tag_and_its_error_problems() {
    let spec = zhimaguan::openapi::document();
    let mut problems = Vec::new();
    for (path, method, op) in operations(&spec) {
        let name = format!("{method} {path}");
        if op["operationId"].as_str().unwrap_or("").is_empty() {
            problems.push(format!("{name}: no operationId"));
        }
        if op["tags"].as_array().is_none_or(|t| t.is_empty()) {
            problems.push(format!("{name}: no tag"));
        }
        // Unknown query parameters (422), a dead database (503) and bugs (500) reach every one.
        for status in ["422", "500", "503"] {
            if op["responses"].get(status).is_none() {
                problems.push(format!("{name}: {status} undocumented"));
            }
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            let Ok(code) = status.parse::<u64>() else {
                continue;
            };
            if code < 400 {
                continue;
            }
            let content = response["content"].as_object().unwrap();
            let keys: Vec<&String> = content.keys().collect();
            if keys != ["application/problem+json"] {
                problems.push(format!("{name} {status}: media types {keys:?}"));
            }
            let example = &content["application/problem+json"]["example"];
            if example["status"] != code || example["code"].as_str().is_none() {
                problems.push(format!("{name} {status}: example {example}"));
            }
            if (code == 429 || code == 503) && response["headers"].get("Retry-After").is_none() {
                problems.push(format!("{name} {status}: no Retry-After"));
            }
        }
        if op["requestBody"].is_null() && op["responses"].get("415").is_some() {
            problems.push(format!("{name}: 415 without a body"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Security as the reviewed access table (not the policy the server reads) says it must be:
/// a token wherever an anonymous caller is refused, with the street office beside it outside
/// `/api/platform/`; a public tenant operation takes the street office as a header parameter.
#[test]
fn security_says_who_needs_a_token_and_a_street_office() {
    let spec = zhimaguan::openapi::document();
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["Tenant"]["in"], "header");
    assert_eq!(schemes["Tenant"]["name"], "X-Tenant");
    assert_eq!(schemes["BearerAuth"]["scheme"], "bearer");
    assert_eq!(
        spec["components"]["parameters"]["Tenant"]["name"],
        "X-Tenant"
    );
    let access = common::expected_access();
    let mut problems = Vec::new();
    for (path, method, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap();
        let requirements = op["security"].as_array().unwrap();
        let names: Vec<&str> = requirements
            .iter()
            .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
            .collect();
        let tenant_parameter = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["$ref"] == "#/components/parameters/Tenant");
        let anonymous = access[id]["anonymous"];
        let tenant = !path.starts_with("/api/platform/");
        let expected: Vec<&str> = match (anonymous, tenant) {
            (true, _) => vec![],
            (false, true) => vec!["BearerAuth", "Tenant"],
            (false, false) => vec!["BearerAuth"],
        };
        if names != expected || requirements.len() > 1 {
            problems.push(format!(
                "{method} {path}: security {requirements:?}, expected {expected:?}"
            ));
        }
        if tenant_parameter != (anonymous && tenant) {
            problems.push(format!(
                "{method} {path}: X-Tenant parameter {tenant_parameter}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What generators choke on: a single reference wrapped in `allOf`, a second JSON media type.
#[test]
fn the_spec_has_no_shape_generators_drop() {
    let text = zhimaguan::openapi::spec_json();
    assert!(
        !text.contains("\"allOf\""),
        "allOf wrapper left in the spec"
    );
    assert!(
        !text.contains("charset=utf-8\""),
        "a JSON media type with a charset"
    );
}

/// Every list answers a page and takes `page` and `page_size`, with the bounds the server
/// enforces declared (`src/paging.rs`).
#[test]
fn every_list_is_a_page_with_its_bounds_declared() {
    let spec = zhimaguan::openapi::document();
    let mut problems = Vec::new();
    let mut lists = 0;
    for (path, method, op) in operations(&spec) {
        let name = format!("{method} {path}");
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        let body = common::spec::resolve(&spec, schema);
        if body["type"] == "array" {
            problems.push(format!("{name}: answers a bare array"));
        }
        if body["properties"].get("items").is_none() {
            continue;
        }
        lists += 1;
        for field in ["items", "total", "page", "page_size"] {
            if body["properties"].get(field).is_none() {
                problems.push(format!("{name}: page without {field}"));
            }
        }
        if method != "get" {
            continue;
        }
        let parameter = |wanted: &str| {
            op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == wanted)
                .map(|p| p["schema"].clone())
        };
        let bounds = |s: Option<Value>| s.map(|s| (s["minimum"].as_f64(), s["maximum"].as_f64()));
        let expected = [
            ("page", zhimaguan::paging::MAX_PAGE),
            ("page_size", zhimaguan::paging::MAX_PAGE_SIZE),
        ];
        for (wanted, max) in expected {
            if bounds(parameter(wanted)) != Some((Some(1.0), Some(max as f64))) {
                problems.push(format!("{name}: {wanted} bounds {:?}", parameter(wanted)));
            }
        }
    }
    assert!(lists >= 27, "{lists} lists found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Areas are exact decimal strings: every one the API answers declares what `area::format`
/// writes, and every one it takes (body field or query parameter) the input pattern it enforces.
#[test]
fn every_area_the_api_answers_or_takes_declares_its_pattern() {
    use zhimaguan::housing::area::{INPUT_PATTERN, PATTERN};
    let spec = zhimaguan::openapi::document();
    let is_area = |field: &str| field == "area" || field.ends_with("_area");
    let mut problems = Vec::new();
    let (mut answered, mut taken) = (0, 0);
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        let input = name.ends_with("Input") || name.ends_with("Request");
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if !is_area(field) || property["type"] != "string" {
                continue;
            }
            let expected = if input { INPUT_PATTERN } else { PATTERN };
            if input {
                taken += 1;
            } else {
                answered += 1;
            }
            if property["pattern"] != expected {
                problems.push(format!("{name}.{field}: pattern {}", property["pattern"]));
            }
        }
    }
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap_or_default();
                if is_area(name) {
                    taken += 1;
                    if parameter["schema"]["pattern"] != INPUT_PATTERN {
                        problems.push(format!("{method} {path} ?{name}: no input pattern"));
                    }
                }
            }
        }
    }
    assert!(
        answered >= 10 && taken >= 2,
        "{answered} answered, {taken} taken"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every count and number a client sends has its bounds in the spec: each list in a JSON
/// request body declares `maxItems`, each integer a `minimum` and a `maximum`, so a generated
/// client (and a form built from the spec) knows them before sending.
#[test]
fn every_list_and_number_sent_declares_its_bounds() {
    let spec = zhimaguan::openapi::document();
    let schemas = &spec["components"]["schemas"];
    let mut pending: Vec<String> = Vec::new();
    for (_, _, op) in operations(&spec) {
        let body = &op["requestBody"]["content"]["application/json"]["schema"]["$ref"];
        if let Some(name) = body.as_str().and_then(|r| r.rsplit('/').next()) {
            pending.push(name.to_string());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        for (field, property) in schemas[&name]["properties"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let nested = property["$ref"]
                .as_str()
                .or(property["items"]["$ref"].as_str());
            if let Some(r) = nested.and_then(|r| r.rsplit('/').next()) {
                pending.push(r.to_string());
            }
            if property["type"] == "array" && property["maxItems"].is_null() {
                problems.push(format!("{name}.{field}: no maxItems"));
            }
            if property["type"] == "integer"
                && (property["minimum"].is_null() || property["maximum"].is_null())
            {
                problems.push(format!("{name}.{field}: no minimum and maximum"));
            }
        }
    }
    assert!(seen.len() >= 20, "{} request schemas read", seen.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
