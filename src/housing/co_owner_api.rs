//! Co-owners (共有人): an owner applies with proofs where the estate allows it; staff approve,
//! reject with a reason, or delete. An approved co-owner is linked when they hold an account
//! with that phone (now, or when they register: see the trigger in migration 0002).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Enum, Object, OpenApi,
};
use uuid::Uuid;

use super::{
    owner_api::owner_of,
    service::{self, application_not_found},
    store::{self, ApplicationFilter, ApplicationRow, NewApplication},
};
use crate::{
    audit,
    auth::{phone, principal::Principal, required},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult, FieldIssue},
    paging::Paging,
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CoOwnerApplicationRequest {
    #[oai(validator(max_length = 50))]
    pub name: String,
    #[oai(validator(max_length = 20))]
    pub phone: String,
    /// 1–5 uploaded `proof` images (title deed, marriage certificate…).
    #[oai(validator(min_items = 1, max_items = 5))]
    pub proof_attachment_ids: Vec<Uuid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ApplicationStatus {
    Pending,
    Approved,
    Rejected,
    Deleted,
}

impl ApplicationStatus {
    /// The stored text of the status.
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Deleted => "deleted",
        }
    }

    /// The status of the stored text (anything unknown reads as pending).
    fn parse(s: &str) -> Self {
        [Self::Approved, Self::Rejected, Self::Deleted]
            .into_iter()
            .find(|x| x.as_str() == s)
            .unwrap_or(Self::Pending)
    }
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApplicationView {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub estate_name: String,
    pub building: String,
    pub entrance: String,
    pub room: String,
    pub name: String,
    /// Masked.
    pub phone: String,
    pub proof_attachment_ids: Vec<Uuid>,
    pub status: ApplicationStatus,
    pub reject_reason: Option<String>,
    /// The co-owner already holds an account and is linked to the unit.
    pub linked: bool,
    pub created_at: DateTime<Utc>,
}

crate::page_of!(ApplicationPage, ApplicationView);

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RejectRequest {
    /// 驳回原因, shown to the owner.
    #[oai(validator(max_length = 500))]
    pub reason: String,
}

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<ApplicationView>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    #[oai(status = 204)]
    Deleted,
}

/// The faults of an application that need no database: a name, a valid phone and 1–5 proofs.
/// The service adds its own and tells them all together.
fn input_issues(body: &CoOwnerApplicationRequest) -> Vec<FieldIssue> {
    let mut issues = Vec::new();
    required(&mut issues, "name", &body.name);
    issues.extend(phone::issue("phone", &body.phone));
    if !(1..=5).contains(&body.proof_attachment_ids.len()) {
        issues.push(FieldIssue::new(
            "proof_attachment_ids",
            "proof.count",
            "请上传 1 至 5 张证明材料图片",
            "attach 1 to 5 proof images",
        ));
    }
    issues
}

impl From<ApplicationRow> for ApplicationView {
    /// The stored application as the API shows it: the phone masked, the status as its enum.
    fn from(r: ApplicationRow) -> Self {
        ApplicationView {
            id: r.id,
            unit_id: r.unit_id,
            estate_name: r.estate_name,
            building: r.building,
            entrance: r.entrance,
            room: r.room,
            name: r.name,
            phone: phone::mask(&r.phone),
            proof_attachment_ids: r.proof_ids,
            status: ApplicationStatus::parse(&r.status),
            reject_reason: r.reject_reason,
            linked: r.linked,
            created_at: r.created_at,
        }
    }
}

/// The application `id`, as written just now in this transaction.
async fn one(conn: &TenantConn, id: Uuid) -> ApiResult<ApplicationView> {
    store::application(conn, id)
        .await?
        .map(ApplicationView::from)
        .ok_or_else(application_not_found)
}

#[derive(Default)]
pub struct CoOwnerApi;

#[OpenApi(tag = "ApiTags::Verification")]
impl CoOwnerApi {
    /// 申请添加共有人 / Apply to add a co-owner of a unit I own.
    #[oai(
        path = "/api/me/properties/:unit_id/co-owners",
        method = "post",
        operation_id = "co_owner_apply"
    )]
    async fn apply(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        unit_id: Path<Uuid>,
        body: Json<CoOwnerApplicationRequest>,
    ) -> ApiResult<Created> {
        let owner = owner_of(&principal)?;
        let issues = input_issues(&body);
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let application = NewApplication {
            name: body.name.trim(),
            phone: &body.phone,
            proof_ids: &body.proof_attachment_ids,
        };
        let id = service::apply_for_co_owner(&conn, owner, unit_id.0, &application, issues).await?;
        let v = one(&conn, id).await?;
        conn.commit().await?;
        Ok(Created::Created(Json(v)))
    }

    /// 我的共有人申请 / My co-owner applications and their outcome.
    #[oai(
        path = "/api/me/co-owner-applications",
        method = "get",
        operation_id = "my_co_owner_application_list"
    )]
    async fn mine(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<ApplicationPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = store::applications_of(&conn, owner).await?;
        conn.commit().await?;
        Ok(Json(ApplicationPage::cut(
            rows.into_iter().map(ApplicationView::from).collect(),
            paging,
        )))
    }

    /// 共有人审核列表 / Co-owner applications in my jurisdiction.
    #[oai(
        path = "/api/co-owner-applications",
        method = "get",
        operation_id = "co_owner_application_list"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        status: Query<Option<ApplicationStatus>>,
        estate_id: Query<Option<Uuid>>,
        /// Only this residents' committee's estates (street staff narrowing their view).
        rc_id: Query<Option<Uuid>>,
        /// 搜索: part of the applicant's name, or the whole phone or room number.
        #[oai(validator(max_length = 50))]
        q: Query<Option<String>>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<ApplicationPage>> {
        let scope = Jurisdiction::of(&principal)?;
        let paging = Paging::new(page.0, page_size.0)?;
        let q = q.0.as_deref().map(str::trim).filter(|q| !q.is_empty());
        let q_pattern = crate::paging::contains(q);
        let filter = ApplicationFilter {
            rc_scope: scope.rc_id,
            status: status.0.map(ApplicationStatus::as_str),
            estate_id: estate_id.0,
            committee: rc_id.0,
            q,
            q_pattern: q_pattern.as_deref(),
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (rows, total) = service::application_page(&conn, &filter, &paging).await?;
        conn.commit().await?;
        Ok(Json(ApplicationPage::new(
            rows.into_iter().map(ApplicationView::from).collect(),
            total,
            paging,
        )))
    }

    /// 通过共有人申请 / Approve: the co-owner is linked now or when they register.
    #[oai(
        path = "/api/co-owner-applications/:id/approve",
        method = "post",
        operation_id = "co_owner_approve"
    )]
    async fn approve(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ApplicationView>> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (_, staff) = principal.actor();
        service::approve_application(&conn, scope.rc_id, id.0, staff).await?;
        audit::record(&conn, &principal, "co_owner_application", &id.0.to_string()).await?;
        let v = one(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(v))
    }

    /// 驳回共有人申请 / Reject with a reason the owner will see.
    #[oai(
        path = "/api/co-owner-applications/:id/reject",
        method = "post",
        operation_id = "co_owner_reject"
    )]
    async fn reject(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<RejectRequest>,
    ) -> ApiResult<Json<ApplicationView>> {
        let scope = Jurisdiction::of(&principal)?;
        let mut issues = Vec::new();
        required(&mut issues, "reason", &body.reason);
        if !issues.is_empty() {
            return Err(ApiError::validation(issues));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (_, staff) = principal.actor();
        service::reject_application(&conn, scope.rc_id, id.0, body.reason.trim(), staff).await?;
        audit::record(&conn, &principal, "co_owner_application", &id.0.to_string()).await?;
        let v = one(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(v))
    }

    /// 删除共有人 / Delete an application; an approved co-owner stops holding the unit.
    #[oai(
        path = "/api/co-owner-applications/:id",
        method = "delete",
        operation_id = "co_owner_delete"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Deleted> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        service::delete_application(&conn, scope.rc_id, id.0).await?;
        audit::record(&conn, &principal, "co_owner_application", &id.0.to_string()).await?;
        conn.commit().await?;
        Ok(Deleted::Deleted)
    }
}
