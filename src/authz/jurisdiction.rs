//! Which estates a staff member may act on, enforced in SQL. Street staff: the whole tenant;
//! residents'-committee staff: the estates of their committee. Anything outside the
//! jurisdiction answers "not found", so its existence is not revealed.

use diesel::{prelude::*, sql_types as sql};
use uuid::Uuid;

use crate::{
    auth::principal::Principal,
    db::Pool,
    error::{ApiError, ApiResult},
    schema::tenant::estates,
    tenancy::{conn::TenantConn, Tenant},
};

#[derive(Clone, Copy, Debug)]
pub struct Jurisdiction {
    /// `None`: every estate of the street office.
    pub rc_id: Option<Uuid>,
}

/// SQL condition on an estates row aliased `e`, bound to the jurisdiction's `rc_id` as `$1`.
pub const ESTATE_IN_SCOPE: &str = "($1::uuid IS NULL OR e.rc_id = $1)";

/// The same condition with the jurisdiction bound as `$n`, for queries with other parameters first.
pub fn estate_in_scope(n: usize) -> String {
    format!("(${n}::uuid IS NULL OR e.rc_id = ${n})")
}

pub fn estate_not_found() -> ApiError {
    ApiError::not_found(
        "estate.not_found",
        "小区不存在或不在您的管辖范围内",
        "Estate not found or outside your jurisdiction",
    )
}

impl Jurisdiction {
    pub fn of(principal: &Principal) -> ApiResult<Self> {
        match principal {
            Principal::Staff { rc_id, .. } => Ok(Jurisdiction { rc_id: *rc_id }),
            _ => Err(ApiError::forbidden(
                "authz.forbidden",
                "只有街道或居委会工作人员可以操作",
                "Staff only",
            )),
        }
    }

    /// The staff preamble of an operation on one estate: the principal's jurisdiction, the
    /// tenant transaction, and 404 unless the estate lies within the jurisdiction.
    pub async fn begin_for_estate(
        pool: &Pool,
        tenant: &Tenant,
        principal: &Principal,
        estate_id: Uuid,
    ) -> ApiResult<(TenantConn, Self)> {
        let scope = Self::of(principal)?;
        let conn = TenantConn::begin(pool, tenant).await?;
        scope.check_estate(&conn, estate_id).await?;
        Ok((conn, scope))
    }

    /// The whole street office (street staff).
    pub fn is_street(&self) -> bool {
        self.rc_id.is_none()
    }

    /// 404 unless `estate_id` lies within the jurisdiction.
    pub async fn check_estate(&self, conn: &TenantConn, estate_id: Uuid) -> ApiResult<()> {
        let in_scope = estates::table.find(estate_id).filter(
            self.rc_id
                .into_sql::<sql::Nullable<sql::Uuid>>()
                .is_null()
                .or(estates::rc_id.nullable().eq(self.rc_id)),
        );
        let found: bool = conn
            .first(diesel::select(diesel::dsl::exists(in_scope)))
            .await?;
        found.then_some(()).ok_or_else(estate_not_found)
    }

    /// 404 unless the residents' committee is within the jurisdiction.
    pub fn check_rc(&self, rc_id: Uuid) -> ApiResult<()> {
        match self.rc_id {
            Some(mine) if mine != rc_id => Err(ApiError::not_found(
                "rc.not_found",
                "居委会不存在或不在您的管辖范围内",
                "Residents' committee not found or outside your jurisdiction",
            )),
            _ => Ok(()),
        }
    }
}
