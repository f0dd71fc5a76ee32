//! What staff compare when they review a sign-up (§3.6, §3.7(3)): the units the person holds in
//! the estate, each with the owner's name as registered on the roll.

use diesel::{sql_query, sql_types as sql, QueryableByName};
use poem_openapi::Object;
use uuid::Uuid;

use crate::{
    error::ApiResult,
    housing::{area, owner_api::HolderRole},
    tenancy::conn::TenantConn,
};

/// A unit a candidate (or preparatory-group sign-up) holds.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HeldUnitView {
    pub unit_id: Uuid,
    /// Building-entrance-room.
    pub code: String,
    #[oai(validator(pattern = r"^[0-9]+\.[0-9]{2}$"))]
    pub area: String,
    pub role: HolderRole,
    /// The owner's name as registered on the housing roll.
    pub registered_name: String,
    /// The candidate's verified real name equals the registered name (ignoring spaces); a
    /// co-owner's does not, by nature.
    pub name_matches_roll: bool,
}

/// A held unit as read, before its area is formatted.
#[derive(QueryableByName)]
struct HeldRow {
    #[diesel(sql_type = sql::Uuid)]
    unit_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    code: String,
    #[diesel(sql_type = sql::BigInt)]
    area_centi: i64,
    #[diesel(sql_type = sql::Text)]
    role: String,
    #[diesel(sql_type = sql::Text)]
    registered_name: String,
    #[diesel(sql_type = sql::Bool)]
    name_matches_roll: bool,
}

/// The units `owner` holds in `estate` now, with the names registered on the roll.
pub async fn held_units(
    conn: &TenantConn,
    owner: Uuid,
    estate: Uuid,
) -> ApiResult<Vec<HeldUnitView>> {
    Ok(conn
        .load::<_, HeldRow>(
            sql_query(
                "SELECT u.id AS unit_id, u.building || '-' || u.entrance || '-' || u.room AS code, u.area_centi, h.role, u.owner_name AS registered_name,
                    regexp_replace(u.owner_name, '\\s', '', 'g') = regexp_replace(o.real_name, '\\s', '', 'g') AS name_matches_roll
               FROM unit_holders h JOIN units u ON u.id = h.unit_id JOIN owners o ON o.id = h.owner_id
              WHERE h.owner_id = $1 AND u.estate_id = $2 AND h.ended_at IS NULL ORDER BY 2",
            )
            .bind::<sql::Uuid, _>(owner)
            .bind::<sql::Uuid, _>(estate),
        )
        .await?
        .into_iter()
        .map(|u| HeldUnitView {
            unit_id: u.unit_id,
            code: u.code,
            area: area::format(u.area_centi),
            role: crate::stored::parse(&u.role, HolderRole::Owner),
            registered_name: u.registered_name,
            name_matches_roll: u.name_matches_roll,
        })
        .collect())
}
