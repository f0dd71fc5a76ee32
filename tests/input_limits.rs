//! Walks every operation's text inputs, JSON body fields (nested ones and list items too), query
//! and path parameters, as a hostile client would: text one character over the declared maximum,
//! and text holding a control character. Every one must be declared in the spec (`maxLength`)
//! and come back 422 naming the field, never stored and never a 500.

mod common;

use common::{
    spec::{is_free_text, resolve, sample},
    TestApp,
};
use reqwest::Method;
use serde_json::{json, Value};

/// One text input of an operation: where it sits in the body (empty for a query parameter),
/// its name and its declared maximum.
struct TextInput {
    path: Vec<String>,
    name: String,
    max: Option<u64>,
}

/// Every free-text field of a body schema, with its path from the body's root.
fn text_fields(spec: &Value, schema: &Value, path: &[String], out: &mut Vec<TextInput>) {
    let schema = resolve(spec, schema);
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let property = resolve(spec, property);
        let here = [path, std::slice::from_ref(name)].concat();
        let leaf = if property["type"] == "array" {
            resolve(spec, &property["items"])
        } else {
            property
        };
        if is_free_text(leaf) {
            out.push(TextInput {
                path: here,
                name: name.clone(),
                max: leaf["maxLength"].as_u64(),
            });
        } else if leaf["type"] == "object" || leaf.get("properties").is_some() {
            text_fields(spec, leaf, &here, out);
        }
    }
}

/// `body` with the field at `path` set to `text` (inside a list, as its only item).
fn with_text(body: &Value, path: &[String], text: &str) -> Value {
    let mut body = body.clone();
    let mut slot = &mut body;
    for key in path {
        slot = &mut slot[key];
    }
    *slot = if slot.is_array() {
        json!([text])
    } else {
        json!(text)
    };
    body
}

#[tokio::test]
async fn every_text_input_has_a_declared_maximum_and_refuses_longer_or_control_characters() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let tokens = app.role_tokens(&t).await;
    let access = common::expected_access();
    let spec: Value = zhimaguan::openapi::document();
    let mut problems = Vec::new();
    let mut walked = 0;
    for (template, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            // As a role the policy lets through, so the request reaches the parser.
            let Some(role) = zhimaguan::auth::principal::ROLES
                .iter()
                .find(|r| access[id][**r])
            else {
                continue;
            };
            let path = template
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "0b7f4c8e-0000-4000-8000-000000000000"
                    } else {
                        s
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let tenant =
                (!template.starts_with("/api/platform/")).then_some(t.tenant.slug.as_str());
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // Required query parameters get a valid value; the one under test is then replaced.
            let required_query: Vec<(String, String)> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_string(),
                        sample(&spec, &p["schema"])
                            .as_str()
                            .unwrap_or("1")
                            .to_string(),
                    )
                })
                .collect();
            let send = |replaced: Option<(String, String)>, body: Option<Value>| {
                let mut rb = app.request(method.clone(), &path, tenant, tokens[role].as_deref());
                let mut query: Vec<(String, String)> = required_query
                    .iter()
                    .filter(|(n, _)| replaced.as_ref().is_none_or(|(r, _)| r != n))
                    .cloned()
                    .collect();
                query.extend(replaced);
                if !query.is_empty() {
                    rb = rb.query(&query);
                }
                if let Some(b) = body {
                    rb = rb.json(&b);
                }
                async move { common::read(rb.send().await.unwrap()).await }
            };

            let mut inputs = Vec::new();
            let body_schema = &op["requestBody"]["content"]["application/json"]["schema"];
            let body = (!body_schema.is_null()).then(|| sample(&spec, body_schema));
            if !body_schema.is_null() {
                text_fields(&spec, body_schema, &[], &mut inputs);
            }
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] == "query" && is_free_text(&parameter["schema"]) {
                    let name = parameter["name"].as_str().unwrap().to_string();
                    inputs.push(TextInput {
                        path: Vec::new(),
                        name,
                        max: parameter["schema"]["maxLength"].as_u64(),
                    });
                }
            }
            // Text in the path (a type's name, a tenant's slug): declared and bounded too.
            for parameter in op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path" && is_free_text(&p["schema"]))
            {
                walked += 1;
                let name = parameter["name"].as_str().unwrap();
                let Some(max) = parameter["schema"]["maxLength"].as_u64() else {
                    problems.push(format!("{id} /{{{name}}}: no maxLength in the spec"));
                    continue;
                };
                let long = template.replace(&format!("{{{name}}}"), &"长".repeat(max as usize + 1));
                let long = long
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') {
                            "0b7f4c8e-0000-4000-8000-000000000000"
                        } else {
                            s
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                let mut rb = app.request(method.clone(), &long, tenant, tokens[role].as_deref());
                if let Some(b) = &body {
                    rb = rb.json(b);
                }
                let (status, answer) = common::read(rb.send().await.unwrap()).await;
                if status != 422
                    || answer["fields"][0]["field"] != name
                    || answer["fields"][0]["code"] != "text.too_long"
                {
                    problems.push(format!(
                        "{id} /{{{name}}} as {role} too long: {status} {answer}"
                    ));
                }
            }
            for input in inputs {
                walked += 1;
                let what = format!(
                    "{id} {}",
                    if input.path.is_empty() {
                        format!("?{}", input.name)
                    } else {
                        input.path.join(".")
                    }
                );
                let Some(max) = input.max else {
                    problems.push(format!("{what}: no maxLength in the spec"));
                    continue;
                };
                for (text, code) in [
                    ("长".repeat(max as usize + 1), "text.too_long"),
                    ("合\u{7}法".to_string(), "text.invalid_character"),
                ] {
                    let (status, answer) = if input.path.is_empty() {
                        send(Some((input.name.clone(), text)), body.clone()).await
                    } else {
                        send(
                            None,
                            Some(with_text(body.as_ref().unwrap(), &input.path, &text)),
                        )
                        .await
                    };
                    let named = answer["fields"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|f| f["field"] == input.name.as_str() && f["code"] == code);
                    if status != 422 || !named {
                        problems.push(format!("{what} as {role} with {code}: {status} {answer}"));
                    }
                }
            }
        }
    }
    assert!(walked > 70, "the walk found only {walked} text inputs");
    assert!(
        problems.is_empty(),
        "{} text inputs misbehave:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn a_json_body_past_the_limit_or_in_another_json_media_type_is_checked_before_it_is_parsed() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let owner = app.owner(&t.tenant, &common::phone(), "Passw0rd").await;
    let huge = json!({"nickname": "长".repeat(100_000)});
    let (s, b) = app
        .call(
            Method::PATCH,
            "/api/me",
            Some(&t.tenant.slug),
            Some(&owner),
            Some(huge),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (413, Some("request.too_large")),
        "{b}"
    );
    // The parser takes any JSON media type in any letter case; so does the check.
    let sneaky = app
        .request(Method::PATCH, "/api/me", Some(&t.tenant.slug), Some(&owner))
        .header("content-type", "Application/Merge-Patch+JSON")
        .body(json!({"nickname": "张\u{202E}三"}).to_string())
        .send()
        .await
        .unwrap();
    let (s, b) = common::read(sneaky).await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("text.invalid_character")),
        "{b}"
    );
}
