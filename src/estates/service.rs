//! The estates domain's steps that take more than one statement: what must hold before an
//! estate is saved or a grant is made, and in which order. Handlers call these inside their
//! `TenantConn` transaction, after checking the jurisdiction.

use uuid::Uuid;

use super::store::{self, EstateFields, EstateFilter, EstateRow};
use crate::{
    error::{ApiError, ApiResult},
    housing,
    paging::Paging,
    tenancy::conn::TenantConn,
};

/// One page of the estates passing `filter`, with the total over every page.
pub async fn estate_page(
    conn: &TenantConn,
    filter: &EstateFilter,
    paging: &Paging,
) -> ApiResult<(Vec<EstateRow>, i64)> {
    let total = store::count_estates(conn, filter).await?;
    let rows = store::estates_page(conn, filter, paging.limit(), paging.offset()).await?;
    Ok((rows, total))
}

/// Creates the estate `id`, or rewrites it (callers check the jurisdiction first). The
/// committee it names must exist: the database would refuse it too, but without saying which
/// field is wrong.
pub async fn save_estate(conn: &TenantConn, id: Uuid, estate: &EstateFields<'_>) -> ApiResult<()> {
    if !store::rc_exists(conn, estate.rc_id).await? {
        return Err(ApiError::field(
            "rc_id",
            "rc.not_found",
            "所选居委会不存在",
            "No such residents' committee",
        ));
    }
    store::upsert_estate(conn, id, estate).await
}

/// Marks `owner` as an owners'-committee member of `estate`, granted by `staff` (§3.7(4)):
/// only a verified owner of the estate qualifies, and only while not serving already. The
/// lock comes first so that two concurrent marks of the same person cannot both pass.
pub async fn grant_oc_member(
    conn: &TenantConn,
    estate: Uuid,
    owner: Uuid,
    staff: Option<Uuid>,
) -> ApiResult<()> {
    store::lock_oc_owner(conn, estate, owner).await?;
    if !housing::store::holds_unit(conn, owner, estate).await? {
        return Err(ApiError::field(
            "owner_id",
            "oc.not_an_owner",
            "只能授予本小区已认证的业主",
            "Only verified owners of this estate qualify",
        ));
    }
    if store::serving_member(conn, estate, owner).await? {
        return Err(ApiError::conflict(
            "oc.already_member",
            "该业主已是业委会成员",
            "Already a committee member",
        ));
    }
    store::insert_oc_grant(conn, estate, owner, staff).await
}
