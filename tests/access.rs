//! Walks every operation of the spec × every role over HTTP and compares what gets through with
//! tests/expected_access.csv, the reviewed statement of who may do what.

mod common;

use std::collections::BTreeSet;

use common::TestApp;
use reqwest::Method;
use serde_json::json;
use zhimaguan::{
    auth::principal::ROLES,
    authz::{operations::Scope, policy_operations},
};

#[tokio::test]
async fn every_operation_is_in_the_table_and_policy_names_only_real_operations() {
    let app = TestApp::start().await;
    let spec_ops: BTreeSet<String> = app
        .state
        .ops
        .operations
        .iter()
        .map(|o| o.id.clone())
        .collect();
    let table_ops: BTreeSet<String> = common::expected_access().keys().cloned().collect();
    let missing: Vec<_> = spec_ops.difference(&table_ops).collect();
    assert!(
        missing.is_empty(),
        "operations missing from tests/expected_access.csv: {missing:?}"
    );
    let stale: Vec<_> = table_ops.difference(&spec_ops).collect();
    assert!(
        stale.is_empty(),
        "tests/expected_access.csv names unknown operations: {stale:?}"
    );
    let unknown: Vec<_> = policy_operations()
        .into_iter()
        .filter(|o| !spec_ops.contains(o))
        .collect();
    assert!(
        unknown.is_empty(),
        "policies/policy.csv names unknown operations: {unknown:?}"
    );
}

#[tokio::test]
async fn role_by_operation_matches_the_expected_table() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = t.tenant.slug.clone();
    let tokens = app.role_tokens(&t).await;
    let table = common::expected_access();
    // Logging out ends the token, so those operations go last (the platform's very last).
    let mut ops = app.state.ops.operations.clone();
    ops.sort_by_key(|o| (o.id.ends_with("logout"), o.id == "platform_logout"));
    let mut mismatches = Vec::new();
    for op in &ops {
        let path = op
            .path
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
        for role in ROLES {
            let tenant = (op.scope == Scope::Tenant).then_some(slug.as_str());
            let mut rb = app.request(op.method.clone(), &path, tenant, tokens[role].as_deref());
            if op.method != Method::GET {
                rb = rb.json(&json!({}));
            }
            let (status, body) = common::read(rb.send().await.unwrap()).await;
            let code = body["code"].as_str().unwrap_or("");
            // Refused by policy, or (a tenant token on a platform operation) by the token's issuer.
            let refused = matches!(
                (status, code),
                (401, "auth.required") | (403, "authz.forbidden") | (403, "auth.wrong_tenant")
            );
            let expected = table[&op.id][*role];
            if expected == refused {
                mismatches.push(format!(
                    "{} as {role}: expected {}, got {status} {code}",
                    op.id,
                    if expected { "access" } else { "refusal" }
                ));
            }
            // Let through means the handler ran: an answer of its own, never a crash or a miss.
            if !refused && (status >= 500 || code == "route.not_found") {
                mismatches.push(format!(
                    "{} as {role}: let through but answered {status} {code}",
                    op.id
                ));
            }
            // HEAD is authorized exactly like GET.
            if op.method == Method::GET && !expected {
                let head = app
                    .request(Method::HEAD, &path, tenant, tokens[role].as_deref())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                if !matches!(head, 401 | 403) {
                    mismatches.push(format!(
                        "HEAD {} as {role}: expected refusal, got {head}",
                        op.id
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "access differs from tests/expected_access.csv:\n{}",
        mismatches.join("\n")
    );
}

#[tokio::test]
async fn nothing_under_api_runs_unless_it_is_an_operation() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    for (method, path) in [
        (Method::GET, "/api/platform/tenants//suspend".to_string()),
        (
            Method::POST,
            format!("/api/platform/tenants/{}//suspend", t.tenant.slug),
        ),
        (Method::GET, "/api/nothing-here".to_string()),
    ] {
        let (s, b) = common::read(
            app.request(method, &path, Some(&t.tenant.slug), Some(&t.admin_token))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, b["code"].as_str()),
            (404, Some("route.not_found")),
            "{path}"
        );
    }
}
