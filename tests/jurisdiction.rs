//! Jurisdiction with real objects: residents'-committee staff try every operation their role may
//! call on the estate, units, matter, ballot and files of another committee, as a curious or
//! hostile colleague would. (tests/access.rs checks the policy with ids that exist nowhere; here
//! the ids are real, so only the jurisdiction check stands in the way.)

mod common;

use std::collections::BTreeMap;

use common::{estate::Estate, spec::sample};
use reqwest::{multipart, Method};
use serde_json::{json, Value};

#[tokio::test]
async fn committee_staff_reach_nothing_of_another_committees_estate_through_any_operation() {
    let e = Estate::new(3, false).await;
    let admin = e.t.admin_token.clone();
    let (_, estate) = e.app.call(Method::GET, &format!("/api/estates/{}", e.id), e.slug(), Some(&admin), None).await;
    let own_rc = uuid::Uuid::parse_str(estate["rc_id"].as_str().unwrap()).unwrap();
    let own = e.app.staff(&e.t, "rc_staff", Some(own_rc)).await;
    let (other_rc, _) = e.app.add_rc_with_estate(&e.t.tenant, "别处").await;
    let other = e.app.staff(&e.t, "rc_staff", Some(other_rc)).await;

    // The estate's real objects: a verified owner, an open matter with an online ballot and a
    // paper one whose scan is bound to the estate.
    let owner = e.owner(0).await;
    let (_, me) = e.app.call(Method::GET, "/api/me", e.slug(), Some(&owner), None).await;
    let (_, m) = e.matter(&admin, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    let (_, receipt) = e.cast(&owner, &matter, "agree", "own").await;
    let scan = e.scan().await;
    let paper = json!({"unit_id": e.units[1].0, "choice": "disagree", "channel": "paper", "scan_attachment_id": scan});
    let (s, _) = e.app.call(Method::POST, &format!("/api/matters/{matter}/paper-ballots"), e.slug(), Some(&admin), Some(paper)).await;
    assert_eq!(s, 201);
    let objects: BTreeMap<&str, String> = BTreeMap::from([
        ("/api/estates/{id}", e.id.to_string()),
        ("/api/units/{id}", e.units[0].0.to_string()),
        ("/api/matters/{id}", matter.clone()),
        ("/api/ballots/{id}", receipt["ballot_id"].as_str().unwrap().to_string()),
        ("/api/attachments/{id}", scan.as_str().unwrap().to_string()),
    ]);

    let (_, other_me) = e.app.call(Method::GET, "/api/staff/me", e.slug(), Some(&other), None).await;
    let spec: Value = serde_json::from_str(&zhimaguan::openapi::service().spec()).unwrap();
    let access = common::expected_access();
    let (mut reached, mut walked) = (Vec::new(), 0);
    for (template, item) in spec["paths"].as_object().unwrap() {
        let Some((prefix, id)) = objects.iter().find(|(p, _)| template.starts_with(**p)) else { continue };
        for (method, op) in item.as_object().unwrap() {
            let op_id = op["operationId"].as_str().unwrap();
            if !access[op_id]["rc_staff"] {
                continue;
            }
            walked += 1;
            let path =
                template.replacen(prefix, &prefix.replace("{id}", id), 1).replace("{owner_id}", me["id"].as_str().unwrap()).replace("{name}", "公共收益");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let content = &op["requestBody"]["content"];
            let send = |token: &str| {
                let mut rb = e.app.request(method.clone(), &path, e.slug(), Some(token));
                if content.get("multipart/form-data").is_some() {
                    let form = multipart::Form::new().text("purpose", "document").part("file", multipart::Part::bytes(b"x".to_vec()).file_name("x.xlsx"));
                    rb = rb.multipart(form);
                } else if let Some(schema) = content.get("application/json; charset=utf-8").map(|c| &c["schema"]) {
                    rb = rb.json(&valid_body(sample(&spec, schema)));
                }
                async move { common::read(rb.send().await.unwrap()).await }
            };
            let (status, body) = send(&other).await;
            if !matches!(status, 403 | 404) {
                reached.push(format!("{op_id} {path}: {status} {body}"));
            }
            // The objects are real: the estate's own committee staff read them.
            if method == Method::GET {
                let (status, body) = send(&own).await;
                if !(200..300).contains(&status) {
                    reached.push(format!("control: {op_id} as the estate's own staff: {status} {body}"));
                }
            }
        }
    }
    assert!(walked >= 25, "only {walked} operations walked");
    assert!(reached.is_empty(), "another committee's staff got through (or the control failed):\n{}", reached.join("\n"));
    // Nothing of theirs was written or read: every audit entry in their name would be a leak.
    let conn = e.app.conn(&e.t.tenant).await;
    let theirs: i64 = conn
        .query_one("SELECT count(*) FROM audit_log WHERE actor_id = $1", &[&uuid::Uuid::parse_str(other_me["id"].as_str().unwrap()).unwrap()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(theirs, 0);
}

/// A sampled body with the values handlers check before anything else made valid, so that the
/// request reaches the jurisdiction check.
fn valid_body(mut body: Value) -> Value {
    if let Some(map) = body.as_object_mut() {
        for (field, value) in map.iter_mut() {
            match field.as_str() {
                "total_area" => *value = json!("1000.00"),
                "phone" => *value = json!("13800138000"),
                _ => {}
            }
        }
    }
    body
}
