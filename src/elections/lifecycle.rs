//! The order of an estate's life (§3.7 说明(1)): a preparatory group prepares the estate's first
//! committee (or a new one after a committee has ended); while a committee serves, re-elections
//! need no group and no group is formed.

use diesel::{dsl::exists, prelude::*, sql_query, sql_types as sql};
use uuid::Uuid;

use crate::{
    error::{ApiError, ApiResult},
    estates::store::NOT_ENDED,
    schema::tenant::{estates, prep_groups},
    tenancy::conn::TenantConn,
};

/// Whether a statement found anything (`SELECT EXISTS (...) AS found`).
#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = sql::Bool)]
    found: bool,
}

/// A committee serves the estate: members hold the role now or from an appointed term's first
/// day, or the estate had a committee before it came onto the platform (flagged by staff, no
/// grant recorded here yet).
async fn committee_serving(conn: &TenantConn, estate: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first::<_, Found>(
            sql_query(format!(
                "SELECT EXISTS (SELECT 1 FROM estates e WHERE e.id = $1 AND (
                   EXISTS (SELECT 1 FROM oc_members WHERE estate_id = e.id AND {NOT_ENDED})
                   OR (e.has_owners_committee AND NOT EXISTS (SELECT 1 FROM oc_members WHERE estate_id = e.id)))) AS found"
            ))
            .bind::<sql::Uuid, _>(estate),
        )
        .await?
        .found)
}

/// Refuses a new preparatory group while a committee serves or another group is forming.
pub async fn may_form_prep_group(conn: &TenantConn, estate: Uuid) -> ApiResult<()> {
    // Two staff creating groups for one estate at once: the second sees the first.
    conn.execute(estates::table.find(estate).select(estates::id).for_update())
        .await?;
    if committee_serving(conn, estate).await? {
        return Err(ApiError::conflict(
            "prep.committee_serving",
            "该小区业委会在任，不能成立筹备组；换届选举请直接创建选届",
            "The estate's owners' committee is serving: no preparatory group; create the next term directly",
        ));
    }
    let forming: bool = conn
        .first(diesel::select(exists(
            prep_groups::table
                .filter(prep_groups::estate_id.eq(estate))
                .filter(prep_groups::status.eq("forming")),
        )))
        .await?;
    if forming {
        return Err(ApiError::conflict(
            "prep.group_forming",
            "该小区已有正在组建的筹备组，请先完成该筹备组",
            "A preparatory group of this estate is still being formed",
        ));
    }
    Ok(())
}

/// A term (and so its elections) needs a serving committee to re-elect, or a preparatory group
/// formed after the last committee ended.
pub async fn may_create_term(conn: &TenantConn, estate: Uuid) -> ApiResult<()> {
    if committee_serving(conn, estate).await? {
        return Ok(());
    }
    let prepared = conn
        .first::<_, Found>(
            sql_query(
                "SELECT EXISTS (SELECT 1 FROM prep_groups g WHERE g.estate_id = $1 AND g.status = 'formed'
                AND g.formed_at > coalesce((SELECT max(coalesce(revoked_at, 'infinity')) FROM oc_members WHERE estate_id = $1), '-infinity')) AS found",
            )
            .bind::<sql::Uuid, _>(estate),
        )
        .await?
        .found;
    if prepared {
        Ok(())
    } else {
        Err(ApiError::conflict(
            "term.needs_prep_group",
            "该小区尚无在任业委会：须先成立筹备组，再创建选届和选举",
            "The estate has no serving owners' committee: form its preparatory group before creating a term",
        ))
    }
}
