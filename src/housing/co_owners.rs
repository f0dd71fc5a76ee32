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

use super::owner_api::owner_of;
use crate::{
    audit,
    auth::{phone, principal::Principal, required, BearerAuth},
    authz::jurisdiction::{estate_in_scope, Jurisdiction},
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
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Deleted => "deleted",
        }
    }
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

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApplicationPage {
    pub items: Vec<ApplicationView>,
    pub total: i64,
}

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

const SELECT: &str = "
    SELECT a.id, a.unit_id, e.name, u.building, u.entrance, u.room, a.name, a.phone, a.proof_ids, a.status, a.reject_reason,
           EXISTS (SELECT 1 FROM unit_holders h JOIN owners o ON o.id = h.owner_id
                    WHERE h.unit_id = a.unit_id AND h.role = 'co_owner' AND h.ended_at IS NULL AND o.phone = a.phone),
           a.created_at
      FROM co_owner_applications a JOIN units u ON u.id = a.unit_id JOIN estates e ON e.id = u.estate_id";

fn view(r: &tokio_postgres::Row) -> ApplicationView {
    ApplicationView {
        id: r.get(0),
        unit_id: r.get(1),
        estate_name: r.get(2),
        building: r.get(3),
        entrance: r.get(4),
        room: r.get(5),
        name: r.get(6),
        phone: phone::mask(r.get(7)),
        proof_attachment_ids: r.get(8),
        status: ApplicationStatus::parse(r.get(9)),
        reject_reason: r.get(10),
        linked: r.get(11),
        created_at: r.get(12),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found(
        "co_owner.application_not_found",
        "共有人申请不存在",
        "Co-owner application not found",
    )
}

/// The application, if it lies within the staff member's jurisdiction, locked in the order a
/// change of owner locks (unit, then application) and under its phone's lock (see the
/// registration trigger), so review, transfer and registration never interleave.
async fn application_in_scope(
    conn: &TenantConn,
    scope: Jurisdiction,
    id: Uuid,
) -> ApiResult<(Uuid, String, String, Uuid)> {
    let unit: Uuid = conn
        .query_opt(
            &format!(
                "SELECT a.unit_id FROM co_owner_applications a JOIN units u ON u.id = a.unit_id JOIN estates e ON e.id = u.estate_id
                  WHERE a.id = $2 AND {}",
                estate_in_scope(1)
            ),
            &[&scope.rc_id, &id],
        )
        .await?
        .ok_or_else(not_found)?
        .get(0);
    conn.execute("SELECT 1 FROM units WHERE id = $1 FOR UPDATE", &[&unit])
        .await?;
    let row = conn.query_one("SELECT phone, status, applicant_id FROM co_owner_applications WHERE id = $1 FOR UPDATE", &[&id]).await?;
    let phone: String = row.get(0);
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('co-owner:' || $1))",
        &[&phone],
    )
    .await?;
    Ok((unit, phone, row.get(1), row.get(2)))
}

async fn one(conn: &TenantConn, id: Uuid) -> ApiResult<ApplicationView> {
    conn.query_opt(&format!("{SELECT} WHERE a.id = $1"), &[&id])
        .await?
        .as_ref()
        .map(view)
        .ok_or_else(not_found)
}

fn not_pending() -> ApiError {
    ApiError::conflict(
        "co_owner.not_pending",
        "该申请已处理，不能重复审核",
        "This application was already reviewed",
    )
}

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
        _auth: BearerAuth,
    ) -> ApiResult<Created> {
        let owner = owner_of(&principal)?;
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
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let unit = conn
            .query_opt(
                "SELECT u.estate_id, e.co_owner_verification, o.phone FROM unit_holders h JOIN units u ON u.id = h.unit_id
                   JOIN estates e ON e.id = u.estate_id JOIN owners o ON o.id = h.owner_id
                  WHERE h.unit_id = $1 AND h.owner_id = $2 AND h.role = 'owner' AND h.ended_at IS NULL
                  FOR UPDATE OF u",
                &[&unit_id.0, &owner],
            )
            .await?
            .ok_or_else(|| ApiError::not_found("property.not_found", "您不是这套房屋的认证业主", "You are not this unit's verified owner"))?;
        if !unit.get::<_, bool>(1) {
            return Err(ApiError::forbidden(
                "co_owner.disabled",
                "本小区未开启共有人认证，请联系居委会",
                "This estate does not accept co-owners",
            ));
        }
        if unit.get::<_, &str>(2) == body.phone {
            issues.push(FieldIssue::new(
                "phone",
                "co_owner.self",
                "共有人不能是您本人",
                "the co-owner cannot be yourself",
            ));
        }
        // The proofs become personal documents of this estate: only its staff may read them.
        let estate: Uuid = unit.get(0);
        if !bind_proofs(&conn, estate, &body.proof_attachment_ids, "owner", owner).await? {
            issues.push(FieldIssue::new(
                "proof_attachment_ids",
                "proof.invalid",
                "证明材料须是您本人上传的图片（用途 proof），且未被使用过",
                "proofs must be your own unused proof uploads",
            ));
        }
        let open = conn
            .query_opt(
                "SELECT 1 FROM co_owner_applications WHERE unit_id = $1 AND phone = $2 AND status IN ('pending', 'approved')",
                &[&unit_id.0, &body.phone],
            )
            .await?;
        if open.is_some() {
            return Err(ApiError::conflict(
                "co_owner.duplicate",
                "已为此手机号提交过申请或已是共有人",
                "An application for this phone is pending or approved",
            ));
        }
        if !issues.is_empty() {
            return Err(ApiError::validation(issues));
        }
        let id = Uuid::new_v4();
        conn.execute(
            "INSERT INTO co_owner_applications (id, unit_id, applicant_id, name, phone, proof_ids) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&id, &unit_id.0, &owner, &body.name.trim(), &body.phone, &body.proof_attachment_ids],
        )
        .await?;
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
        _auth: BearerAuth,
    ) -> ApiResult<Json<Vec<ApplicationView>>> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = conn
            .query(
                &format!("{SELECT} WHERE a.applicant_id = $1 ORDER BY a.created_at DESC"),
                &[&owner],
            )
            .await?;
        conn.commit().await?;
        Ok(Json(rows.iter().map(view).collect()))
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
        page: Query<Option<i64>>,
        page_size: Query<Option<i64>>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<ApplicationPage>> {
        let scope = Jurisdiction::of(&principal)?;
        let paging = Paging::new(page.0, page_size.0)?;
        let status = status.0.map(ApplicationStatus::as_str);
        let filter = format!("WHERE {} AND ($2::text IS NULL OR a.status = $2) AND ($3::uuid IS NULL OR u.estate_id = $3)", estate_in_scope(1));
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let total: i64 = conn
            .query_one(
                &format!("SELECT count(*) FROM co_owner_applications a JOIN units u ON u.id = a.unit_id JOIN estates e ON e.id = u.estate_id {filter}"),
                &[&scope.rc_id, &status, &estate_id.0],
            )
            .await?
            .get(0);
        let rows = conn
            .query(
                &format!("{SELECT} {filter} ORDER BY a.created_at DESC LIMIT $4 OFFSET $5"),
                &[
                    &scope.rc_id,
                    &status,
                    &estate_id.0,
                    &paging.limit(),
                    &paging.offset(),
                ],
            )
            .await?;
        conn.commit().await?;
        Ok(Json(ApplicationPage {
            items: rows.iter().map(view).collect(),
            total,
        }))
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
        _auth: BearerAuth,
    ) -> ApiResult<Json<ApplicationView>> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (unit, phone, status, applicant) = application_in_scope(&conn, scope, id.0).await?;
        if status != "pending" {
            return Err(not_pending());
        }
        let applicant_holds = conn
            .query_opt("SELECT 1 FROM unit_holders WHERE unit_id = $1 AND owner_id = $2 AND role = 'owner' AND ended_at IS NULL", &[&unit, &applicant])
            .await?;
        if applicant_holds.is_none() {
            return Err(ApiError::conflict(
                "co_owner.applicant_gone",
                "申请人已不是这套房屋的认证业主，不能通过",
                "The applicant no longer holds the unit",
            ));
        }
        let (_, staff) = principal.actor();
        conn.execute("UPDATE co_owner_applications SET status = 'approved', reviewed_by = $2, reviewed_at = now() WHERE id = $1", &[&id.0, &staff]).await?;
        conn.execute(
            "INSERT INTO unit_holders (id, unit_id, owner_id, role)
             SELECT $1, $2, o.id, 'co_owner' FROM owners o
              WHERE o.phone = $3
                AND NOT EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = $2 AND h.owner_id = o.id AND h.ended_at IS NULL)",
            &[&Uuid::new_v4(), &unit, &phone],
        )
        .await?;
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
        _auth: BearerAuth,
    ) -> ApiResult<Json<ApplicationView>> {
        let scope = Jurisdiction::of(&principal)?;
        let mut issues = Vec::new();
        required(&mut issues, "reason", &body.reason);
        if !issues.is_empty() {
            return Err(ApiError::validation(issues));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (_, _, status, _) = application_in_scope(&conn, scope, id.0).await?;
        if status != "pending" {
            return Err(not_pending());
        }
        let (_, staff) = principal.actor();
        conn.execute(
            "UPDATE co_owner_applications SET status = 'rejected', reject_reason = $2, reviewed_by = $3, reviewed_at = now() WHERE id = $1",
            &[&id.0, &body.reason.trim(), &staff],
        )
        .await?;
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
        _auth: BearerAuth,
    ) -> ApiResult<Deleted> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (unit, phone, status, _) = application_in_scope(&conn, scope, id.0).await?;
        if status == "deleted" {
            return Err(not_found());
        }
        conn.execute(
            "UPDATE co_owner_applications SET status = 'deleted' WHERE id = $1",
            &[&id.0],
        )
        .await?;
        conn.execute(
            "UPDATE unit_holders h SET ended_at = now(), end_reason = 'removed' FROM owners o
              WHERE h.owner_id = o.id AND o.phone = $2 AND h.unit_id = $1 AND h.role = 'co_owner' AND h.ended_at IS NULL",
            &[&unit, &phone],
        )
        .await?;
        audit::record(&conn, &principal, "co_owner_application", &id.0.to_string()).await?;
        conn.commit().await?;
        Ok(Deleted::Deleted)
    }
}

/// Ties unused `proof` uploads of `uploader` to an estate, all or none (their first use wins).
pub async fn bind_proofs(
    conn: &TenantConn,
    estate: Uuid,
    ids: &[Uuid],
    uploader_kind: &str,
    uploader: Uuid,
) -> ApiResult<bool> {
    let mut distinct = ids.to_vec();
    distinct.sort();
    distinct.dedup();
    let bound = conn
        .query(
            "UPDATE attachments SET estate_id = $1
              WHERE id = ANY($2) AND estate_id IS NULL AND purpose = 'proof' AND uploader_kind = $3 AND uploader_id = $4
              RETURNING id",
            &[&estate, &distinct, &uploader_kind, &uploader],
        )
        .await?;
    Ok(bound.len() == ids.len())
}
