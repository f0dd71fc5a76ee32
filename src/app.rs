//! Builds the poem app; used by `zmg serve` and by the tests (which bind port 0).

use secrecy::ExposeSecret;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::db::Pool;
use poem::{
    get, handler,
    http::{HeaderValue, StatusCode},
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
    Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route,
};
use tracing::Instrument;

use crate::{
    auth::sms,
    authz::{operations::OperationTable, Authorizer},
    config::Config,
    context::{self, RequestInfo},
    db,
    error::ApiError,
    gate, migrate, openapi,
    state::AppState,
    storage::Storage,
};

impl AppState {
    /// Connects (creating the database if needed) and, unless told not to, migrates the platform
    /// and every tenant.
    pub async fn new(config: Config) -> anyhow::Result<Self> {
        if config.migrate_on_start {
            // Its own connections, without the statement timeout: a migration may take long.
            migrate::migrate_all(&db::connect(&config.database_url, 2).await?).await?;
        }
        let pool = db::connect_with(
            &config.database_url,
            config.database_pool_size,
            Some(config.statement_timeout_ms),
        )
        .await?;
        Self::with_pool(config, pool).await
    }

    pub async fn with_pool(config: Config, pool: Pool) -> anyhow::Result<Self> {
        crate::voting::signing::Keyring::from_config(
            config.signing_secret.as_ref(),
            &config.signing_key_id,
            config.dev_mode,
        )?
        .install();
        let ops = OperationTable::from_spec(&openapi::spec_json())?;
        let authz = Authorizer::new(&ops).await?;
        let trusted_proxies = config
            .trusted_proxies
            .iter()
            .filter_map(|entry| crate::config::proxy_range(entry))
            .collect();
        Ok(Self {
            trusted_proxies,
            storage: Storage::from_config(&config)?,
            sms: sms::from_config(&config.sms),
            face: crate::elections::face::from_config(&config.face.provider, &config.face.tencent),
            config: Arc::new(config),
            pool,
            ops: Arc::new(ops),
            authz: Arc::new(authz),
        })
    }
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[handler]
async fn readyz(state: Data<&AppState>) -> Response {
    let ready = match crate::db::Conn::get(&state.pool).await {
        Ok(conn) => conn.batch_execute("SELECT 1").await.is_ok(),
        Err(_) => false,
    };
    if ready {
        "ready".into_response()
    } else {
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header(
                "Retry-After",
                crate::error::UNAVAILABLE_RETRY_SECONDS.to_string(),
            )
            .body("database unreachable")
    }
}

pub fn endpoint(state: AppState) -> impl Endpoint<Output = Response> {
    let service = openapi::service();
    let spec = openapi::published();
    let gate_state = state.clone();
    // No body may be larger than the largest upload plus its form overhead.
    let body_limit = state.config.upload_limit_bytes as u64 + 64 * 1024;
    Route::new()
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics))
        .at("/openapi.yaml", get(fixed("application/yaml", spec.yaml)))
        .at("/openapi.json", get(fixed("application/json", spec.json)))
        .at(
            "/docs",
            get(fixed("text/html; charset=utf-8", spec.docs_html)),
        )
        .nest("/", service)
        .around(move |ep, req| gate::gate(gate_state.clone(), ep, req))
        .around(move |ep, req| limit_request(body_limit, ep, req))
        .data(state)
        .around(request_context)
}

/// An endpoint that always answers `body` as `content_type`.
fn fixed(content_type: &'static str, body: String) -> impl Endpoint<Output = Response> {
    poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .body(body.clone())
    })
}

/// The longest request target answered normally (hyper itself refuses one over 64 KiB, with an
/// empty body); no operation needs more than a few hundred characters.
const URI_LIMIT: usize = 8 * 1024;

/// An over-long address is refused with our own body; a declared length over `limit` is refused
/// at once; an undeclared (chunked) body is cut off after `limit` bytes, so no request can make
/// the server buffer more than that.
async fn limit_request<E: Endpoint>(limit: u64, ep: E, mut req: Request) -> poem::Result<Response> {
    if req.uri().path_and_query().map_or(0, |p| p.as_str().len()) > URI_LIMIT {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "request.uri_too_long",
            format!("请求地址过长（最多 {URI_LIMIT} 个字符），请缩短查询条件"),
            format!("Request address too long (at most {URI_LIMIT} characters)"),
        )
        .into());
    }
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(crate::attachments::upload::too_large(limit as usize).into());
    }
    if declared.is_none() {
        let body = req.take_body().into_async_read();
        req.set_body(Body::from_async_read(tokio::io::AsyncReadExt::take(
            body,
            limit + 1,
        )));
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

/// Request id, language, one log line per request, and every error rendered as `ErrorBody`.
async fn request_context<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let english = context::prefers_english(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
    );
    let info = RequestInfo {
        id: id.clone(),
        english,
        path: req.uri().path().chars().take(URI_LIMIT).collect(),
        ..Default::default()
    };
    let operation = info.operation.clone();
    let route = fixed_route_name(req.uri().path());
    // The gate fills in what it learns (operation, street office, who, from where), so that
    // the request's log line carries all of it.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        operation = tracing::field::Empty,
        tenant = tracing::field::Empty,
        principal = tracing::field::Empty,
        client = tracing::field::Empty,
    );
    let started = Instant::now();
    let in_flight = crate::metrics::InFlight::enter();
    let response = context::scope(info, async move {
        match ep.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => render_error(e),
        }
    })
    .instrument(span.clone())
    .await;
    drop(in_flight);
    let mut response = response;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    // Downloads are served with the type detected at upload; browsers must not guess another.
    response.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    let elapsed = started.elapsed();
    crate::metrics::observe_request(
        operation.get().map(String::as_str).unwrap_or(route),
        response.status().as_u16(),
        elapsed.as_secs_f64(),
    );
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = elapsed.as_millis() as u64,
            "request finished"
        )
    });
    Ok(response)
}

/// Metric label for requests that are not spec operations: a fixed set, so arbitrary paths
/// cannot blow up the number of series.
fn fixed_route_name(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/openapi.yaml" | "/openapi.json" => "openapi",
        p if p == "/docs" || p.starts_with("/docs/") => "docs",
        _ => "unmatched",
    }
}

/// Prometheus scrape. With `metrics_token` set, only a scraper presenting it may read; without
/// one it is served in development mode only (it shares the API's port).
#[handler]
async fn metrics(state: Data<&AppState>, req: &Request) -> Response {
    let token = state
        .config
        .metrics_token
        .as_ref()
        .filter(|t| !t.expose_secret().is_empty());
    if token.is_none() && !state.config.dev_mode {
        return ApiError::not_found("route.not_found", "请求的地址不存在", "No such endpoint")
            .into_response();
    }
    if let Some(expected) = token {
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Comparing digests, not the secrets, leaks nothing through timing.
        let digest = |v: &str| <sha2::Sha256 as sha2::Digest>::digest(v.as_bytes());
        if given.is_none_or(|g| digest(g) != digest(expected.expose_secret())) {
            return ApiError::unauthorized(
                "auth.required",
                "请提供监控令牌",
                "A metrics token is required",
            )
            .into_response();
        }
    }
    let body = crate::metrics::render(&state.pool).await;
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

/// Errors raised outside our handlers (routing, body parsing) get the same shape as ours.
fn render_error(err: poem::Error) -> Response {
    if err.is::<ApiError>() {
        return err.into_response();
    }
    let status = err.status();
    let detail = err.to_string();
    let api = match status {
        StatusCode::NOT_FOUND => {
            ApiError::not_found("route.not_found", "请求的地址不存在", "No such endpoint")
        }
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "route.method_not_allowed",
            "不支持该请求方法",
            "Method not allowed",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            "request.too_large",
            "请求内容过大",
            "Request too large",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "request.unsupported_media_type",
            "请求内容类型不支持",
            "Unsupported content type",
        ),
        StatusCode::UNAUTHORIZED => {
            ApiError::unauthorized("auth.required", "请先登录", "Please log in first")
        }
        // Body or parameter that does not parse: named by the field the parser quotes, without
        // the parser's own words (they carry internal type names).
        s if s.is_client_error() => {
            tracing::debug!(error = %detail, "request refused by the parser");
            let field = detail
                .split('`')
                .nth(1)
                .filter(|f| !f.is_empty() && f.len() <= 64)
                .unwrap_or("request")
                .to_string();
            if let Some(limit) = declared_limit_broken(&detail) {
                return limit_error(&field, limit).into_response();
            }
            if let Some((line, column)) = json_syntax_error_at(&detail) {
                return ApiError::new(
                    s,
                    "request.invalid_json",
                    format!("请求体不是有效的 JSON：第 {line} 行第 {column} 列附近有误"),
                    format!("The body is not valid JSON: error near line {line}, column {column}"),
                )
                .into_response();
            }
            let mut e = ApiError::new(
                s,
                "request.invalid",
                "请求格式不正确，请检查提交的字段",
                "Malformed request",
            );
            let (zh, en) = if field == "request" {
                (
                    "请求内容无法解析，请提交有效的 JSON 或表单".to_string(),
                    "The request body or its parameters cannot be parsed".to_string(),
                )
            } else {
                (
                    format!("字段 {field} 缺失或格式不正确"),
                    format!("Field {field} is missing or malformed"),
                )
            };
            e.fields.push(crate::error::FieldIssue::new(
                &field,
                "request.invalid",
                zh,
                en,
            ));
            e
        }
        _ => ApiError::internal(detail),
    };
    api.into_response()
}

/// Where a body that is not JSON at all broke off, from serde_json's "… at line 1 column 22"
/// (a syntax error: poem-openapi reads the text as JSON before it looks at any field).
fn json_syntax_error_at(detail: &str) -> Option<(u64, u64)> {
    if !detail.starts_with("parse request payload error") || detail.contains('`') {
        return None;
    }
    let (_, position) = detail.rsplit_once(" at line ")?;
    let (line, column) = position.split_once(" column ")?;
    Some((line.trim().parse().ok()?, column.trim().parse().ok()?))
}

/// The declared limit a field broke, from the parser's "verification failed. maxLength(30)".
fn declared_limit_broken(detail: &str) -> Option<&str> {
    detail
        .split_once("verification failed. ")
        .map(|(_, limit)| limit.trim())
}

/// 422 naming the field and, for lengths, the most it may hold.
fn limit_error(field: &str, limit: &str) -> ApiError {
    let number = |prefix: &str| {
        limit
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(')'))
            .map(str::to_owned)
    };
    // "maximum(100, exclusive: false)"
    let bound = |prefix: &str| {
        limit
            .strip_prefix(prefix)
            .and_then(|rest| rest.split([',', ')']).next())
            .map(str::to_owned)
    };
    let (code, zh, en) = if let Some(max) = number("maxLength(") {
        (
            "text.too_long",
            format!("字段 {field} 最多 {max} 个字"),
            format!("Field {field} takes at most {max} characters"),
        )
    } else if let Some(max) = number("maxItems(") {
        (
            "list.too_long",
            format!("字段 {field} 最多 {max} 项"),
            format!("Field {field} takes at most {max} items"),
        )
    } else if let Some(max) = bound("maximum(") {
        (
            "value.out_of_range",
            format!("字段 {field} 最大为 {max}"),
            format!("Field {field} is at most {max}"),
        )
    } else if let Some(min) = bound("minimum(") {
        (
            "value.out_of_range",
            format!("字段 {field} 最小为 {min}"),
            format!("Field {field} is at least {min}"),
        )
    } else if limit.starts_with("pattern(") && (field == "area" || field.ends_with("_area")) {
        // The same code and words as the area parser's refusal.
        (
            "area.invalid",
            format!("字段 {field} 须为大于 0 的数字，最多两位小数"),
            format!("Field {field} takes a positive number with at most two decimals"),
        )
    } else if limit.starts_with("pattern(") {
        (
            "value.invalid_format",
            format!("字段 {field} 的格式不正确"),
            format!("Field {field} is not in the expected format"),
        )
    } else {
        (
            "value.out_of_range",
            format!("字段 {field} 的值超出允许范围"),
            format!("Field {field} is out of range"),
        )
    };
    ApiError::field(field, code, zh, en)
}

/// A running server (tests start it on port 0).
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub state: AppState,
}

pub async fn spawn(state: AppState, listen: &str) -> anyhow::Result<Running> {
    let (running, server) = bind(state, listen, std::future::pending(), Duration::ZERO).await?;
    tokio::spawn(server);
    Ok(running)
}

/// Binds `listen` and returns the server to run. When `shutdown` completes the server stops
/// accepting connections and gives requests in flight up to `grace` to finish.
pub async fn bind(
    state: AppState,
    listen: &str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> anyhow::Result<(Running, impl std::future::Future<Output = ()> + Send)> {
    let acceptor = TcpListener::bind(listen.to_string())
        .into_acceptor()
        .await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| anyhow::anyhow!("no local address"))?;
    let ep = endpoint(state.clone());
    crate::metrics::spawn_upkeep();
    crate::voting::checkpointer::spawn(state.clone());
    crate::voting::due::spawn(state.clone());
    crate::transparency::sequencer::spawn(state.clone());
    let server = async move {
        if let Err(e) = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(ep, shutdown, Some(grace))
            .await
        {
            tracing::error!(error = %e, "server stopped");
        }
    };
    Ok((Running { addr, state }, server))
}
