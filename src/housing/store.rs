//! Queries on the housing roll.

use std::collections::HashMap;

use uuid::Uuid;

use super::sheet::{RollRow, RowError, UnitKey};
use crate::{error::ApiResult, tenancy::conn::TenantConn};

/// Rows naming a unit already on the roll of `estate_id`, as errors.
pub async fn already_imported(
    conn: &TenantConn,
    estate_id: Uuid,
    keys: &[(u32, UnitKey)],
) -> ApiResult<Vec<RowError>> {
    let existing = conn
        .query(
            "SELECT building, entrance, room FROM units WHERE estate_id = $1",
            &[&estate_id],
        )
        .await?;
    let existing: HashMap<(String, String, String), ()> = existing
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), ()))
        .collect();
    Ok(keys
        .iter()
        .filter(|(_, key)| existing.contains_key(key))
        .map(|(row, _)| {
            RowError::new(
                *row,
                Some(2),
                "该房屋已导入，不能重复导入（房屋信息导入后不可修改，如已出售请办理过户）",
                "this unit is already on the roll",
            )
        })
        .collect())
}

/// Inserts the whole roll in one statement (arrays unnested server-side).
pub async fn insert_units(
    conn: &TenantConn,
    estate_id: Uuid,
    import_id: Uuid,
    rows: &[RollRow],
) -> ApiResult<()> {
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::new_v4()).collect();
    let building: Vec<&str> = rows.iter().map(|r| r.building.as_str()).collect();
    let entrance: Vec<&str> = rows.iter().map(|r| r.entrance.as_str()).collect();
    let room: Vec<&str> = rows.iter().map(|r| r.room.as_str()).collect();
    let kind: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    let area: Vec<i64> = rows.iter().map(|r| r.area_centi).collect();
    let name: Vec<&str> = rows.iter().map(|r| r.owner_name.as_str()).collect();
    let phone: Vec<&str> = rows.iter().map(|r| r.owner_phone.as_str()).collect();
    let unsold: Vec<bool> = rows.iter().map(|r| r.developer_unsold).collect();
    conn.execute(
        "INSERT INTO units (id, estate_id, import_id, building, entrance, room, kind, area_centi, owner_name, owner_phone, developer_unsold)
         SELECT id, $2, $3, b, en, r, k, a, n, p, d
           FROM unnest($1::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::bool[])
             AS t(id, b, en, r, k, a, n, p, d)",
        &[&ids, &estate_id, &import_id, &building, &entrance, &room, &kind, &area, &name, &phone, &unsold],
    )
    .await?;
    refresh_statistics(conn).await
}

/// A large import changes the tables' shape at once; without fresh statistics the planner
/// takes a new estate for a handful of rows and the roll freeze degrades to nested loops.
pub async fn refresh_statistics(conn: &TenantConn) -> ApiResult<()> {
    conn.execute("ANALYZE units, unit_holders", &[]).await?;
    Ok(())
}

/// The owner's verified hold on a unit of the estate (voters, candidates and sign-ups need one).
pub async fn holds_unit(conn: &TenantConn, owner: Uuid, estate: Uuid) -> ApiResult<bool> {
    Ok(conn
        .exists(
            "SELECT 1 FROM unit_holders h JOIN units u ON u.id = h.unit_id WHERE h.owner_id = $1 AND u.estate_id = $2 AND h.ended_at IS NULL",
            &[&owner, &estate],
        )
        .await?)
}
