//! Per-request facts every layer may need (request id, language), kept in a task-local so the
//! error type can render itself without threading the request through every call.

use std::{
    future::Future,
    sync::{Arc, OnceLock},
};

#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub id: String,
    pub english: bool,
    /// The request's path: the `instance` of an error it gets (RFC 9457).
    pub path: String,
    /// Filled in by the gate once it knows the spec operation (metrics label by it).
    pub operation: Arc<OnceLock<String>>,
}

tokio::task_local! {
    static REQUEST: RequestInfo;
}

pub async fn scope<F: Future>(info: RequestInfo, fut: F) -> F::Output {
    REQUEST.scope(info, fut).await
}

pub fn request_id() -> String {
    REQUEST.try_with(|r| r.id.clone()).unwrap_or_default()
}

pub fn request_path() -> String {
    REQUEST.try_with(|r| r.path.clone()).unwrap_or_default()
}

pub fn english() -> bool {
    REQUEST.try_with(|r| r.english).unwrap_or(false)
}

/// `Accept-Language: en…` as the first preference selects English; anything else is Chinese.
pub fn prefers_english(accept_language: Option<&str>) -> bool {
    accept_language
        .and_then(|v| v.split(',').next())
        .map(|first| first.trim().to_ascii_lowercase().starts_with("en"))
        .unwrap_or(false)
}

tokio::task_local! {
    static OPERATION: String;
}

/// Tells the request's outer layers which operation it is.
pub fn set_operation(operation_id: &str) {
    let _ = REQUEST.try_with(|r| r.operation.set(operation_id.to_string()));
}

/// Runs the handler with its operation id known (audit entries name it).
pub async fn with_operation<F: Future>(operation_id: String, fut: F) -> F::Output {
    OPERATION.scope(operation_id, fut).await
}

pub fn operation() -> String {
    OPERATION
        .try_with(|o| o.clone())
        .unwrap_or_else(|_| "unknown".to_string())
}
