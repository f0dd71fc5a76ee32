//! The gate every API request passes: operation lookup → tenant → authentication →
//! authorization. Handlers then find `Tenant`, `Principal`, `SessionToken` and `ClientIp` in
//! the request data. An operation missing from the policy is refused to everyone.

use std::net::IpAddr;

use ipnet::IpNet;

use poem::{http::Method, Endpoint, IntoResponse, Request, Response};

use crate::{
    auth::{principal::Principal, sessions, ClientIp},
    authz::operations::Scope,
    context,
    error::ApiError,
    state::AppState,
    tenancy::resolve,
    text_input,
};

pub async fn gate<E: Endpoint>(state: AppState, ep: E, mut req: Request) -> poem::Result<Response> {
    // poem answers HEAD with the GET handler, so HEAD is authorized as GET.
    let method = if req.method() == Method::HEAD {
        Method::GET
    } else {
        req.method().clone()
    };
    let Some(op) = state.ops.find(&method, req.uri().path()) else {
        let allowed = state.ops.methods_at(req.uri().path());
        if !allowed.is_empty() {
            return Ok(method_not_allowed(&allowed));
        }
        if req.uri().path().starts_with("/api/") {
            // Fail closed: nothing under /api/ runs unless it is an operation of the spec.
            return Err(ApiError::not_found(
                "route.not_found",
                "请求的地址不存在",
                "No such endpoint",
            )
            .into());
        }
        // Docs, spec and health checks.
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let (op_id, scope) = (op.id.clone(), op.scope);
    context::set_operation(&op_id);
    let span = tracing::Span::current();
    span.record("operation", op_id.as_str());
    let ip = client_ip(&req, &state.trusted_proxies);
    span.record("client", ip.as_str());
    // The query decoded once, as poem decodes it, for both checks below.
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    if let Some(unknown) = query
        .iter()
        .map(|(name, _)| name)
        .find(|name| !op.query_params.contains(name))
    {
        return Err(ApiError::field(
            unknown,
            "request.unknown_parameter",
            format!("不支持查询参数 {unknown}，请查看接口文档中的可用参数"),
            format!("Query parameter {unknown} is not supported by this operation"),
        )
        .into());
    }
    let tenant = match scope {
        Scope::Tenant => Some(resolve::resolve(&state.pool, &req, &state.config).await?),
        Scope::Platform => None,
    };
    if let Some(t) = &tenant {
        span.record("tenant", t.slug.as_str());
    }
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|v| v.trim().to_string());
    let principal = match bearer {
        Some(token) => {
            let (principal, session) =
                sessions::authenticate(&state.pool, tenant.as_ref(), &token).await?;
            req.extensions_mut().insert(session);
            principal
        }
        None => Principal::Anonymous,
    };
    span.record("principal", principal.role());
    if !state.authz.allows(principal.role(), &op_id) {
        return Err(if principal == Principal::Anonymous {
            ApiError::unauthorized("auth.required", "请先登录", "Please log in first")
        } else {
            ApiError::forbidden(
                "authz.forbidden",
                "您的角色无权进行此操作",
                "Your role may not perform this operation",
            )
        }
        .into());
    }
    check_text(&mut req, &query).await?;
    req.extensions_mut().insert(ClientIp(ip));
    req.extensions_mut().insert(principal);
    if let Some(t) = tenant {
        req.extensions_mut().insert(t);
    }
    context::with_operation(op_id, ep.call(req))
        .await
        .map(IntoResponse::into_response)
}

/// 405 naming, in `Allow`, the methods the path does answer (RFC 9110 §15.5.6).
fn method_not_allowed(allowed: &[Method]) -> Response {
    let list = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = ApiError::new(
        poem::http::StatusCode::METHOD_NOT_ALLOWED,
        "route.method_not_allowed",
        format!("该地址不支持此请求方法，可用的方法：{list}"),
        format!("Method not allowed here; allowed: {list}"),
    )
    .into_response();
    if let Ok(value) = poem::http::HeaderValue::from_str(&list) {
        response
            .headers_mut()
            .insert(poem::http::header::ALLOW, value);
    }
    response
}

/// Refuses control characters in the query and a JSON body (see [`text_input`]) and JSON bodies
/// over [`text_input::JSON_BODY_LIMIT`]. A body that does not parse is left to the parser.
async fn check_text(req: &mut Request, query: &[(String, String)]) -> poem::Result<()> {
    if let Some((name, _)) = query
        .iter()
        .find(|(_, value)| value.chars().any(text_input::is_refused))
    {
        return Err(text_input::refused(name).into());
    }
    if !req
        .content_type()
        .is_some_and(text_input::is_json_media_type)
    {
        return Ok(());
    }
    let bytes = req.take_body().into_bytes().await?;
    if bytes.len() > text_input::JSON_BODY_LIMIT {
        return Err(ApiError::new(
            poem::http::StatusCode::PAYLOAD_TOO_LARGE,
            "request.too_large",
            format!(
                "请求内容过大，最多 {} KB",
                text_input::JSON_BODY_LIMIT / 1024
            ),
            format!(
                "Request body too large (at most {} KB)",
                text_input::JSON_BODY_LIMIT / 1024
            ),
        )
        .into());
    }
    // Parsed here only when a refused character may be present (to name its field); the
    // handler's parser reads every body anyway.
    if text_input::may_hold_refused(&bytes) {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            if let Some(field) = text_input::refused_field(&value, "request") {
                return Err(text_input::refused(&field).into());
            }
        }
    }
    req.set_body(bytes);
    Ok(())
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy (an ingress), in which
/// case the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
fn client_ip(req: &Request, trusted: &[IpNet]) -> String {
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    if !is_trusted(&peer, trusted) {
        return peer;
    }
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    forwarded
        .rsplit(',')
        .map(str::trim)
        .find(|hop| !hop.is_empty() && !is_trusted(hop, trusted))
        .map(str::to_owned)
        .unwrap_or(peer)
}

/// Whether `addr` is one of the trusted proxies: an exact address, or inside a CIDR range such
/// as `10.0.0.0/8` (ingress pods change address; their network does not).
fn is_trusted(addr: &str, trusted: &[IpNet]) -> bool {
    // An IPv4 client of a dual-stack listener appears as ::ffff:a.b.c.d.
    let Ok(ip) = addr.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
        return false;
    };
    trusted.iter().any(|range| range.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::is_trusted;
    use crate::config::proxy_range;

    #[test]
    fn trusted_proxies_are_addresses_or_cidr_ranges() {
        let trusted: Vec<_> = ["127.0.0.1", "10.42.0.0/16", "fd00::/8"]
            .into_iter()
            .filter_map(proxy_range)
            .collect();
        assert!(is_trusted("127.0.0.1", &trusted));
        assert!(is_trusted("10.42.7.9", &trusted));
        assert!(!is_trusted("10.43.0.1", &trusted));
        assert!(is_trusted("fd12::1", &trusted));
        assert!(!is_trusted("fe80::1", &trusted));
        assert!(!is_trusted("not-an-ip", &trusted));
        assert!(is_trusted("8.8.8.8", &[proxy_range("0.0.0.0/0").unwrap()]));
        assert!(
            is_trusted("::ffff:10.42.0.5", &trusted),
            "IPv4-mapped addresses match IPv4 ranges"
        );
    }
}
