//! Face verification before an election ballot (where the election asks for it): the owner
//! starts a check with the provider and confirms it afterwards; only the provider's result
//! reference is kept. The law's alternative, an in-person check, is recorded by staff.

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::{rounds, store};
use crate::{
    audit,
    auth::principal::Principal,
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult},
    housing::{owner_api::owner_of, store::holds_unit},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

#[derive(Object)]
pub struct FaceCheckStarted {
    pub id: Uuid,
    /// Where the mini-program runs the check (the provider's page or SDK token).
    pub url: String,
    pub biz_token: String,
}

#[derive(ApiResponse)]
pub enum Started {
    #[oai(status = 201)]
    Created(Json<FaceCheckStarted>),
}

/// How a face check ended, or that it has not yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum FaceCheckStatus {
    /// 待核验
    Pending,
    /// 已通过
    Passed,
    /// 未通过
    Failed,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FaceCheckView {
    pub id: Uuid,
    pub status: FaceCheckStatus,
    /// The provider's reason when it did not pass.
    pub detail: Option<String>,
}

#[derive(Object)]
pub struct InPersonInput {
    pub owner_id: Uuid,
}

#[derive(ApiResponse)]
pub enum Recorded {
    #[oai(status = 201)]
    Created(Json<FaceCheckView>),
}

fn provider_down(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "face verification provider failed");
    ApiError::unavailable(
        "face.unavailable",
        "人脸核身服务暂不可用，请稍后重试，或到居委会现场核验",
        "Face verification is unavailable; try later or verify in person",
    )
}

#[derive(Default)]
pub struct FaceApi;

#[OpenApi(tag = "ApiTags::Elections")]
impl FaceApi {
    /// 开始人脸核身 / Start my face verification for an election.
    #[oai(
        path = "/api/elections/:id/face-checks",
        method = "post",
        operation_id = "face_check_start"
    )]
    async fn start(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Started> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let r = rounds::load(&conn, id.0).await?;
        if !holds_unit(&conn, owner, r.estate_id).await? {
            return Err(rounds::not_found());
        }
        if r.verification_mode != "signature_face" {
            return Err(ApiError::conflict(
                "face.not_required",
                "本次选举无需人脸核身",
                "This election does not use face verification",
            ));
        }
        // The development provider passes everyone: never outside development mode.
        if state.face.name() == "dev" && !state.config.dev_mode {
            return Err(ApiError::unavailable(
                "face.not_configured",
                "人脸核身服务未配置，请到居委会现场核验",
                "Face verification is not configured; verify in person",
            ));
        }
        let name = store::owner_real_name(&conn, owner).await?;
        let started = state
            .face
            .start(&name, None, "")
            .await
            .map_err(provider_down)?;
        let cid = Uuid::new_v4();
        store::insert_face_check(
            &conn,
            cid,
            id.0,
            owner,
            state.face.name(),
            &started.biz_token,
        )
        .await?;
        conn.commit().await?;
        Ok(Started::Created(Json(FaceCheckStarted {
            id: cid,
            url: started.url,
            biz_token: started.biz_token,
        })))
    }

    /// 确认核身结果 / Fetch the result of my face verification from the provider.
    #[oai(
        path = "/api/face-checks/:id/confirm",
        method = "post",
        operation_id = "face_check_confirm"
    )]
    async fn confirm(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<FaceCheckView>> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        // Only the token this owner started is checked: nobody can use another's result.
        let row = store::face_token_for_update(&conn, id.0, owner)
            .await?
            .ok_or_else(|| {
                ApiError::not_found("face.not_found", "核身记录不存在", "Face check not found")
            })?;
        let (token, status) = (row.biz_token, row.status);
        if status != "pending" {
            conn.commit().await?;
            return Ok(Json(FaceCheckView {
                id: id.0,
                status: crate::stored::parse(&status, FaceCheckStatus::Pending),
                detail: None,
            }));
        }
        let result = state.face.result(&token).await.map_err(provider_down)?;
        // The face checked must be this account's person: the provider's verified name has to
        // be the account's real name (which matched the roll at verification).
        let real_name = store::owner_real_name(&conn, owner).await?;
        let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        let same_person = match &result.verified_name {
            Some(name) => squash(name) == squash(&real_name),
            None => state.face.name() == "dev",
        };
        let (status, detail) = match (result.passed, same_person) {
            (true, true) => ("passed", None),
            (true, false) => ("failed", Some("核身人与账号实名不一致".to_string())),
            (false, _) => ("failed", Some(result.detail)),
        };
        store::decide_face_check(&conn, id.0, status, &result.reference, detail.as_deref()).await?;
        audit::record(&conn, &principal, "face_check", &id.0.to_string()).await?;
        conn.commit().await?;
        Ok(Json(FaceCheckView {
            id: id.0,
            status: crate::stored::parse(status, FaceCheckStatus::Pending),
            detail,
        }))
    }

    /// 现场核验 / Record that staff verified an owner in person (the alternative the law requires).
    #[oai(
        path = "/api/elections/:id/in-person-checks",
        method = "post",
        operation_id = "face_check_in_person"
    )]
    async fn in_person(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<InPersonInput>,
    ) -> ApiResult<Recorded> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let r = rounds::load(&conn, id.0).await?;
        scope
            .check_estate(&conn, r.estate_id)
            .await
            .map_err(|_| rounds::not_found())?;
        if !holds_unit(&conn, body.owner_id, r.estate_id).await? {
            return Err(ApiError::field(
                "owner_id",
                "face.not_an_owner",
                "该业主在本小区没有已认证的房屋",
                "The owner holds no verified unit in this estate",
            ));
        }
        let (_, staff) = principal.actor();
        let cid = Uuid::new_v4();
        let reference = format!(
            "in_person:{}",
            staff.map(|s| s.to_string()).unwrap_or_default()
        );
        store::insert_in_person_check(&conn, cid, id.0, body.owner_id, &reference, staff).await?;
        audit::record(&conn, &principal, "face_check", &cid.to_string()).await?;
        conn.commit().await?;
        Ok(Recorded::Created(Json(FaceCheckView {
            id: cid,
            status: FaceCheckStatus::Passed,
            detail: None,
        })))
    }
}
