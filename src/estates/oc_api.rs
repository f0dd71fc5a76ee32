//! The owners'-committee role for one estate: granted to the elected by a term's appointment
//! (src/elections), or marked and removed by staff one person at a time (§3.7(4)). Grants are
//! never deleted: ending one keeps its row, with who ended it and why.

use crate::paging::Paging;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Object, OpenApi,
};
use uuid::Uuid;

use crate::{
    audit,
    auth::{phone, principal::Principal},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult},
    estates::{
        service,
        store::{self, OcMemberRow},
    },
    state::AppState,
    tags::ApiTags,
    tenancy::Tenant,
};

crate::page_of!(OcMemberPage, OcMember);

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OcGrant {
    /// An owner holding a unit in this estate.
    pub owner_id: Uuid,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OcMember {
    pub owner_id: Uuid,
    pub real_name: String,
    /// Masked.
    pub phone: String,
    pub granted_at: DateTime<Utc>,
    /// When the grant ends (a term's grant ends after its last day); absent while open-ended.
    pub ends_at: Option<DateTime<Utc>>,
    /// The term whose election granted it; absent for a grant marked by staff.
    pub term_id: Option<Uuid>,
    /// `removed` (by staff), `term_replaced` (a new term took office) or `no_longer_owner`;
    /// absent while the grant has not been ended early.
    pub end_reason: Option<String>,
}

#[derive(ApiResponse)]
pub enum Granted {
    #[oai(status = 201)]
    Created(Json<OcMember>),
}

#[derive(ApiResponse)]
pub enum Revoked {
    #[oai(status = 204)]
    Revoked,
}

impl From<OcMemberRow> for OcMember {
    /// The stored grant as the API shows it: the phone masked.
    fn from(r: OcMemberRow) -> Self {
        OcMember {
            owner_id: r.owner_id,
            real_name: r.real_name,
            phone: phone::mask(&r.phone),
            granted_at: r.granted_at,
            ends_at: r.revoked_at,
            term_id: r.term_id,
            end_reason: r.end_reason,
        }
    }
}

#[derive(Default)]
pub struct OcApi;

#[OpenApi(tag = "ApiTags::Estates")]
impl OcApi {
    /// 业委会成员 / Current owners'-committee members of an estate; with `history=true`, every
    /// grant ever made (ended ones too), oldest first.
    #[oai(
        path = "/api/estates/:id/oc-members",
        method = "get",
        operation_id = "oc_member_list"
    )]
    #[allow(clippy::too_many_arguments)] // one extractor per parameter, as poem-openapi wants them
    async fn list(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        history: Query<Option<bool>>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<OcMemberPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let (conn, _) =
            Jurisdiction::begin_for_estate(&state.pool, &tenant, &principal, id.0).await?;
        let rows = store::oc_members(&conn, id.0, history.0 == Some(true)).await?;
        conn.commit().await?;
        Ok(Json(OcMemberPage::cut(
            rows.into_iter().map(OcMember::from).collect(),
            paging,
        )))
    }

    /// 授予业委会成员身份 / Grant the owners'-committee role for this estate.
    #[oai(
        path = "/api/estates/:id/oc-members",
        method = "post",
        operation_id = "oc_member_grant"
    )]
    async fn grant(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<OcGrant>,
    ) -> ApiResult<Granted> {
        let (conn, _) =
            Jurisdiction::begin_for_estate(&state.pool, &tenant, &principal, id.0).await?;
        let (_, staff) = principal.actor();
        service::grant_oc_member(&conn, id.0, body.owner_id, staff).await?;
        audit::record(&conn, &principal, "oc_member", &body.owner_id.to_string()).await?;
        let member = store::open_staff_grant(&conn, id.0, body.owner_id).await?;
        conn.commit().await?;
        Ok(Granted::Created(Json(member.into())))
    }

    /// 撤销业委会成员身份 / End this owner's committee grants (marked by staff or from an
    /// election), now; the grants stay in the history.
    #[oai(
        path = "/api/estates/:id/oc-members/:owner_id",
        method = "delete",
        operation_id = "oc_member_revoke"
    )]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        owner_id: Path<Uuid>,
    ) -> ApiResult<Revoked> {
        let (conn, _) =
            Jurisdiction::begin_for_estate(&state.pool, &tenant, &principal, id.0).await?;
        let (_, staff) = principal.actor();
        if !store::end_oc_grants(&conn, id.0, owner_id.0, staff).await? {
            return Err(ApiError::not_found(
                "oc.not_member",
                "该业主不是业委会成员",
                "Not a committee member",
            ));
        }
        audit::record(&conn, &principal, "oc_member", &owner_id.0.to_string()).await?;
        conn.commit().await?;
        Ok(Revoked::Revoked)
    }
}
