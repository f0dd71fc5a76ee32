//! Street staff read their tenant's audit log.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, Object, OpenApi};
use uuid::Uuid;

use super::store::{self, EntryRow};
use crate::{
    error::ApiResult,
    paging::Paging,
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEntry {
    pub id: i64,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub operation: String,
    pub object_type: String,
    pub object_id: String,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

crate::page_of!(AuditPage, AuditEntry);

impl From<EntryRow> for AuditEntry {
    /// The stored entry as street staff read it (the same fields).
    fn from(r: EntryRow) -> Self {
        AuditEntry {
            id: r.id,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            operation: r.operation,
            object_type: r.object_type,
            object_id: r.object_id,
            request_id: r.request_id,
            at: r.at,
        }
    }
}

#[derive(Default)]
pub struct AuditApi;

#[OpenApi(tag = "ApiTags::Audit")]
impl AuditApi {
    /// 审计日志 / Audit log of staff writes, newest first.
    #[oai(
        path = "/api/audit-log",
        method = "get",
        operation_id = "audit_log_list"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        /// Only this operation id.
        #[oai(validator(max_length = 100))]
        operation: Query<Option<String>>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<AuditPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let operation = operation.0.as_deref();
        let total = store::count_entries(&conn, operation).await?;
        let rows = store::entries_page(&conn, operation, paging.limit(), paging.offset()).await?;
        conn.commit().await?;
        let items = rows.into_iter().map(AuditEntry::from).collect();
        Ok(Json(AuditPage::new(items, total, paging)))
    }
}
