//! The gate every API request passes: operation lookup → tenant → authentication →
//! authorization. Handlers then find `Tenant`, `Principal`, `SessionToken` and `ClientIp` in
//! the request data. An operation missing from the policy is refused to everyone.

use poem::{Endpoint, IntoResponse, Request, Response};

use crate::{
    app::AppState,
    auth::{principal::Principal, sessions, ClientIp},
    authz::operations::Scope,
    context,
    error::ApiError,
    tenancy::resolve,
};

pub async fn gate<E: Endpoint>(state: AppState, ep: E, mut req: Request) -> poem::Result<Response> {
    let Some(op) = state.ops.find(req.method(), req.uri().path()) else {
        // Not an API operation (docs, health, or an unknown path that will 404).
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let (op_id, scope) = (op.id.clone(), op.scope);
    let tenant = match scope {
        Scope::Tenant => Some(resolve::resolve(&state.pool, &req, &state.config).await?),
        Scope::Platform => None,
    };
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|v| v.trim().to_string());
    let principal = match bearer {
        Some(token) => {
            let (principal, session) = sessions::authenticate(&state.pool, tenant.as_ref(), &token).await?;
            req.extensions_mut().insert(session);
            principal
        }
        None => Principal::Anonymous,
    };
    if !state.authz.allows(principal.role(), &op_id) {
        return Err(if principal == Principal::Anonymous {
            ApiError::unauthorized("auth.required", "请先登录", "Please log in first")
        } else {
            ApiError::forbidden("authz.forbidden", "您的角色无权进行此操作", "Your role may not perform this operation")
        }
        .into());
    }
    let ip = req.remote_addr().as_socket_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    req.extensions_mut().insert(ClientIp(ip));
    req.extensions_mut().insert(principal);
    if let Some(t) = tenant {
        req.extensions_mut().insert(t);
    }
    context::with_operation(op_id, ep.call(req)).await.map(IntoResponse::into_response)
}
