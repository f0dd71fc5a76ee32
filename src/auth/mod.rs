//! Accounts and identity: owners, staff and platform staff; passwords, tokens, SMS codes.

pub mod login;
pub mod owner_api;
pub mod password;
pub mod phone;
pub mod principal;
pub mod service;
pub mod sessions;
pub mod sms;
pub mod sms_code;
pub mod staff_api;
pub mod store;
pub mod throttle;
pub mod token;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// The client's address, as the gate saw it (for per-address SMS limits and login throttling).
#[derive(Clone, Debug)]
pub struct ClientIp(pub String);

/// Blank → a "required" issue for `field`.
pub fn required(issues: &mut Vec<crate::error::FieldIssue>, field: &str, value: &str) {
    if value.trim().is_empty() {
        issues.push(crate::error::FieldIssue::new(
            field,
            "required",
            "此项必填",
            "This field is required",
        ));
    }
}
