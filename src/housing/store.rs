//! Every statement on the housing roll's tables: units and their imports, holdings
//! (`unit_holders`), co-owner applications, changes of owner and the proofs they bind. Rows are
//! read by position here and nowhere else, one reading function per row type, so the move to
//! diesel touches one file.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tokio_postgres::{types::ToSql, Row};
use uuid::Uuid;

use super::sheet::{RollRow, UnitKey};
use crate::{
    authz::jurisdiction::estate_in_scope,
    error::ApiResult,
    estates::store::{END_NOW, NOT_ENDED},
    tenancy::conn::TenantConn,
};

// Locks.

/// Holds the unit's row until the transaction ends, so verifications, reviews and changes of
/// owner of one unit never interleave.
pub async fn lock_unit(conn: &TenantConn, unit: Uuid) -> ApiResult<()> {
    conn.execute("SELECT 1 FROM units WHERE id = $1 FOR UPDATE", &[&unit])
        .await?;
    Ok(())
}

/// Holds the estate's row until the transaction ends: one import per estate at a time, so
/// "already imported" stays true until commit.
pub async fn lock_estate(conn: &TenantConn, estate: Uuid) -> ApiResult<()> {
    conn.execute("SELECT 1 FROM estates WHERE id = $1 FOR UPDATE", &[&estate])
        .await?;
    Ok(())
}

// The roll import.

/// The key (building, entrance, room) of every unit already on the roll of `estate_id`.
pub async fn unit_keys(conn: &TenantConn, estate_id: Uuid) -> ApiResult<HashSet<UnitKey>> {
    let rows = conn
        .query(
            "SELECT building, entrance, room FROM units WHERE estate_id = $1",
            &[&estate_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Records an import of `unit_count` units by staff (`staff_id`) from the file `file_name`.
pub async fn insert_import(
    conn: &TenantConn,
    import_id: Uuid,
    estate_id: Uuid,
    file_name: &str,
    unit_count: i32,
    staff_id: Option<Uuid>,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO housing_imports (id, estate_id, file_name, unit_count, staff_id) VALUES ($1, $2, $3, $4, $5)",
        &[&import_id, &estate_id, &file_name, &unit_count, &staff_id],
    )
    .await?;
    Ok(())
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

// The demo roll (housing::demo).

/// Whether the estate has any unit on its roll yet.
pub async fn estate_has_units(conn: &TenantConn, estate_id: Uuid) -> ApiResult<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM units WHERE estate_id = $1 LIMIT 1",
            &[&estate_id],
        )
        .await?
        .is_some())
}

/// The street office's first street staff member, who is named as the demo import's author.
pub async fn first_street_staff(conn: &TenantConn) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .query_opt(
            "SELECT id FROM staff WHERE role = 'street_staff' ORDER BY created_at LIMIT 1",
            &[],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Records the demo import of `unit_count` units, authored by `staff_id`.
pub async fn insert_demo_import(
    conn: &TenantConn,
    import_id: Uuid,
    estate_id: Uuid,
    unit_count: i32,
    staff_id: Uuid,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO housing_imports (id, estate_id, file_name, unit_count, staff_id) VALUES ($1, $2, 'demo', $3, $4)",
        &[&import_id, &estate_id, &unit_count, &staff_id],
    )
    .await?;
    Ok(())
}

/// One generated unit of the demo roll.
pub struct DemoUnit<'a> {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub import_id: Uuid,
    pub building: &'a str,
    pub entrance: &'a str,
    pub room: &'a str,
    /// The stored text (`residential`, …).
    pub kind: &'a str,
    pub area_centi: i64,
    pub owner_name: &'a str,
    pub owner_phone: &'a str,
}

/// Puts one generated unit on the roll.
pub async fn insert_demo_unit(conn: &TenantConn, unit: &DemoUnit<'_>) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO units (id, estate_id, import_id, building, entrance, room, kind, area_centi, owner_name, owner_phone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &unit.id,
            &unit.estate_id,
            &unit.import_id,
            &unit.building,
            &unit.entrance,
            &unit.room,
            &unit.kind,
            &unit.area_centi,
            &unit.owner_name,
            &unit.owner_phone,
        ],
    )
    .await?;
    Ok(())
}

/// Creates a demo owner account, unless one with that phone exists already.
pub async fn insert_demo_owner(
    conn: &TenantConn,
    id: Uuid,
    real_name: &str,
    phone: &str,
    password_hash: &str,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO owners (id, real_name, phone, password_hash, agreement_accepted_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (phone) DO NOTHING",
        &[&id, &real_name, &phone, &password_hash],
    )
    .await?;
    Ok(())
}

/// Makes the account with `phone` (if any) the unit's verified owner.
pub async fn hold_as_owner_by_phone(conn: &TenantConn, unit: Uuid, phone: &str) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO unit_holders (id, unit_id, owner_id, role) SELECT $1, $2, id, 'owner' FROM owners WHERE phone = $3",
        &[&Uuid::new_v4(), &unit, &phone],
    )
    .await?;
    Ok(())
}

/// Sets the estate's own figures (小区信息) to `households` and the area of its roll.
pub async fn match_estate_figures(
    conn: &TenantConn,
    estate_id: Uuid,
    households: i32,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE estates SET total_households = $2, total_area_centi = (SELECT sum(area_centi) FROM units WHERE estate_id = $1), updated_at = now() WHERE id = $1",
        &[&estate_id, &households],
    )
    .await?;
    Ok(())
}

// Searching the roll (staff).

/// A unit with its estate's name, its verified owner and its co-owner counts, in the order
/// [`unit_row`] reads.
const UNIT_SELECT: &str = "
    SELECT u.id, u.estate_id, e.name, u.building, u.entrance, u.room, u.kind, u.area_centi, u.owner_name, u.owner_phone,
           u.developer_unsold, o.real_name,
           (SELECT count(*) FROM unit_holders c WHERE c.unit_id = u.id AND c.role = 'co_owner' AND c.ended_at IS NULL) AS co_owners,
           (SELECT count(*) FROM co_owner_applications a WHERE a.unit_id = u.id AND a.status = 'pending') AS pending
      FROM units u
      JOIN estates e ON e.id = u.estate_id
      LEFT JOIN unit_holders h ON h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL
      LEFT JOIN owners o ON o.id = h.owner_id";

/// Natural order for building/entrance/room numbers: "2" before "10".
const ORDER: &str = "ORDER BY e.name, length(u.building), u.building, length(u.entrance), u.entrance, length(u.room), u.room";

/// A unit of the roll as stored, with its verified owner (if any) and co-owner counts.
pub struct UnitRow {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub estate_name: String,
    pub building: String,
    pub entrance: String,
    pub room: String,
    /// The stored text (`residential`, …).
    pub kind: String,
    pub area_centi: i64,
    pub owner_name: String,
    /// Unmasked: callers mask it before it leaves the service.
    pub owner_phone: String,
    pub developer_unsold: bool,
    pub verified_owner_name: Option<String>,
    pub co_owner_count: i64,
    pub pending_co_owner_applications: i64,
}

/// The one place a unit row is read by position (the columns of [`UNIT_SELECT`]).
fn unit_row(r: &Row) -> UnitRow {
    UnitRow {
        id: r.get(0),
        estate_id: r.get(1),
        estate_name: r.get(2),
        building: r.get(3),
        entrance: r.get(4),
        room: r.get(5),
        kind: r.get(6),
        area_centi: r.get(7),
        owner_name: r.get(8),
        owner_phone: r.get(9),
        developer_unsold: r.get(10),
        verified_owner_name: r.get(11),
        co_owner_count: r.get(12),
        pending_co_owner_applications: r.get(13),
    }
}

/// Where a unit stands with co-owners, as a search filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoOwnerState {
    /// No co-owner and no pending application.
    None,
    /// An application awaits review.
    Pending,
    /// At least one approved co-owner.
    Approved,
}

/// The search's filters, shared by the list and the export; each `None` filters nothing.
pub struct UnitFilter {
    /// The jurisdiction (`None`: the whole street office).
    pub rc_scope: Option<Uuid>,
    pub estate_id: Option<Uuid>,
    /// The stored text of the kind (`residential`, …).
    pub kind: Option<&'static str>,
    pub building: Option<String>,
    pub entrance: Option<String>,
    pub room: Option<String>,
    /// A `LIKE` pattern on the registered owner's name, already escaped (`paging::contains`).
    pub owner_name_pattern: Option<String>,
    pub phone: Option<String>,
    pub verified: Option<bool>,
    pub co_owner: Option<CoOwnerState>,
    pub import_id: Option<Uuid>,
}

impl UnitFilter {
    /// The filter as `WHERE` over `units u`, `estates e` and the owner's holding `h`, binding
    /// [`UnitFilter::params`] as `$1`…`$10`.
    fn sql(&self) -> String {
        format!(
            "WHERE {} AND ($2::uuid IS NULL OR u.estate_id = $2) AND ($3::text IS NULL OR u.kind = $3)
           AND ($4::text IS NULL OR u.building = $4) AND ($5::text IS NULL OR u.entrance = $5) AND ($6::text IS NULL OR u.room = $6)
           AND ($7::text IS NULL OR u.owner_name LIKE $7) AND ($8::text IS NULL OR u.owner_phone = $8)
           AND ($9::bool IS NULL OR (h.id IS NOT NULL) = $9) AND ($10::uuid IS NULL OR u.import_id = $10){}",
            estate_in_scope(1),
            co_owner_clause(self.co_owner)
        )
    }

    /// The values [`UnitFilter::sql`] binds, in its order.
    fn params(&self) -> [&(dyn ToSql + Sync); 10] {
        [
            &self.rc_scope,
            &self.estate_id,
            &self.kind,
            &self.building,
            &self.entrance,
            &self.room,
            &self.owner_name_pattern,
            &self.phone,
            &self.verified,
            &self.import_id,
        ]
    }
}

/// The co-owner filter as a condition appended to [`UnitFilter::sql`] (constants only).
fn co_owner_clause(state: Option<CoOwnerState>) -> &'static str {
    match state {
        None => "",
        Some(CoOwnerState::None) => {
            " AND NOT EXISTS (SELECT 1 FROM unit_holders c WHERE c.unit_id = u.id AND c.role = 'co_owner' AND c.ended_at IS NULL)
                                       AND NOT EXISTS (SELECT 1 FROM co_owner_applications a WHERE a.unit_id = u.id AND a.status = 'pending')"
        }
        Some(CoOwnerState::Pending) => " AND EXISTS (SELECT 1 FROM co_owner_applications a WHERE a.unit_id = u.id AND a.status = 'pending')",
        Some(CoOwnerState::Approved) => " AND EXISTS (SELECT 1 FROM unit_holders c WHERE c.unit_id = u.id AND c.role = 'co_owner' AND c.ended_at IS NULL)",
    }
}

/// How many units pass `filter` (the search's total).
pub async fn count_units(conn: &TenantConn, filter: &UnitFilter) -> ApiResult<i64> {
    Ok(conn
        .query_one(
            &format!(
                "SELECT count(*) FROM units u JOIN estates e ON e.id = u.estate_id
                   LEFT JOIN unit_holders h ON h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL {}",
                filter.sql()
            ),
            &filter.params(),
        )
        .await?
        .get(0))
}

/// One page of the units passing `filter`, in natural order ([`ORDER`]).
pub async fn units_page(
    conn: &TenantConn,
    filter: &UnitFilter,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<UnitRow>> {
    let mut params: Vec<&(dyn ToSql + Sync)> = filter.params().to_vec();
    params.push(&limit);
    params.push(&offset);
    let rows = conn
        .query(
            &format!(
                "{UNIT_SELECT} {} {ORDER} LIMIT $11 OFFSET $12",
                filter.sql()
            ),
            &params,
        )
        .await?;
    Ok(rows.iter().map(unit_row).collect())
}

// Changes of owner (staff).

/// What a change of owner replaces, read under the unit's lock.
pub struct TransferUnitRow {
    pub estate_id: Uuid,
    pub owner_name: String,
    pub owner_phone: String,
    pub developer_unsold: bool,
}

/// The unit `unit` if `rc_scope` reaches it, locked until the transaction ends.
pub async fn lock_unit_for_transfer(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    unit: Uuid,
) -> ApiResult<Option<TransferUnitRow>> {
    let row = conn
        .query_opt(
            &format!("SELECT u.estate_id, u.owner_name, u.owner_phone, u.developer_unsold FROM units u JOIN estates e ON e.id = u.estate_id WHERE u.id = $2 AND {} FOR UPDATE OF u", estate_in_scope(1)),
            &[&rc_scope, &unit],
        )
        .await?;
    Ok(row.map(|r| TransferUnitRow {
        estate_id: r.get(0),
        owner_name: r.get(1),
        owner_phone: r.get(2),
        developer_unsold: r.get(3),
    }))
}

/// Ends the owners'-committee grants of the unit's current holders who hold nothing else in
/// the estate (they are no longer owners there once the unit changes hands).
pub async fn end_oc_grants_of_transferred_unit(
    conn: &TenantConn,
    unit: Uuid,
    estate_id: Uuid,
) -> ApiResult<()> {
    conn.execute(
        &format!(
            "UPDATE oc_members m SET {}, end_reason = 'no_longer_owner'
              WHERE m.estate_id = $2 AND {}
                AND m.owner_id IN (SELECT owner_id FROM unit_holders WHERE unit_id = $1 AND ended_at IS NULL)
                AND NOT EXISTS (SELECT 1 FROM unit_holders h JOIN units u ON u.id = h.unit_id
                                 WHERE h.owner_id = m.owner_id AND u.estate_id = $2 AND h.ended_at IS NULL AND h.unit_id <> $1)",
            END_NOW,
            NOT_ENDED
        ),
        &[&unit, &estate_id],
    )
    .await?;
    Ok(())
}

/// Ends every current holding of the unit (owner and co-owners) as transferred.
pub async fn end_holdings_as_transferred(conn: &TenantConn, unit: Uuid) -> ApiResult<()> {
    conn.execute("UPDATE unit_holders SET ended_at = now(), end_reason = 'transferred' WHERE unit_id = $1 AND ended_at IS NULL", &[&unit]).await?;
    Ok(())
}

/// Marks the unit's pending and approved co-owner applications deleted.
pub async fn delete_open_applications(conn: &TenantConn, unit: Uuid) -> ApiResult<()> {
    conn.execute("UPDATE co_owner_applications SET status = 'deleted' WHERE unit_id = $1 AND status IN ('pending', 'approved')", &[&unit]).await?;
    Ok(())
}

/// Writes the new registered owner on the roll (a sold unit is no longer the developer's).
pub async fn set_registered_owner(
    conn: &TenantConn,
    unit: Uuid,
    owner_name: &str,
    owner_phone: &str,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE units SET owner_name = $2, owner_phone = $3, developer_unsold = false, updated_at = now() WHERE id = $1",
        &[&unit, &owner_name, &owner_phone],
    )
    .await?;
    Ok(())
}

/// A change of owner as it is recorded.
pub struct NewTransfer<'a> {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub old_owner_name: &'a str,
    pub old_owner_phone: &'a str,
    pub new_owner_name: &'a str,
    pub new_owner_phone: &'a str,
    pub id_card_id: Uuid,
    pub deed_id: Uuid,
    pub staff_id: Uuid,
    pub old_developer_unsold: bool,
}

/// Records a change of owner and returns its time. Called under the unit's lock: the sequence
/// number and the clock time are this change's place in the unit's history (the
/// transaction's start time is not).
pub async fn insert_transfer(conn: &TenantConn, t: &NewTransfer<'_>) -> ApiResult<DateTime<Utc>> {
    let row = conn
        .query_one(
            "INSERT INTO unit_transfers (id, unit_id, old_owner_name, old_owner_phone, new_owner_name, new_owner_phone, id_card_id, deed_id, staff_id, old_developer_unsold, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, clock_timestamp()) RETURNING created_at",
            &[
                &t.id,
                &t.unit_id,
                &t.old_owner_name,
                &t.old_owner_phone,
                &t.new_owner_name,
                &t.new_owner_phone,
                &t.id_card_id,
                &t.deed_id,
                &t.staff_id,
                &t.old_developer_unsold,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// Whether `rc_scope` reaches the unit (`false` also when there is no such unit).
pub async fn unit_in_scope(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    unit: Uuid,
) -> ApiResult<bool> {
    Ok(conn
        .query_opt(
            &format!(
                "SELECT 1 FROM units u JOIN estates e ON e.id = u.estate_id WHERE u.id = $2 AND {}",
                estate_in_scope(1)
            ),
            &[&rc_scope, &unit],
        )
        .await?
        .is_some())
}

/// A recorded change of owner.
pub struct TransferRow {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub old_owner_name: String,
    pub new_owner_name: String,
    /// Unmasked: callers mask it before it leaves the service.
    pub new_owner_phone: String,
    pub id_card_id: Uuid,
    pub deed_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// The unit's changes of owner if `rc_scope` reaches it, newest first.
pub async fn transfers_of_unit(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    unit: Uuid,
) -> ApiResult<Vec<TransferRow>> {
    let rows = conn
        .query(
            &format!(
                "SELECT t.id, t.unit_id, t.old_owner_name, t.new_owner_name, t.new_owner_phone, t.id_card_id, t.deed_id, t.created_at
                   FROM unit_transfers t JOIN units u ON u.id = t.unit_id JOIN estates e ON e.id = u.estate_id
                  WHERE t.unit_id = $2 AND {} ORDER BY t.seq DESC",
                estate_in_scope(1)
            ),
            &[&rc_scope, &unit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TransferRow {
            id: r.get(0),
            unit_id: r.get(1),
            old_owner_name: r.get(2),
            new_owner_name: r.get(3),
            new_owner_phone: r.get(4),
            id_card_id: r.get(5),
            deed_id: r.get(6),
            created_at: r.get(7),
        })
        .collect())
}

// Choosing a unit to verify (owners).

/// An estate an owner may pick.
pub struct EstateChoiceRow {
    pub id: Uuid,
    pub name: String,
    pub address: String,
}

/// Every estate of the street office, by name.
pub async fn estate_choices(conn: &TenantConn) -> ApiResult<Vec<EstateChoiceRow>> {
    let rows = conn
        .query("SELECT id, name, address FROM estates ORDER BY name", &[])
        .await?;
    Ok(rows
        .iter()
        .map(|r| EstateChoiceRow {
            id: r.get(0),
            name: r.get(1),
            address: r.get(2),
        })
        .collect())
}

/// A column of the roll whose distinct values an owner picks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollColumn {
    Building,
    Entrance,
}

impl RollColumn {
    /// The column's name: a constant, so it may be written into SQL.
    fn as_sql(self) -> &'static str {
        match self {
            RollColumn::Building => "building",
            RollColumn::Entrance => "entrance",
        }
    }
}

/// The distinct values of `column` on the estate's roll (within `building` when given), in
/// natural order.
pub async fn distinct_values(
    conn: &TenantConn,
    column: RollColumn,
    estate: Uuid,
    building: Option<&str>,
) -> ApiResult<Vec<String>> {
    let column = column.as_sql();
    let rows = conn
        .query(
            &format!(
                "SELECT DISTINCT {column}, length({column}) FROM units WHERE estate_id = $1 AND ($2::text IS NULL OR building = $2)
                  ORDER BY length({column}), {column}"
            ),
            &[&estate, &building],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A room an owner may pick.
pub struct RoomRow {
    pub unit_id: Uuid,
    pub room: String,
}

/// The rooms of one entrance, in natural order.
pub async fn rooms(
    conn: &TenantConn,
    estate: Uuid,
    building: &str,
    entrance: &str,
) -> ApiResult<Vec<RoomRow>> {
    let rows = conn
        .query(
            "SELECT id, room FROM units WHERE estate_id = $1 AND building = $2 AND entrance = $3 ORDER BY length(room), room",
            &[&estate, &building, &entrance],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| RoomRow {
            unit_id: r.get(0),
            room: r.get(1),
        })
        .collect())
}

/// The unit an owner chose, with its registered phone.
pub struct UnitToVerifyRow {
    pub unit_id: Uuid,
    pub estate_name: String,
    pub building: String,
    pub entrance: String,
    pub room: String,
    /// Unmasked: callers mask it before it leaves the service.
    pub owner_phone: String,
    pub already_verified: bool,
}

/// The unit `unit`, or `None` when there is no such unit.
pub async fn unit_to_verify(conn: &TenantConn, unit: Uuid) -> ApiResult<Option<UnitToVerifyRow>> {
    let row = conn
        .query_opt(
            "SELECT u.id, e.name, u.building, u.entrance, u.room, u.owner_phone,
                    EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL)
               FROM units u JOIN estates e ON e.id = u.estate_id WHERE u.id = $1",
            &[&unit],
        )
        .await?;
    Ok(row.map(|r| UnitToVerifyRow {
        unit_id: r.get(0),
        estate_name: r.get(1),
        building: r.get(2),
        entrance: r.get(3),
        room: r.get(4),
        owner_phone: r.get(5),
        already_verified: r.get(6),
    }))
}

/// What verification compares: the roll's owner and phone, the caller's real name, and who
/// has verified the unit already.
pub struct CandidateRow {
    pub roll_owner_name: String,
    pub roll_owner_phone: String,
    pub real_name: String,
    /// The caller is the unit's verified owner already.
    pub mine: bool,
    /// Someone is the unit's verified owner.
    pub taken: bool,
}

/// The unit and the owner side by side, or `None` when there is no such unit.
pub async fn verification_candidate(
    conn: &TenantConn,
    unit: Uuid,
    owner: Uuid,
) -> ApiResult<Option<CandidateRow>> {
    let row = conn
        .query_opt(
            "SELECT u.owner_name, u.owner_phone, o.real_name,
                    EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL AND h.owner_id = o.id),
                    EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL)
               FROM units u, owners o WHERE u.id = $1 AND o.id = $2",
            &[&unit, &owner],
        )
        .await?;
    Ok(row.map(|r| CandidateRow {
        roll_owner_name: r.get(0),
        roll_owner_phone: r.get(1),
        real_name: r.get(2),
        mine: r.get(3),
        taken: r.get(4),
    }))
}

// Holdings (owners).

/// Makes `owner` the unit's verified owner.
pub async fn insert_owner_holding(conn: &TenantConn, unit: Uuid, owner: Uuid) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO unit_holders (id, unit_id, owner_id, role) VALUES ($1, $2, $3, 'owner')",
        &[&Uuid::new_v4(), &unit, &owner],
    )
    .await?;
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

/// A unit the owner holds now, as owner or co-owner.
pub struct PropertyRow {
    pub unit_id: Uuid,
    pub estate_id: Uuid,
    pub estate_name: String,
    pub building: String,
    pub entrance: String,
    pub room: String,
    /// The stored text (`residential`, …).
    pub kind: String,
    pub area_centi: i64,
    /// `owner` or `co_owner`.
    pub role: String,
    pub since: DateTime<Utc>,
}

/// The owner's current holdings (optionally just one unit), in natural order.
pub async fn properties(
    conn: &TenantConn,
    owner: Uuid,
    unit: Option<Uuid>,
) -> ApiResult<Vec<PropertyRow>> {
    let rows = conn
        .query(
            "SELECT u.id, u.estate_id, e.name, u.building, u.entrance, u.room, u.kind, u.area_centi, h.role, h.since
               FROM unit_holders h JOIN units u ON u.id = h.unit_id JOIN estates e ON e.id = u.estate_id
              WHERE h.owner_id = $1 AND h.ended_at IS NULL AND ($2::uuid IS NULL OR u.id = $2)
              ORDER BY e.name, length(u.building), u.building, u.entrance, length(u.room), u.room",
            &[&owner, &unit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| PropertyRow {
            unit_id: r.get(0),
            estate_id: r.get(1),
            estate_name: r.get(2),
            building: r.get(3),
            entrance: r.get(4),
            room: r.get(5),
            kind: r.get(6),
            area_centi: r.get(7),
            role: r.get(8),
            since: r.get(9),
        })
        .collect())
}

/// A holding the owner just ended.
pub struct EndedHoldingRow {
    /// `owner` or `co_owner`.
    pub role: String,
    pub estate_id: Uuid,
}

/// Ends the owner's current holding of the unit as unbound; `None` when there was none.
pub async fn end_holding_as_unbound(
    conn: &TenantConn,
    unit: Uuid,
    owner: Uuid,
) -> ApiResult<Option<EndedHoldingRow>> {
    let row = conn
        .query_opt(
            "UPDATE unit_holders h SET ended_at = now(), end_reason = 'unbound' FROM units u
              WHERE u.id = h.unit_id AND h.unit_id = $1 AND h.owner_id = $2 AND h.ended_at IS NULL
              RETURNING h.role, u.estate_id",
            &[&unit, &owner],
        )
        .await?;
    Ok(row.map(|r| EndedHoldingRow {
        role: r.get(0),
        estate_id: r.get(1),
    }))
}

/// Ends the unit's current co-owner holdings as unbound (their owner unbound the unit).
pub async fn end_co_owner_holdings_as_unbound(conn: &TenantConn, unit: Uuid) -> ApiResult<()> {
    conn.execute(
        "UPDATE unit_holders SET ended_at = now(), end_reason = 'unbound' WHERE unit_id = $1 AND role = 'co_owner' AND ended_at IS NULL",
        &[&unit],
    )
    .await?;
    Ok(())
}

/// Ends the owner's owners'-committee grants in the estate when they hold no unit there any
/// more.
pub async fn end_oc_grants_without_unit(
    conn: &TenantConn,
    estate: Uuid,
    owner: Uuid,
) -> ApiResult<()> {
    conn.execute(
        &format!(
            "UPDATE oc_members m SET {}, end_reason = 'no_longer_owner' WHERE m.estate_id = $1 AND m.owner_id = $2 AND {}
                    AND NOT EXISTS (SELECT 1 FROM unit_holders h JOIN units u ON u.id = h.unit_id WHERE h.owner_id = $2 AND u.estate_id = $1 AND h.ended_at IS NULL)",
            END_NOW,
            NOT_ENDED
        ),
        &[&estate, &owner],
    )
    .await?;
    Ok(())
}

// Co-owner applications.

/// An application with its unit and whether the co-owner is linked, in the order
/// [`application_row`] reads.
const APPLICATION_SELECT: &str = "
    SELECT a.id, a.unit_id, e.name, u.building, u.entrance, u.room, a.name, a.phone, a.proof_ids, a.status, a.reject_reason,
           EXISTS (SELECT 1 FROM unit_holders h JOIN owners o ON o.id = h.owner_id
                    WHERE h.unit_id = a.unit_id AND h.role = 'co_owner' AND h.ended_at IS NULL AND o.phone = a.phone),
           a.created_at
      FROM co_owner_applications a JOIN units u ON u.id = a.unit_id JOIN estates e ON e.id = u.estate_id";

/// A co-owner application as stored, with its unit.
pub struct ApplicationRow {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub estate_name: String,
    pub building: String,
    pub entrance: String,
    pub room: String,
    pub name: String,
    /// Unmasked: callers mask it before it leaves the service.
    pub phone: String,
    pub proof_ids: Vec<Uuid>,
    /// The stored text (`pending`, `approved`, `rejected`, `deleted`).
    pub status: String,
    pub reject_reason: Option<String>,
    /// The co-owner holds an account and is linked to the unit.
    pub linked: bool,
    pub created_at: DateTime<Utc>,
}

/// The one place an application row is read by position (the columns of
/// [`APPLICATION_SELECT`]).
fn application_row(r: &Row) -> ApplicationRow {
    ApplicationRow {
        id: r.get(0),
        unit_id: r.get(1),
        estate_name: r.get(2),
        building: r.get(3),
        entrance: r.get(4),
        room: r.get(5),
        name: r.get(6),
        phone: r.get(7),
        proof_ids: r.get(8),
        status: r.get(9),
        reject_reason: r.get(10),
        linked: r.get(11),
        created_at: r.get(12),
    }
}

/// One application, or `None` when there is no such application.
pub async fn application(conn: &TenantConn, id: Uuid) -> ApiResult<Option<ApplicationRow>> {
    let row = conn
        .query_opt(&format!("{APPLICATION_SELECT} WHERE a.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(application_row))
}

/// The applications `applicant` made, newest first.
pub async fn applications_of(conn: &TenantConn, applicant: Uuid) -> ApiResult<Vec<ApplicationRow>> {
    let rows = conn
        .query(
            &format!("{APPLICATION_SELECT} WHERE a.applicant_id = $1 ORDER BY a.created_at DESC"),
            &[&applicant],
        )
        .await?;
    Ok(rows.iter().map(application_row).collect())
}

/// The review list's filters; each `None` filters nothing.
pub struct ApplicationFilter<'a> {
    /// The jurisdiction (`None`: the whole street office).
    pub rc_scope: Option<Uuid>,
    /// The stored status text.
    pub status: Option<&'a str>,
    pub estate_id: Option<Uuid>,
}

impl ApplicationFilter<'_> {
    /// The filter as `WHERE` over applications `a`, units `u` and estates `e`, binding
    /// [`ApplicationFilter::params`] as `$1`…`$3`.
    fn sql() -> String {
        format!("WHERE {} AND ($2::text IS NULL OR a.status = $2) AND ($3::uuid IS NULL OR u.estate_id = $3)", estate_in_scope(1))
    }

    /// The values [`ApplicationFilter::sql`] binds, in its order.
    fn params(&self) -> [&(dyn ToSql + Sync); 3] {
        [&self.rc_scope, &self.status, &self.estate_id]
    }
}

/// How many applications pass `filter` (the list's total).
pub async fn count_applications(
    conn: &TenantConn,
    filter: &ApplicationFilter<'_>,
) -> ApiResult<i64> {
    Ok(conn
        .query_one(
            &format!("SELECT count(*) FROM co_owner_applications a JOIN units u ON u.id = a.unit_id JOIN estates e ON e.id = u.estate_id {}", ApplicationFilter::sql()),
            &filter.params(),
        )
        .await?
        .get(0))
}

/// One page of the applications passing `filter`, newest first.
pub async fn applications_page(
    conn: &TenantConn,
    filter: &ApplicationFilter<'_>,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<ApplicationRow>> {
    let mut params: Vec<&(dyn ToSql + Sync)> = filter.params().to_vec();
    params.push(&limit);
    params.push(&offset);
    let rows = conn
        .query(
            &format!(
                "{APPLICATION_SELECT} {} ORDER BY a.created_at DESC LIMIT $4 OFFSET $5",
                ApplicationFilter::sql()
            ),
            &params,
        )
        .await?;
    Ok(rows.iter().map(application_row).collect())
}

/// The unit an owner applies for, as its verified owner sees it.
pub struct OwnUnitRow {
    pub estate_id: Uuid,
    /// The estate accepts co-owners.
    pub co_owner_verification: bool,
    /// The verified owner's own phone.
    pub owner_phone: String,
}

/// The unit if `owner` is its verified owner, locked until the transaction ends.
pub async fn lock_own_unit(
    conn: &TenantConn,
    unit: Uuid,
    owner: Uuid,
) -> ApiResult<Option<OwnUnitRow>> {
    let row = conn
        .query_opt(
            "SELECT u.estate_id, e.co_owner_verification, o.phone FROM unit_holders h JOIN units u ON u.id = h.unit_id
               JOIN estates e ON e.id = u.estate_id JOIN owners o ON o.id = h.owner_id
              WHERE h.unit_id = $1 AND h.owner_id = $2 AND h.role = 'owner' AND h.ended_at IS NULL
              FOR UPDATE OF u",
            &[&unit, &owner],
        )
        .await?;
    Ok(row.map(|r| OwnUnitRow {
        estate_id: r.get(0),
        co_owner_verification: r.get(1),
        owner_phone: r.get(2),
    }))
}

/// Whether an application for `phone` on the unit is pending or approved.
pub async fn open_application_exists(
    conn: &TenantConn,
    unit: Uuid,
    phone: &str,
) -> ApiResult<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM co_owner_applications WHERE unit_id = $1 AND phone = $2 AND status IN ('pending', 'approved')",
            &[&unit, &phone],
        )
        .await?
        .is_some())
}

/// An application as the owner files it (the name already trimmed).
pub struct NewApplication<'a> {
    pub name: &'a str,
    pub phone: &'a str,
    pub proof_ids: &'a [Uuid],
}

/// Files the application `id` of `applicant` for the unit, pending review.
pub async fn insert_application(
    conn: &TenantConn,
    id: Uuid,
    unit: Uuid,
    applicant: Uuid,
    a: &NewApplication<'_>,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO co_owner_applications (id, unit_id, applicant_id, name, phone, proof_ids) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&id, &unit, &applicant, &a.name, &a.phone, &a.proof_ids],
    )
    .await?;
    Ok(())
}

/// The unit of the application `id` if `rc_scope` reaches it.
pub async fn application_unit_in_scope(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    id: Uuid,
) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .query_opt(
            &format!(
                "SELECT a.unit_id FROM co_owner_applications a JOIN units u ON u.id = a.unit_id JOIN estates e ON e.id = u.estate_id
                  WHERE a.id = $2 AND {}",
                estate_in_scope(1)
            ),
            &[&rc_scope, &id],
        )
        .await?
        .map(|r| r.get(0)))
}

/// What a review decides on, read under the application's lock.
pub struct ApplicationStateRow {
    pub phone: String,
    /// The stored text (`pending`, …).
    pub status: String,
    pub applicant_id: Uuid,
}

/// The application `id` (which must exist), locked until the transaction ends.
pub async fn lock_application(conn: &TenantConn, id: Uuid) -> ApiResult<ApplicationStateRow> {
    let row = conn.query_one("SELECT phone, status, applicant_id FROM co_owner_applications WHERE id = $1 FOR UPDATE", &[&id]).await?;
    Ok(ApplicationStateRow {
        phone: row.get(0),
        status: row.get(1),
        applicant_id: row.get(2),
    })
}

/// Serialises reviews of a phone with its registration (see the registration trigger) until
/// the transaction ends.
pub async fn lock_co_owner_phone(conn: &TenantConn, phone: &str) -> ApiResult<()> {
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('co-owner:' || $1))",
        &[&phone],
    )
    .await?;
    Ok(())
}

/// Whether `owner` still holds the unit as its verified owner.
pub async fn holds_as_owner(conn: &TenantConn, unit: Uuid, owner: Uuid) -> ApiResult<bool> {
    Ok(conn
        .query_opt("SELECT 1 FROM unit_holders WHERE unit_id = $1 AND owner_id = $2 AND role = 'owner' AND ended_at IS NULL", &[&unit, &owner])
        .await?
        .is_some())
}

/// Marks the application approved by `staff`.
pub async fn mark_approved(conn: &TenantConn, id: Uuid, staff: Option<Uuid>) -> ApiResult<()> {
    conn.execute("UPDATE co_owner_applications SET status = 'approved', reviewed_by = $2, reviewed_at = now() WHERE id = $1", &[&id, &staff]).await?;
    Ok(())
}

/// Links the account with `phone`, if there is one, to the unit as a co-owner, unless it
/// holds the unit already.
pub async fn link_co_owner(conn: &TenantConn, unit: Uuid, phone: &str) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO unit_holders (id, unit_id, owner_id, role)
         SELECT $1, $2, o.id, 'co_owner' FROM owners o
          WHERE o.phone = $3
            AND NOT EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = $2 AND h.owner_id = o.id AND h.ended_at IS NULL)",
        &[&Uuid::new_v4(), &unit, &phone],
    )
    .await?;
    Ok(())
}

/// Marks the application rejected by `staff`, with the reason the owner will see.
pub async fn mark_rejected(
    conn: &TenantConn,
    id: Uuid,
    reason: &str,
    staff: Option<Uuid>,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE co_owner_applications SET status = 'rejected', reject_reason = $2, reviewed_by = $3, reviewed_at = now() WHERE id = $1",
        &[&id, &reason, &staff],
    )
    .await?;
    Ok(())
}

/// Marks the application deleted.
pub async fn mark_deleted(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute(
        "UPDATE co_owner_applications SET status = 'deleted' WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

/// Ends the co-owner holding of the account with `phone` on the unit, as removed.
pub async fn end_co_owner_holding(conn: &TenantConn, unit: Uuid, phone: &str) -> ApiResult<()> {
    conn.execute(
        "UPDATE unit_holders h SET ended_at = now(), end_reason = 'removed' FROM owners o
          WHERE h.owner_id = o.id AND o.phone = $2 AND h.unit_id = $1 AND h.role = 'co_owner' AND h.ended_at IS NULL",
        &[&unit, &phone],
    )
    .await?;
    Ok(())
}

// Proofs.

/// Ties unused `proof` uploads of `uploader` to an estate, all or none (their first use wins):
/// `false` when not every id was bound.
pub async fn bind_proofs(
    conn: &TenantConn,
    estate: Uuid,
    ids: &[Uuid],
    uploader_kind: &str,
    uploader: Uuid,
) -> ApiResult<bool> {
    let mut distinct = ids.to_vec();
    distinct.sort();
    distinct.dedup();
    let bound = conn
        .query(
            "UPDATE attachments SET estate_id = $1
              WHERE id = ANY($2) AND estate_id IS NULL AND purpose = 'proof' AND uploader_kind = $3 AND uploader_id = $4
              RETURNING id",
            &[&estate, &distinct, &uploader_kind, &uploader],
        )
        .await?;
    Ok(bound.len() == ids.len())
}
