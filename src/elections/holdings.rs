//! What staff compare when they review a sign-up (§3.6, §3.7(3)): the units the person holds in
//! the estate, each with the owner's name as registered on the roll.

use poem_openapi::Object;
use uuid::Uuid;

use crate::{error::ApiResult, housing::area, tenancy::conn::TenantConn};

/// A unit a candidate (or preparatory-group sign-up) holds.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HeldUnitView {
    pub unit_id: Uuid,
    /// Building-entrance-room.
    pub code: String,
    pub area: String,
    /// `owner` or `co_owner`.
    pub role: String,
    /// The owner's name as registered on the housing roll.
    pub registered_name: String,
    /// The candidate's verified real name equals the registered name (ignoring spaces); a
    /// co-owner's does not, by nature.
    pub name_matches_roll: bool,
}

/// The units `owner` holds in `estate` now, with the names registered on the roll.
pub async fn held_units(
    conn: &TenantConn,
    owner: Uuid,
    estate: Uuid,
) -> ApiResult<Vec<HeldUnitView>> {
    Ok(conn
        .query(
            "SELECT u.id, u.building || '-' || u.entrance || '-' || u.room, u.area_centi, h.role, u.owner_name,
                    regexp_replace(u.owner_name, '\\s', '', 'g') = regexp_replace(o.real_name, '\\s', '', 'g')
               FROM unit_holders h JOIN units u ON u.id = h.unit_id JOIN owners o ON o.id = h.owner_id
              WHERE h.owner_id = $1 AND u.estate_id = $2 AND h.ended_at IS NULL ORDER BY 2",
            &[&owner, &estate],
        )
        .await?
        .iter()
        .map(|u| HeldUnitView {
            unit_id: u.get(0),
            code: u.get(1),
            area: area::format(u.get(2)),
            role: u.get(3),
            registered_name: u.get(4),
            name_matches_roll: u.get(5),
        })
        .collect())
}
