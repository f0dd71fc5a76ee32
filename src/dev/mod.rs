//! Development-only endpoints (ZMG_DEV_MODE / `zmg serve --demo`): 404 otherwise.

use crate::paging::Paging;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, Object, OpenApi};

use crate::{
    auth::sms::outbox::{self, OutboxRow},
    error::{ApiError, ApiResult},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

crate::page_of!(OutboxPage, OutboxMessage);

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OutboxMessage {
    pub phone: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

impl From<OutboxRow> for OutboxMessage {
    /// The stored message as the developer reads it (the same fields).
    fn from(r: OutboxRow) -> Self {
        OutboxMessage {
            phone: r.phone,
            content: r.content,
            created_at: r.created_at,
        }
    }
}

#[derive(Default)]
pub struct DevApi;

#[OpenApi(tag = "ApiTags::Dev")]
impl DevApi {
    /// 开发用短信发件箱 / SMS messages the development provider "sent" (development mode only).
    #[oai(
        path = "/api/dev/sms-outbox",
        method = "get",
        operation_id = "dev_sms_outbox_list"
    )]
    async fn outbox(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        #[oai(validator(max_length = 20))] phone: Query<String>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<OutboxPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        if !state.config.dev_mode {
            return Err(ApiError::not_found(
                "dev.disabled",
                "仅开发模式可用",
                "Only available in development mode",
            ));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = outbox::recent(&conn, &phone.0).await?;
        conn.commit().await?;
        Ok(Json(OutboxPage::cut(
            rows.into_iter().map(OutboxMessage::from).collect(),
            paging,
        )))
    }
}
