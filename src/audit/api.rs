//! Street staff read their tenant's audit log.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, Object, OpenApi};
use uuid::Uuid;

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

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub total: i64,
}

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
        page: Query<Option<i64>>,
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<AuditPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let total: i64 = conn
            .query_one(
                "SELECT count(*) FROM audit_log WHERE $1::text IS NULL OR operation = $1",
                &[&operation.0],
            )
            .await?
            .get(0);
        let rows = conn
            .query(
                "SELECT id, actor_kind, actor_id, operation, object_type, object_id, request_id, at FROM audit_log
                  WHERE $1::text IS NULL OR operation = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
                &[&operation.0, &paging.limit(), &paging.offset()],
            )
            .await?;
        conn.commit().await?;
        let items = rows
            .iter()
            .map(|r| AuditEntry {
                id: r.get(0),
                actor_kind: r.get(1),
                actor_id: r.get(2),
                operation: r.get(3),
                object_type: r.get(4),
                object_id: r.get(5),
                request_id: r.get(6),
                at: r.get(7),
            })
            .collect();
        Ok(Json(AuditPage { items, total }))
    }
}
