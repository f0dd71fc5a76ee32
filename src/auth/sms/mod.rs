//! SMS providers behind one trait: a development outbox and Tencent Cloud SMS.

pub mod outbox;
pub mod tencent;

use std::sync::Arc;

use crate::{config::SmsConfig, tenancy::conn::TenantConn};

#[derive(Debug)]
pub struct SmsError(pub String);

impl std::fmt::Display for SmsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sends a message to a phone. `conn` is the caller's tenant transaction; the development outbox
/// writes into it so the message exists exactly when what it announces does.
#[async_trait::async_trait]
pub trait SmsSender: Send + Sync {
    /// A verification code.
    async fn send_code(&self, conn: &TenantConn, phone: &str, code: &str) -> Result<(), SmsError>;
    /// A paper ballot's receipt code, when staff have entered it.
    async fn send_receipt(
        &self,
        conn: &TenantConn,
        phone: &str,
        receipt_code: &str,
    ) -> Result<(), SmsError>;
}

pub fn from_config(config: &SmsConfig) -> Arc<dyn SmsSender> {
    match config.provider.as_str() {
        "tencent" => Arc::new(tencent::TencentSms::new(config.tencent.clone())),
        _ => Arc::new(outbox::Outbox),
    }
}
