//! The owners'-committee role for one estate: granted to the elected by a term's appointment
//! (src/elections), or marked and removed by staff one person at a time (§3.7(4)). Grants are
//! never deleted: ending one keeps its row, with who ended it and why.

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
    auth::{phone, principal::Principal, BearerAuth},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult},
    state::AppState,
    tags::ApiTags,
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

/// Serving members: granted (a new term's grants may start on its first day) and not yet ended.
pub const SERVING: &str = "granted_at <= now() AND (revoked_at IS NULL OR revoked_at > now())";

/// Grants not yet over: serving now, or starting with a term that has not begun.
pub const NOT_ENDED: &str = "(revoked_at IS NULL OR revoked_at > now())";

/// Ends a grant now (a grant that has not started ends at its start, so it never served).
pub const END_NOW: &str = "revoked_at = GREATEST(now(), granted_at)";

const SELECT: &str =
    "SELECT m.owner_id, o.real_name, o.phone, m.granted_at, m.revoked_at, m.term_id, m.end_reason FROM oc_members m JOIN owners o ON o.id = m.owner_id";

fn view(r: &tokio_postgres::Row) -> OcMember {
    OcMember {
        owner_id: r.get(0),
        real_name: r.get(1),
        phone: phone::mask(r.get(2)),
        granted_at: r.get(3),
        ends_at: r.get(4),
        term_id: r.get(5),
        end_reason: r.get(6),
    }
}

/// Whether `owner` serves on `estate`'s owners' committee now.
pub async fn serving_member(conn: &TenantConn, estate: Uuid, owner: Uuid) -> ApiResult<bool> {
    Ok(conn
        .exists(
            &format!(
                "SELECT 1 FROM oc_members WHERE estate_id = $1 AND owner_id = $2 AND {SERVING}"
            ),
            &[&estate, &owner],
        )
        .await?)
}

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
    async fn list(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        history: Query<Option<bool>>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<Vec<OcMember>>> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        scope.check_estate(&conn, id.0).await?;
        let which = if history.0 == Some(true) {
            "true"
        } else {
            SERVING
        };
        let rows = conn
            .query(
                &format!("{SELECT} WHERE m.estate_id = $1 AND {which} ORDER BY m.granted_at, m.id"),
                &[&id.0],
            )
            .await?;
        conn.commit().await?;
        Ok(Json(rows.iter().map(view).collect()))
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
        _auth: BearerAuth,
    ) -> ApiResult<Granted> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        scope.check_estate(&conn, id.0).await?;
        // One person at a time: concurrent marks of the same owner wait for each other.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('oc:' || $1::uuid::text || ':' || $2::uuid::text))", &[&id.0, &body.owner_id]).await?;
        if !crate::housing::store::holds_unit(&conn, body.owner_id, id.0).await? {
            return Err(ApiError::field(
                "owner_id",
                "oc.not_an_owner",
                "只能授予本小区已认证的业主",
                "Only verified owners of this estate qualify",
            ));
        }
        if serving_member(&conn, id.0, body.owner_id).await? {
            return Err(ApiError::conflict(
                "oc.already_member",
                "该业主已是业委会成员",
                "Already a committee member",
            ));
        }
        let (_, staff) = principal.actor();
        conn.execute(
            "INSERT INTO oc_members (id, estate_id, owner_id, granted_by) VALUES ($1, $2, $3, $4)",
            &[&Uuid::new_v4(), &id.0, &body.owner_id, &staff],
        )
        .await?;
        audit::record(&conn, &principal, "oc_member", &body.owner_id.to_string()).await?;
        let row = conn
            .query_one(&format!("{SELECT} WHERE m.estate_id = $1 AND m.owner_id = $2 AND m.revoked_at IS NULL AND m.term_id IS NULL"), &[&id.0, &body.owner_id])
            .await?;
        conn.commit().await?;
        Ok(Granted::Created(Json(view(&row))))
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
        _auth: BearerAuth,
    ) -> ApiResult<Revoked> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        scope.check_estate(&conn, id.0).await?;
        let (_, staff) = principal.actor();
        let n = conn
            .execute(
                &format!("UPDATE oc_members SET {END_NOW}, revoked_by = $3, end_reason = 'removed' WHERE estate_id = $1 AND owner_id = $2 AND {NOT_ENDED}"),
                &[&id.0, &owner_id.0, &staff],
            )
            .await?;
        if n == 0 {
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
