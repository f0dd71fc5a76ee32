//! Finishes the spec poem-openapi derives so that it says exactly what the server does, in the
//! shape client generators read without loss:
//! - security from what the gate decides: the token (`BearerAuth`) on every operation the policy
//!   does not open to anonymous callers, with the street office (`Tenant`, the `X-Tenant` header)
//!   beside it on tenant operations, so that Swagger UI's "Authorize" sets both once; a public
//!   tenant operation (log-in, sign-up) declares no security (generators would then demand a
//!   token) and takes the street office as an `X-Tenant` header parameter instead;
//! - on each operation only the error statuses it can really answer, as RFC 9457 problems with a
//!   real example, and `Retry-After` on 429 and 503;
//! - one JSON media type, and no single-reference `allOf` wrappers (poem-openapi writes them to
//!   hang a description or default on a reference; generators refuse them around enums).

use serde_json::{json, Map, Value};

use crate::{
    authz::{self, operations::PLATFORM_PREFIX},
    error::{PROBLEM_JSON, STATUS_TITLES},
};

pub const BEARER_SCHEME: &str = "BearerAuth";
pub const TENANT_SCHEME: &str = "Tenant";
pub const TENANT_HEADER: &str = "X-Tenant";

/// Operations that answer 429 with `Retry-After`: sending and checking SMS codes, log-ins and
/// password changes (both check a password against the login throttle).
pub const RATE_LIMITED: &[&str] = &[
    "sms_code_send",
    "owner_register",
    "owner_login",
    "staff_login",
    "platform_login",
    "verify_unit_send_code",
    "verify_unit_confirm",
    "owner_password_change",
    "staff_password_change",
    "platform_password_change",
];

/// What decides an operation's security and error statuses.
struct Facts {
    tenant: bool,
    public: bool,
    write: bool,
    body: bool,
    parameters: bool,
    path_parameters: bool,
    rate_limited: bool,
}

pub fn finish(doc: &mut Value) {
    declare_security_schemes(doc);
    let anonymous = authz::anonymous_operations();
    for (path, item) in doc["paths"].as_object_mut().into_iter().flatten() {
        for (method, op) in item.as_object_mut().into_iter().flatten() {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            let action = if method == "get" { "read" } else { "write" };
            let facts = Facts {
                tenant: !path.starts_with(PLATFORM_PREFIX),
                public: anonymous.contains(&(id.clone(), action.to_string())),
                write: method != "get",
                body: op.get("requestBody").is_some(),
                parameters: op["parameters"].as_array().is_some_and(|p| !p.is_empty()),
                path_parameters: path.contains('{'),
                rate_limited: RATE_LIMITED.contains(&id.as_str()),
            };
            op["security"] = security(&facts);
            if facts.tenant && facts.public {
                let parameters = op["parameters"].as_array_mut();
                let tenant = json!({"$ref": "#/components/parameters/Tenant"});
                match parameters {
                    Some(list) => list.push(tenant),
                    None => op["parameters"] = json!([tenant]),
                }
            }
            keep_real_errors(op, path, &id, &facts);
        }
    }
    unwrap_single_references(doc);
    rename_json_media_type(doc);
    declare_attachment_types(doc);
}

/// An attachment is served with the type detected at upload: any the upload accepts.
fn declare_attachment_types(doc: &mut Value) {
    let content =
        &mut doc["paths"]["/api/attachments/{id}/content"]["get"]["responses"]["200"]["content"];
    let Some(binary) = content.get("application/octet-stream").cloned() else {
        return;
    };
    *content = crate::attachments::IMAGES
        .iter()
        .chain(crate::attachments::DOCUMENTS)
        .map(|mime| (mime.to_string(), binary.clone()))
        .collect::<Map<_, _>>()
        .into();
}

fn declare_security_schemes(doc: &mut Value) {
    doc["components"]["parameters"]["Tenant"] = json!({
        "name": TENANT_HEADER,
        "in": "header",
        "required": false,
        "description": TENANT_DESCRIPTION,
        "schema": {"type": "string", "pattern": crate::tenancy::SLUG_PATTERN},
    });
    doc["components"]["securitySchemes"] = json!({
        BEARER_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <token>`，令牌来自登录接口 / from a login operation",
        },
        TENANT_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": TENANT_HEADER,
            "description": TENANT_DESCRIPTION,
        },
    });
}

const TENANT_DESCRIPTION: &str = "街道标识（租户）/ the street office's slug, e.g. `demo`; \
    may be left out under the tenant's subdomain or where the server has a default tenant";

fn security(facts: &Facts) -> Value {
    if facts.public {
        return json!([]);
    }
    let mut requirement = Map::new();
    requirement.insert(BEARER_SCHEME.into(), json!([]));
    if facts.tenant {
        requirement.insert(TENANT_SCHEME.into(), json!([]));
    }
    json!([requirement])
}

/// Whether an operation with these facts can answer `status`.
fn can_answer(status: u16, facts: &Facts) -> bool {
    match status {
        // A body or parameter that does not parse.
        400 => facts.body || facts.parameters,
        // Any bearer token is checked, so even a public operation refuses an expired one.
        401 => true,
        // A role the policy refuses (even where anonymous callers are let in: a street
        // office's token on a platform operation), or a suspended street office.
        403 => true,
        // An unknown street office, or a resource named in the path or the query.
        404 => facts.tenant || facts.parameters,
        // A write that conflicts, or a read of a resource not in the state it needs (the
        // ledger of a matter not yet open).
        409 => facts.write || facts.path_parameters,
        413 | 415 => facts.body,
        429 => facts.rate_limited,
        // Unknown query parameters are refused with 422 everywhere; 414, 500 and 503 too.
        _ => true,
    }
}

fn keep_real_errors(op: &mut Value, path: &str, id: &str, facts: &Facts) {
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    responses.retain(|status, _| {
        status
            .parse::<u16>()
            .map_or(true, |s| s < 400 || can_answer(s, facts))
    });
    for (status, response) in responses.iter_mut() {
        let Ok(status) = status.parse::<u16>() else {
            continue;
        };
        if status < 400 {
            continue;
        }
        response["content"][PROBLEM_JSON]["example"] = example(status, path, id, facts);
        if status == 429 || status == 503 {
            response["headers"]["Retry-After"] = json!({
                "description": "几秒后可重试 / seconds until a retry may succeed",
                "required": true,
                "schema": {"type": "integer", "minimum": 1},
            });
        }
    }
}

/// A problem as the server writes it for `status` on this operation.
fn example(status: u16, path: &str, id: &str, facts: &Facts) -> Value {
    let (code, detail) = match status {
        400 => (
            "request.invalid",
            "请求内容无法解析，请提交有效的 JSON 或表单",
        ),
        401 => ("auth.required", "请先登录"),
        403 if !facts.public || !facts.tenant => ("authz.forbidden", "您的角色无权进行此操作"),
        403 => (
            "tenant.suspended",
            "街道“示例街道”已停用，暂不能使用，请联系平台管理员",
        ),
        404 if facts.tenant && !facts.path_parameters => {
            ("tenant.not_found", "街道“nosuch”不存在，请检查访问地址")
        }
        404 => ("not_found", "要查找的记录不存在"),
        409 => ("conflict.duplicate", "name 已存在，不能重复"),
        413 => ("request.too_large", "请求内容过大"),
        414 => (
            "request.uri_too_long",
            "请求地址过长（最多 8192 个字符），请缩短查询条件",
        ),
        415 => ("request.unsupported_media_type", "请求内容类型不支持"),
        422 => ("request.validation_failed", "提交的内容有误，请按提示修改"),
        429 if !id.contains("login") && !id.contains("password") => {
            ("sms.too_soon", "验证码发送过于频繁，请 60 秒后再试")
        }
        429 => (
            "auth.too_many_attempts",
            "登录失败次数过多，请 30 秒后再试（业主也可使用短信验证码登录）",
        ),
        503 => ("db.unavailable", "数据库暂不可用，请稍后重试"),
        _ => ("internal", "服务器内部错误，请稍后重试"),
    };
    let title = STATUS_TITLES
        .iter()
        .find(|(s, _, _)| *s == status)
        .map_or("", |(_, zh, _)| zh);
    let mut problem = json!({
        "type": format!("urn:zhimaguan:problem:{code}"),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": path,
        "code": code,
        "message": detail,
        "request_id": "5f0c6a2e-8d1b-4c7e-9a43-2b6f1e0d9c11",
    });
    if status == 422 {
        problem["fields"] = json!([{
            "field": "page_size",
            "code": "page_size.invalid",
            "message": "每页条数须在 1 到 100 之间",
        }]);
    }
    problem
}

/// `{allOf: [{$ref}], description, default}` → `{$ref, description, default}`.
fn unwrap_single_references(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let single = map
                .get("allOf")
                .and_then(Value::as_array)
                .filter(|parts| parts.iter().filter(|p| p.get("$ref").is_some()).count() == 1)
                .cloned();
            if let Some(parts) = single {
                map.remove("allOf");
                for part in parts {
                    for (key, v) in part.as_object().into_iter().flatten() {
                        map.entry(key.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            map.values_mut().for_each(unwrap_single_references);
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_single_references),
        _ => {}
    }
}

/// poem-openapi names JSON `application/json; charset=utf-8`; clients match the bare type (and
/// JSON is UTF-8 by definition, RFC 8259 §8.1).
fn rename_json_media_type(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(content) = map.get_mut("content").and_then(Value::as_object_mut) {
                if let Some(v) = content.remove("application/json; charset=utf-8") {
                    content.insert("application/json".into(), v);
                }
            }
            map.values_mut().for_each(rename_json_media_type);
        }
        Value::Array(items) => items.iter_mut().for_each(rename_json_media_type),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rate_limited_operation_exists() {
        let ops =
            crate::authz::operations::OperationTable::from_spec(&crate::openapi::service().spec())
                .unwrap();
        for id in RATE_LIMITED {
            assert!(
                ops.operations.iter().any(|o| o.id == *id),
                "{id} is not an operation"
            );
        }
    }

    #[tokio::test]
    async fn anonymous_operations_are_those_casbin_allows() {
        let ops =
            crate::authz::operations::OperationTable::from_spec(&crate::openapi::service().spec())
                .unwrap();
        let authz = crate::authz::Authorizer::new(&ops).await.unwrap();
        let anonymous = authz::anonymous_operations();
        for op in &ops.operations {
            assert_eq!(
                authz.allows("anonymous", &op.id),
                anonymous.contains(&(op.id.clone(), op.action().to_string())),
                "{}",
                op.id
            );
        }
    }

    #[test]
    fn a_reference_wrapped_to_carry_a_default_is_unwrapped() {
        let mut v = json!({"kind": {"default": "a", "allOf": [{"$ref": "#/x"}, {"default": "a"}]},
                           "both": {"allOf": [{"$ref": "#/x"}, {"$ref": "#/y"}]}});
        unwrap_single_references(&mut v);
        assert_eq!(v["kind"], json!({"$ref": "#/x", "default": "a"}));
        assert!(v["both"]["allOf"].is_array(), "a real composition stays");
    }
}
