//! Development provider: the message is stored in the tenant's `sms_outbox` table, and read
//! back from it by the development API (`dev`); both statements on the table live here.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{SmsError, SmsSender};
use crate::{error::ApiResult, schema::tenant::sms_outbox, tenancy::conn::TenantConn};

pub struct Outbox;

#[async_trait::async_trait]
impl SmsSender for Outbox {
    async fn send_code(&self, conn: &TenantConn, phone: &str, code: &str) -> Result<(), SmsError> {
        store(
            conn,
            phone,
            &format!(
                "【社区芝麻官】您的验证码为 {code}，5 分钟内有效。如非本人操作，请忽略本短信。"
            ),
        )
        .await
    }

    async fn send_receipt(
        &self,
        conn: &TenantConn,
        phone: &str,
        receipt_code: &str,
    ) -> Result<(), SmsError> {
        store(conn, phone, &format!("【社区芝麻官】您签署的纸质选票已录入，回执码 {receipt_code}。可凭回执码查询选票是否计入。")).await
    }
}

async fn store(conn: &TenantConn, phone: &str, content: &str) -> Result<(), SmsError> {
    conn.execute(
        diesel::insert_into(sms_outbox::table)
            .values((sms_outbox::phone.eq(phone), sms_outbox::content.eq(content))),
    )
    .await
    .map(|_| ())
    .map_err(|e| SmsError(e.to_string()))
}

/// A message the development provider "sent", as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = sms_outbox, check_for_backend(diesel::pg::Pg))]
pub struct OutboxRow {
    pub phone: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

/// The latest 20 messages to `phone`, newest first.
pub async fn recent(conn: &TenantConn, phone: &str) -> ApiResult<Vec<OutboxRow>> {
    Ok(conn
        .load(
            sms_outbox::table
                .filter(sms_outbox::phone.eq(phone))
                .order(sms_outbox::id.desc())
                .limit(20)
                .select(OutboxRow::as_select()),
        )
        .await?)
}
