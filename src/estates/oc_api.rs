//! The owners'-committee role for one estate, granted and revoked by staff (elections will do
//! it automatically later).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, Object, OpenApi};
use uuid::Uuid;

use crate::{
    app::AppState,
    audit,
    auth::{phone, principal::Principal, BearerAuth},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult},
    openapi::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

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

/// Serving members: granted (a new term's grants may start on its first day) and not yet ended.
pub const SERVING: &str = "granted_at <= now() AND (revoked_at IS NULL OR revoked_at > now())";

const SELECT: &str = "SELECT m.owner_id, o.real_name, o.phone, m.granted_at FROM oc_members m JOIN owners o ON o.id = m.owner_id";

fn view(r: &tokio_postgres::Row) -> OcMember {
    OcMember { owner_id: r.get(0), real_name: r.get(1), phone: phone::mask(r.get(2)), granted_at: r.get(3) }
}

pub struct OcApi;

#[OpenApi(tag = "ApiTags::Estates")]
impl OcApi {
    /// 业委会成员 / Current owners'-committee members of an estate.
    #[oai(path = "/api/estates/:id/oc-members", method = "get", operation_id = "oc_member_list")]
    async fn list(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, id: Path<Uuid>, _auth: BearerAuth) -> ApiResult<Json<Vec<OcMember>>> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        scope.check_estate(&conn, id.0).await?;
        let rows = conn.query(&format!("{SELECT} WHERE m.estate_id = $1 AND {SERVING} ORDER BY m.granted_at"), &[&id.0]).await?;
        conn.commit().await?;
        Ok(Json(rows.iter().map(view).collect()))
    }

    /// 授予业委会成员身份 / Grant the owners'-committee role for this estate.
    #[oai(path = "/api/estates/:id/oc-members", method = "post", operation_id = "oc_member_grant")]
    async fn grant(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<OcGrant>,
        _auth: BearerAuth,
    ) -> ApiResult<Granted> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        scope.check_estate(&conn, id.0).await?;
        let holds = conn
            .query_opt(
                "SELECT 1 FROM unit_holders h JOIN units u ON u.id = h.unit_id WHERE u.estate_id = $1 AND h.owner_id = $2 AND h.ended_at IS NULL",
                &[&id.0, &body.owner_id],
            )
            .await?;
        if holds.is_none() {
            return Err(ApiError::field("owner_id", "oc.not_an_owner", "只能授予本小区已认证的业主", "Only verified owners of this estate qualify"));
        }
        let exists = conn.query_opt("SELECT 1 FROM oc_members WHERE estate_id = $1 AND owner_id = $2 AND revoked_at IS NULL", &[&id.0, &body.owner_id]).await?;
        if exists.is_some() {
            return Err(ApiError::conflict("oc.already_member", "该业主已是业委会成员", "Already a committee member"));
        }
        let (_, staff) = principal.actor();
        conn.execute(
            "INSERT INTO oc_members (id, estate_id, owner_id, granted_by) VALUES ($1, $2, $3, $4)",
            &[&Uuid::new_v4(), &id.0, &body.owner_id, &staff],
        )
        .await?;
        audit::record(&conn, &principal, "oc_member", &body.owner_id.to_string()).await?;
        let row = conn.query_one(&format!("{SELECT} WHERE m.estate_id = $1 AND m.owner_id = $2 AND m.revoked_at IS NULL"), &[&id.0, &body.owner_id]).await?;
        conn.commit().await?;
        Ok(Granted::Created(Json(view(&row))))
    }

    /// 撤销业委会成员身份 / Revoke the owners'-committee role.
    #[oai(path = "/api/estates/:id/oc-members/:owner_id", method = "delete", operation_id = "oc_member_revoke")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        owner_id: Path<Uuid>,
        _auth: BearerAuth,
    ) -> ApiResult<Revoked> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        scope.check_estate(&conn, id.0).await?;
        let n = conn
            .execute("UPDATE oc_members SET revoked_at = now() WHERE estate_id = $1 AND owner_id = $2 AND revoked_at IS NULL", &[&id.0, &owner_id.0])
            .await?;
        if n == 0 {
            return Err(ApiError::not_found("oc.not_member", "该业主不是业委会成员", "Not a committee member"));
        }
        audit::record(&conn, &principal, "oc_member", &owner_id.0.to_string()).await?;
        conn.commit().await?;
        Ok(Revoked::Revoked)
    }
}
