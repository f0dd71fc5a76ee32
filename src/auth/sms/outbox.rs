//! Development provider: the message is stored in the tenant's `sms_outbox` table.

use super::{SmsError, SmsSender};
use crate::tenancy::conn::TenantConn;

pub struct Outbox;

#[async_trait::async_trait]
impl SmsSender for Outbox {
    async fn send_code(&self, conn: &TenantConn, phone: &str, code: &str) -> Result<(), SmsError> {
        let content = format!("【社区芝麻官】您的验证码为 {code}，5 分钟内有效。如非本人操作，请忽略本短信。");
        conn.execute("INSERT INTO sms_outbox (phone, content) VALUES ($1, $2)", &[&phone, &content]).await.map(|_| ()).map_err(|e| SmsError(e.to_string()))
    }
}
