//! Every statement on the housing roll's tables: units and their imports, holdings
//! (`unit_holders`), co-owner applications, changes of owner and the proofs they bind.
//! Ordinary reads and writes use diesel's query builder over the typed schema; the roll
//! search, the rows with figures computed in SQL, set-based writes (`INSERT … SELECT`,
//! `UPDATE … FROM`), `FOR UPDATE OF` and advisory locks are `sql_query` with typed binds, their
//! rows read by column name (`QueryableByName`). Rows are read into the row structs here, and
//! nowhere else.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::{
    dsl::{exists, now},
    pg::Pg,
    prelude::*,
    query_builder::{BoxedSqlQuery, SqlQuery},
    sql_query, sql_types as sql,
};
use uuid::Uuid;

use super::sheet::{RollRow, UnitKey};
use crate::{
    authz::jurisdiction::estate_in_scope,
    error::ApiResult,
    estates::store::{END_NOW, NOT_ENDED},
    schema::tenant::{
        attachments, co_owner_applications as applications, estates, housing_imports, owners,
        staff, unit_holders as holders, unit_transfers as transfers, units,
    },
    tenancy::conn::TenantConn,
};

// Small rows shared by the statements below.

/// A count, selected as `count(*) AS n`.
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql::BigInt)]
    n: i64,
}

// For the query builder.

define_sql_function! {
    /// PostgreSQL's `length(text)`: the number of characters (natural order sorts by it first).
    fn length(text: sql::Text) -> sql::Integer;
}

define_sql_function! {
    /// PostgreSQL's `clock_timestamp()`: the time now, not the transaction's start.
    fn clock_timestamp() -> sql::Timestamptz;
}

/// [`estate_in_scope`] for the query builder, on `estates`: `rc_scope` reaches the estate
/// (`None`: the whole street office).
#[diesel::dsl::auto_type]
fn estate_reached(rc_scope: Option<Uuid>) -> _ {
    let scope: diesel::dsl::AsExprOf<Option<Uuid>, sql::Nullable<sql::Uuid>> =
        rc_scope.into_sql::<sql::Nullable<sql::Uuid>>();
    scope.is_null().or(estates::rc_id.nullable().eq(scope))
}

// Locks.

/// Holds the unit's row until the transaction ends, so verifications, reviews and changes of
/// owner of one unit never interleave.
pub async fn lock_unit(conn: &TenantConn, unit: Uuid) -> ApiResult<()> {
    conn.execute(units::table.find(unit).select(units::id).for_update())
        .await?;
    Ok(())
}

/// Holds the estate's row until the transaction ends: one import per estate at a time, so
/// "already imported" stays true until commit.
pub async fn lock_estate(conn: &TenantConn, estate: Uuid) -> ApiResult<()> {
    conn.execute(estates::table.find(estate).select(estates::id).for_update())
        .await?;
    Ok(())
}

// The roll import.

/// The key (building, entrance, room) of every unit already on the roll of `estate_id`.
pub async fn unit_keys(conn: &TenantConn, estate_id: Uuid) -> ApiResult<HashSet<UnitKey>> {
    let keys: Vec<UnitKey> = conn
        .load(units::table.filter(units::estate_id.eq(estate_id)).select((
            units::building,
            units::entrance,
            units::room,
        )))
        .await?;
    Ok(keys.into_iter().collect())
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
    conn.execute(diesel::insert_into(housing_imports::table).values((
        housing_imports::id.eq(import_id),
        housing_imports::estate_id.eq(estate_id),
        housing_imports::file_name.eq(file_name),
        housing_imports::unit_count.eq(unit_count),
        staff_id.map(|staff| housing_imports::staff_id.eq(staff)),
    )))
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
        sql_query(
            "INSERT INTO units (id, estate_id, import_id, building, entrance, room, kind, area_centi, owner_name, owner_phone, developer_unsold, created_at, updated_at)
             SELECT id, $2, $3, b, en, r, k, a, n, p, d, $12, $12
               FROM unnest($1::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::bool[])
                 AS t(id, b, en, r, k, a, n, p, d)",
        )
        .bind::<sql::Array<sql::Uuid>, _>(ids)
        .bind::<sql::Uuid, _>(estate_id)
        .bind::<sql::Uuid, _>(import_id)
        .bind::<sql::Array<sql::Text>, _>(building)
        .bind::<sql::Array<sql::Text>, _>(entrance)
        .bind::<sql::Array<sql::Text>, _>(room)
        .bind::<sql::Array<sql::Text>, _>(kind)
        .bind::<sql::Array<sql::BigInt>, _>(area)
        .bind::<sql::Array<sql::Text>, _>(name)
        .bind::<sql::Array<sql::Text>, _>(phone)
        .bind::<sql::Array<sql::Bool>, _>(unsold)
        .bind::<sql::Timestamptz, _>(conn.now().await?),
    )
    .await?;
    refresh_statistics(conn).await
}

/// A large import changes the tables' shape at once; without fresh statistics the planner
/// takes a new estate for a handful of rows and the roll freeze degrades to nested loops.
pub async fn refresh_statistics(conn: &TenantConn) -> ApiResult<()> {
    conn.execute(sql_query("ANALYZE units, unit_holders"))
        .await?;
    Ok(())
}

// The demo roll (housing::demo).

/// Whether the estate has any unit on its roll yet.
pub async fn estate_has_units(conn: &TenantConn, estate_id: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(exists(
            units::table.filter(units::estate_id.eq(estate_id)),
        )))
        .await?)
}

/// The street office's first street staff member, who is named as the demo import's author.
pub async fn first_street_staff(conn: &TenantConn) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .optional(
            staff::table
                .filter(staff::role.eq("street_staff"))
                .order(staff::created_at)
                .limit(1)
                .select(staff::id),
        )
        .await?)
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
    conn.execute(diesel::insert_into(units::table).values((
        units::id.eq(unit.id),
        units::estate_id.eq(unit.estate_id),
        units::import_id.eq(unit.import_id),
        units::building.eq(unit.building),
        units::entrance.eq(unit.entrance),
        units::room.eq(unit.room),
        units::kind.eq(unit.kind),
        units::area_centi.eq(unit.area_centi),
        units::owner_name.eq(unit.owner_name),
        units::owner_phone.eq(unit.owner_phone),
    )))
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
        diesel::insert_into(owners::table)
            .values((
                owners::id.eq(id),
                owners::real_name.eq(real_name),
                owners::phone.eq(phone),
                owners::password_hash.eq(password_hash),
                owners::agreement_accepted_at.eq(now),
            ))
            .on_conflict(owners::phone)
            .do_nothing(),
    )
    .await?;
    Ok(())
}

/// Makes the account with `phone` (if any) the unit's verified owner.
pub async fn hold_as_owner_by_phone(conn: &TenantConn, unit: Uuid, phone: &str) -> ApiResult<()> {
    conn.execute(
        sql_query(
            "INSERT INTO unit_holders (id, unit_id, owner_id, role, since) SELECT $1, $2, id, 'owner', $4 FROM owners WHERE phone = $3",
        )
        .bind::<sql::Uuid, _>(Uuid::new_v4())
        .bind::<sql::Uuid, _>(unit)
        .bind::<sql::Text, _>(phone)
        .bind::<sql::Timestamptz, _>(conn.now().await?),
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
        sql_query(
            "UPDATE estates SET total_households = $2, total_area_centi = (SELECT sum(area_centi) FROM units WHERE estate_id = $1), updated_at = now() WHERE id = $1",
        )
        .bind::<sql::Uuid, _>(estate_id)
        .bind::<sql::Integer, _>(households),
    )
    .await?;
    Ok(())
}

// Searching the roll (staff).

/// A unit with its estate's name, its verified owner and its co-owner counts, named as the
/// fields of [`UnitRow`].
const UNIT_SELECT: &str = "
    SELECT u.id, u.estate_id, e.name AS estate_name, u.building, u.entrance, u.room, u.kind, u.area_centi, u.owner_name, u.owner_phone,
           u.developer_unsold, o.real_name AS verified_owner_name,
           (SELECT count(*) FROM unit_holders c WHERE c.unit_id = u.id AND c.role = 'co_owner' AND c.ended_at IS NULL) AS co_owner_count,
           (SELECT count(*) FROM co_owner_applications a WHERE a.unit_id = u.id AND a.status = 'pending') AS pending_co_owner_applications
      FROM units u
      JOIN estates e ON e.id = u.estate_id
      LEFT JOIN unit_holders h ON h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL
      LEFT JOIN owners o ON o.id = h.owner_id";

/// Natural order for building/entrance/room numbers: "2" before "10".
const ORDER: &str = "ORDER BY e.name, length(u.building), u.building, length(u.entrance), u.entrance, length(u.room), u.room";

/// A unit of the roll as stored, with its verified owner (if any) and co-owner counts (the
/// columns of [`UNIT_SELECT`]).
#[derive(QueryableByName)]
pub struct UnitRow {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub estate_name: String,
    #[diesel(sql_type = sql::Text)]
    pub building: String,
    #[diesel(sql_type = sql::Text)]
    pub entrance: String,
    #[diesel(sql_type = sql::Text)]
    pub room: String,
    /// The stored text (`residential`, …).
    #[diesel(sql_type = sql::Text)]
    pub kind: String,
    #[diesel(sql_type = sql::BigInt)]
    pub area_centi: i64,
    #[diesel(sql_type = sql::Text)]
    pub owner_name: String,
    /// Unmasked: callers mask it before it leaves the service.
    #[diesel(sql_type = sql::Text)]
    pub owner_phone: String,
    #[diesel(sql_type = sql::Bool)]
    pub developer_unsold: bool,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub verified_owner_name: Option<String>,
    #[diesel(sql_type = sql::BigInt)]
    pub co_owner_count: i64,
    #[diesel(sql_type = sql::BigInt)]
    pub pending_co_owner_applications: i64,
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
    /// A committee the reader chose to narrow to (within the jurisdiction).
    pub committee: Option<Uuid>,
    pub estate_id: Option<Uuid>,
    /// The stored text of the kind (`residential`, …).
    pub kind: Option<&'static str>,
    pub building: Option<String>,
    pub entrance: Option<String>,
    pub room: Option<String>,
    /// A `LIKE` pattern on the registered owner's name, already escaped (`paging::contains`).
    pub owner_name_pattern: Option<String>,
    pub phone: Option<String>,
    /// The registered phone's last four digits.
    pub phone_tail: Option<String>,
    pub verified: Option<bool>,
    pub co_owner: Option<CoOwnerState>,
    pub import_id: Option<Uuid>,
}

impl UnitFilter {
    /// The filter as `WHERE` over `units u`, `estates e` and the owner's holding `h`, binding
    /// [`UnitFilter::bind`] as `$1`…`$12`.
    fn sql(&self) -> String {
        format!(
            "WHERE {} AND ($2::uuid IS NULL OR u.estate_id = $2) AND ($3::text IS NULL OR u.kind = $3)
           AND ($4::text IS NULL OR u.building = $4) AND ($5::text IS NULL OR u.entrance = $5) AND ($6::text IS NULL OR u.room = $6)
           AND ($7::text IS NULL OR u.owner_name LIKE $7) AND ($8::text IS NULL OR u.owner_phone = $8)
           AND ($9::bool IS NULL OR (h.id IS NOT NULL) = $9) AND ($10::uuid IS NULL OR u.import_id = $10)
           AND ($11::uuid IS NULL OR e.rc_id = $11) AND ($12::text IS NULL OR right(u.owner_phone, 4) = $12){}",
            estate_in_scope(1),
            co_owner_clause(self.co_owner)
        )
    }

    /// `query` with the values [`UnitFilter::sql`] binds, in its order.
    fn bind<'a>(
        &'a self,
        query: BoxedSqlQuery<'a, Pg, SqlQuery>,
    ) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
        query
            .bind::<sql::Nullable<sql::Uuid>, _>(self.rc_scope)
            .bind::<sql::Nullable<sql::Uuid>, _>(self.estate_id)
            .bind::<sql::Nullable<sql::Text>, _>(self.kind)
            .bind::<sql::Nullable<sql::Text>, _>(self.building.as_deref())
            .bind::<sql::Nullable<sql::Text>, _>(self.entrance.as_deref())
            .bind::<sql::Nullable<sql::Text>, _>(self.room.as_deref())
            .bind::<sql::Nullable<sql::Text>, _>(self.owner_name_pattern.as_deref())
            .bind::<sql::Nullable<sql::Text>, _>(self.phone.as_deref())
            .bind::<sql::Nullable<sql::Bool>, _>(self.verified)
            .bind::<sql::Nullable<sql::Uuid>, _>(self.import_id)
            .bind::<sql::Nullable<sql::Uuid>, _>(self.committee)
            .bind::<sql::Nullable<sql::Text>, _>(self.phone_tail.as_deref())
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
    let query = sql_query(format!(
        "SELECT count(*) AS n FROM units u JOIN estates e ON e.id = u.estate_id
           LEFT JOIN unit_holders h ON h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL {}",
        filter.sql()
    ))
    .into_boxed();
    Ok(conn.first::<_, Count>(filter.bind(query)).await?.n)
}

/// One page of the units passing `filter`, in natural order ([`ORDER`]).
pub async fn units_page(
    conn: &TenantConn,
    filter: &UnitFilter,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<UnitRow>> {
    let query = sql_query(format!(
        "{UNIT_SELECT} {} {ORDER} LIMIT $13 OFFSET $14",
        filter.sql()
    ))
    .into_boxed();
    Ok(conn
        .load(
            filter
                .bind(query)
                .bind::<sql::BigInt, _>(limit)
                .bind::<sql::BigInt, _>(offset),
        )
        .await?)
}

// Changes of owner (staff).

/// What a change of owner replaces, read under the unit's lock.
#[derive(QueryableByName)]
pub struct TransferUnitRow {
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub owner_name: String,
    #[diesel(sql_type = sql::Text)]
    pub owner_phone: String,
    #[diesel(sql_type = sql::Bool)]
    pub developer_unsold: bool,
}

/// The unit `unit` if `rc_scope` reaches it, locked until the transaction ends.
pub async fn lock_unit_for_transfer(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    unit: Uuid,
) -> ApiResult<Option<TransferUnitRow>> {
    Ok(conn
        .optional(
            sql_query(format!("SELECT u.estate_id, u.owner_name, u.owner_phone, u.developer_unsold FROM units u JOIN estates e ON e.id = u.estate_id WHERE u.id = $2 AND {} FOR UPDATE OF u", estate_in_scope(1)))
                .bind::<sql::Nullable<sql::Uuid>, _>(rc_scope)
                .bind::<sql::Uuid, _>(unit),
        )
        .await?)
}

/// Ends the owners'-committee grants of the unit's current holders who hold nothing else in
/// the estate (they are no longer owners there once the unit changes hands).
pub async fn end_oc_grants_of_transferred_unit(
    conn: &TenantConn,
    unit: Uuid,
    estate_id: Uuid,
) -> ApiResult<()> {
    conn.execute(
        sql_query(format!(
            "UPDATE oc_members m SET {}, end_reason = 'no_longer_owner'
              WHERE m.estate_id = $2 AND {}
                AND m.owner_id IN (SELECT owner_id FROM unit_holders WHERE unit_id = $1 AND ended_at IS NULL)
                AND NOT EXISTS (SELECT 1 FROM unit_holders h JOIN units u ON u.id = h.unit_id
                                 WHERE h.owner_id = m.owner_id AND u.estate_id = $2 AND h.ended_at IS NULL AND h.unit_id <> $1)",
            END_NOW,
            NOT_ENDED
        ))
        .bind::<sql::Uuid, _>(unit)
        .bind::<sql::Uuid, _>(estate_id),
    )
    .await?;
    Ok(())
}

/// Ends every current holding of the unit (owner and co-owners) as transferred.
pub async fn end_holdings_as_transferred(conn: &TenantConn, unit: Uuid) -> ApiResult<()> {
    conn.execute(
        diesel::update(
            holders::table
                .filter(holders::unit_id.eq(unit))
                .filter(holders::ended_at.is_null()),
        )
        .set((
            holders::ended_at.eq(now),
            holders::end_reason.eq("transferred"),
        )),
    )
    .await?;
    Ok(())
}

/// Marks the unit's pending and approved co-owner applications deleted.
pub async fn delete_open_applications(conn: &TenantConn, unit: Uuid) -> ApiResult<()> {
    conn.execute(
        diesel::update(
            applications::table
                .filter(applications::unit_id.eq(unit))
                .filter(applications::status.eq_any(["pending", "approved"])),
        )
        .set(applications::status.eq("deleted")),
    )
    .await?;
    Ok(())
}

/// Writes the new registered owner on the roll (a sold unit is no longer the developer's).
pub async fn set_registered_owner(
    conn: &TenantConn,
    unit: Uuid,
    owner_name: &str,
    owner_phone: &str,
) -> ApiResult<()> {
    conn.execute(diesel::update(units::table.find(unit)).set((
        units::owner_name.eq(owner_name),
        units::owner_phone.eq(owner_phone),
        units::developer_unsold.eq(false),
        units::updated_at.eq(now),
    )))
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
    Ok(conn
        .first(
            diesel::insert_into(transfers::table)
                .values((
                    transfers::id.eq(t.id),
                    transfers::unit_id.eq(t.unit_id),
                    transfers::old_owner_name.eq(t.old_owner_name),
                    transfers::old_owner_phone.eq(t.old_owner_phone),
                    transfers::new_owner_name.eq(t.new_owner_name),
                    transfers::new_owner_phone.eq(t.new_owner_phone),
                    transfers::id_card_id.eq(t.id_card_id),
                    transfers::deed_id.eq(t.deed_id),
                    transfers::staff_id.eq(t.staff_id),
                    transfers::old_developer_unsold.eq(t.old_developer_unsold),
                    transfers::created_at.eq(clock_timestamp()),
                ))
                .returning(transfers::created_at),
        )
        .await?)
}

/// Whether `rc_scope` reaches the unit (`false` also when there is no such unit).
pub async fn unit_in_scope(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    unit: Uuid,
) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(exists(
            units::table
                .inner_join(estates::table)
                .filter(units::id.eq(unit))
                .filter(estate_reached(rc_scope)),
        )))
        .await?)
}

/// A recorded change of owner.
#[derive(Queryable, Selectable)]
#[diesel(table_name = transfers, check_for_backend(diesel::pg::Pg))]
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
    Ok(conn
        .load(
            transfers::table
                .inner_join(units::table.inner_join(estates::table))
                .filter(transfers::unit_id.eq(unit))
                .filter(estate_reached(rc_scope))
                .order(transfers::seq.desc())
                .select(TransferRow::as_select()),
        )
        .await?)
}

// Choosing a unit to verify (owners).

/// An estate an owner may pick.
#[derive(Queryable, Selectable)]
#[diesel(table_name = estates, check_for_backend(diesel::pg::Pg))]
pub struct EstateChoiceRow {
    pub id: Uuid,
    pub name: String,
    pub address: String,
}

/// Every estate of the street office, by name.
pub async fn estate_choices(conn: &TenantConn) -> ApiResult<Vec<EstateChoiceRow>> {
    Ok(conn
        .load(
            estates::table
                .order(estates::name)
                .select(EstateChoiceRow::as_select()),
        )
        .await?)
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

/// One distinct value of a roll column, selected as `value`.
#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = sql::Text)]
    value: String,
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
    let rows: Vec<Value> = conn
        .load(
            sql_query(format!(
                "SELECT DISTINCT {column} AS value, length({column}) FROM units WHERE estate_id = $1 AND ($2::text IS NULL OR building = $2)
                  ORDER BY length({column}), {column}"
            ))
            .bind::<sql::Uuid, _>(estate)
            .bind::<sql::Nullable<sql::Text>, _>(building),
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.value).collect())
}

/// A room an owner may pick.
#[derive(Queryable, Selectable)]
#[diesel(table_name = units, check_for_backend(diesel::pg::Pg))]
pub struct RoomRow {
    #[diesel(column_name = id)]
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
    Ok(conn
        .load(
            units::table
                .filter(units::estate_id.eq(estate))
                .filter(units::building.eq(building))
                .filter(units::entrance.eq(entrance))
                .order((length(units::room), units::room))
                .select(RoomRow::as_select()),
        )
        .await?)
}

/// The unit an owner chose, with its registered phone.
#[derive(QueryableByName)]
pub struct UnitToVerifyRow {
    #[diesel(sql_type = sql::Uuid)]
    pub unit_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub estate_name: String,
    #[diesel(sql_type = sql::Text)]
    pub building: String,
    #[diesel(sql_type = sql::Text)]
    pub entrance: String,
    #[diesel(sql_type = sql::Text)]
    pub room: String,
    /// Unmasked: callers mask it before it leaves the service.
    #[diesel(sql_type = sql::Text)]
    pub owner_phone: String,
    #[diesel(sql_type = sql::Bool)]
    pub already_verified: bool,
}

/// The unit `unit`, or `None` when there is no such unit.
pub async fn unit_to_verify(conn: &TenantConn, unit: Uuid) -> ApiResult<Option<UnitToVerifyRow>> {
    Ok(conn
        .optional(
            sql_query(
                "SELECT u.id AS unit_id, e.name AS estate_name, u.building, u.entrance, u.room, u.owner_phone,
                        EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL) AS already_verified
                   FROM units u JOIN estates e ON e.id = u.estate_id WHERE u.id = $1",
            )
            .bind::<sql::Uuid, _>(unit),
        )
        .await?)
}

/// What verification compares: the roll's owner and phone, the caller's real name, and who
/// has verified the unit already.
#[derive(QueryableByName)]
pub struct CandidateRow {
    #[diesel(sql_type = sql::Text)]
    pub roll_owner_name: String,
    #[diesel(sql_type = sql::Text)]
    pub roll_owner_phone: String,
    #[diesel(sql_type = sql::Text)]
    pub real_name: String,
    /// The caller is the unit's verified owner already.
    #[diesel(sql_type = sql::Bool)]
    pub mine: bool,
    /// Someone is the unit's verified owner.
    #[diesel(sql_type = sql::Bool)]
    pub taken: bool,
}

/// The unit and the owner side by side, or `None` when there is no such unit.
pub async fn verification_candidate(
    conn: &TenantConn,
    unit: Uuid,
    owner: Uuid,
) -> ApiResult<Option<CandidateRow>> {
    Ok(conn
        .optional(
            sql_query(
                "SELECT u.owner_name AS roll_owner_name, u.owner_phone AS roll_owner_phone, o.real_name,
                        EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL AND h.owner_id = o.id) AS mine,
                        EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL) AS taken
                   FROM units u, owners o WHERE u.id = $1 AND o.id = $2",
            )
            .bind::<sql::Uuid, _>(unit)
            .bind::<sql::Uuid, _>(owner),
        )
        .await?)
}

// Holdings (owners).

/// Makes `owner` the unit's verified owner.
pub async fn insert_owner_holding(conn: &TenantConn, unit: Uuid, owner: Uuid) -> ApiResult<()> {
    conn.execute(diesel::insert_into(holders::table).values((
        holders::id.eq(Uuid::new_v4()),
        holders::unit_id.eq(unit),
        holders::owner_id.eq(owner),
        holders::role.eq("owner"),
    )))
    .await?;
    Ok(())
}

/// The owner's verified hold on a unit of the estate (voters, candidates and sign-ups need one).
pub async fn holds_unit(conn: &TenantConn, owner: Uuid, estate: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(exists(
            holders::table
                .inner_join(units::table)
                .filter(holders::owner_id.eq(owner))
                .filter(units::estate_id.eq(estate))
                .filter(holders::ended_at.is_null()),
        )))
        .await?)
}

/// A unit the owner holds now, as owner or co-owner.
#[derive(QueryableByName)]
pub struct PropertyRow {
    #[diesel(sql_type = sql::Uuid)]
    pub unit_id: Uuid,
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub estate_name: String,
    #[diesel(sql_type = sql::Text)]
    pub building: String,
    #[diesel(sql_type = sql::Text)]
    pub entrance: String,
    #[diesel(sql_type = sql::Text)]
    pub room: String,
    /// The stored text (`residential`, …).
    #[diesel(sql_type = sql::Text)]
    pub kind: String,
    #[diesel(sql_type = sql::BigInt)]
    pub area_centi: i64,
    /// `owner` or `co_owner`.
    #[diesel(sql_type = sql::Text)]
    pub role: String,
    #[diesel(sql_type = sql::Timestamptz)]
    pub since: DateTime<Utc>,
}

/// The owner's current holdings (optionally just one unit), in natural order.
pub async fn properties(
    conn: &TenantConn,
    owner: Uuid,
    unit: Option<Uuid>,
) -> ApiResult<Vec<PropertyRow>> {
    Ok(conn
        .load(
            sql_query(
                "SELECT u.id AS unit_id, u.estate_id, e.name AS estate_name, u.building, u.entrance, u.room, u.kind, u.area_centi, h.role, h.since
                   FROM unit_holders h JOIN units u ON u.id = h.unit_id JOIN estates e ON e.id = u.estate_id
                  WHERE h.owner_id = $1 AND h.ended_at IS NULL AND ($2::uuid IS NULL OR u.id = $2)
                  ORDER BY e.name, length(u.building), u.building, u.entrance, length(u.room), u.room",
            )
            .bind::<sql::Uuid, _>(owner)
            .bind::<sql::Nullable<sql::Uuid>, _>(unit),
        )
        .await?)
}

/// A holding the owner just ended.
#[derive(QueryableByName)]
pub struct EndedHoldingRow {
    /// `owner` or `co_owner`.
    #[diesel(sql_type = sql::Text)]
    pub role: String,
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
}

/// Ends the owner's current holding of the unit as unbound; `None` when there was none.
pub async fn end_holding_as_unbound(
    conn: &TenantConn,
    unit: Uuid,
    owner: Uuid,
) -> ApiResult<Option<EndedHoldingRow>> {
    Ok(conn
        .optional(
            sql_query(
                "UPDATE unit_holders h SET ended_at = now(), end_reason = 'unbound' FROM units u
                  WHERE u.id = h.unit_id AND h.unit_id = $1 AND h.owner_id = $2 AND h.ended_at IS NULL
                  RETURNING h.role, u.estate_id",
            )
            .bind::<sql::Uuid, _>(unit)
            .bind::<sql::Uuid, _>(owner),
        )
        .await?)
}

/// Ends the unit's current co-owner holdings as unbound (their owner unbound the unit).
pub async fn end_co_owner_holdings_as_unbound(conn: &TenantConn, unit: Uuid) -> ApiResult<()> {
    conn.execute(
        diesel::update(
            holders::table
                .filter(holders::unit_id.eq(unit))
                .filter(holders::role.eq("co_owner"))
                .filter(holders::ended_at.is_null()),
        )
        .set((holders::ended_at.eq(now), holders::end_reason.eq("unbound"))),
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
        sql_query(format!(
            "UPDATE oc_members m SET {}, end_reason = 'no_longer_owner' WHERE m.estate_id = $1 AND m.owner_id = $2 AND {}
                    AND NOT EXISTS (SELECT 1 FROM unit_holders h JOIN units u ON u.id = h.unit_id WHERE h.owner_id = $2 AND u.estate_id = $1 AND h.ended_at IS NULL)",
            END_NOW,
            NOT_ENDED
        ))
        .bind::<sql::Uuid, _>(estate)
        .bind::<sql::Uuid, _>(owner),
    )
    .await?;
    Ok(())
}

// Co-owner applications.

/// An application with its unit and whether the co-owner is linked, named as the fields of
/// [`ApplicationRow`].
const APPLICATION_SELECT: &str = "
    SELECT a.id, a.unit_id, e.name AS estate_name, u.building, u.entrance, u.room, a.name, a.phone, a.proof_ids, a.status, a.reject_reason,
           EXISTS (SELECT 1 FROM unit_holders h JOIN owners o ON o.id = h.owner_id
                    WHERE h.unit_id = a.unit_id AND h.role = 'co_owner' AND h.ended_at IS NULL AND o.phone = a.phone) AS linked,
           a.created_at
      FROM co_owner_applications a JOIN units u ON u.id = a.unit_id JOIN estates e ON e.id = u.estate_id";

/// A co-owner application as stored, with its unit (the columns of [`APPLICATION_SELECT`]).
#[derive(QueryableByName)]
pub struct ApplicationRow {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::Uuid)]
    pub unit_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub estate_name: String,
    #[diesel(sql_type = sql::Text)]
    pub building: String,
    #[diesel(sql_type = sql::Text)]
    pub entrance: String,
    #[diesel(sql_type = sql::Text)]
    pub room: String,
    #[diesel(sql_type = sql::Text)]
    pub name: String,
    /// Unmasked: callers mask it before it leaves the service.
    #[diesel(sql_type = sql::Text)]
    pub phone: String,
    #[diesel(sql_type = sql::Array<sql::Uuid>)]
    pub proof_ids: Vec<Uuid>,
    /// The stored text (`pending`, `approved`, `rejected`, `deleted`).
    #[diesel(sql_type = sql::Text)]
    pub status: String,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub reject_reason: Option<String>,
    /// The co-owner holds an account and is linked to the unit.
    #[diesel(sql_type = sql::Bool)]
    pub linked: bool,
    #[diesel(sql_type = sql::Timestamptz)]
    pub created_at: DateTime<Utc>,
}

/// One application, or `None` when there is no such application.
pub async fn application(conn: &TenantConn, id: Uuid) -> ApiResult<Option<ApplicationRow>> {
    Ok(conn
        .optional(
            sql_query(format!("{APPLICATION_SELECT} WHERE a.id = $1")).bind::<sql::Uuid, _>(id),
        )
        .await?)
}

/// The applications `applicant` made, newest first.
pub async fn applications_of(conn: &TenantConn, applicant: Uuid) -> ApiResult<Vec<ApplicationRow>> {
    Ok(conn
        .load(
            sql_query(format!(
                "{APPLICATION_SELECT} WHERE a.applicant_id = $1 ORDER BY a.created_at DESC"
            ))
            .bind::<sql::Uuid, _>(applicant),
        )
        .await?)
}

/// The review list's filters; each `None` filters nothing.
pub struct ApplicationFilter<'a> {
    /// The jurisdiction (`None`: the whole street office).
    pub rc_scope: Option<Uuid>,
    /// The stored status text.
    pub status: Option<&'a str>,
    pub estate_id: Option<Uuid>,
    /// A committee the reader chose to narrow to (within the jurisdiction).
    pub committee: Option<Uuid>,
    /// What the reviewer typed: part of the applicant's name, or the whole phone or room.
    pub q: Option<&'a str>,
    /// `q` as an escaped `LIKE` pattern.
    pub q_pattern: Option<&'a str>,
}

impl<'a> ApplicationFilter<'a> {
    /// The filter as `WHERE` over applications `a`, units `u` and estates `e`, binding
    /// [`ApplicationFilter::bind`] as `$1`…`$6`.
    fn sql() -> String {
        format!(
            "WHERE {} AND ($2::text IS NULL OR a.status = $2) AND ($3::uuid IS NULL OR u.estate_id = $3)
               AND ($4::uuid IS NULL OR e.rc_id = $4)
               AND ($6::text IS NULL OR a.name LIKE $5 OR a.phone = $6 OR u.room = $6)",
            estate_in_scope(1)
        )
    }

    /// `query` with the values [`ApplicationFilter::sql`] binds, in its order.
    fn bind(&self, query: BoxedSqlQuery<'a, Pg, SqlQuery>) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
        query
            .bind::<sql::Nullable<sql::Uuid>, _>(self.rc_scope)
            .bind::<sql::Nullable<sql::Text>, _>(self.status)
            .bind::<sql::Nullable<sql::Uuid>, _>(self.estate_id)
            .bind::<sql::Nullable<sql::Uuid>, _>(self.committee)
            .bind::<sql::Nullable<sql::Text>, _>(self.q_pattern)
            .bind::<sql::Nullable<sql::Text>, _>(self.q)
    }
}

/// How many applications pass `filter` (the list's total).
pub async fn count_applications(
    conn: &TenantConn,
    filter: &ApplicationFilter<'_>,
) -> ApiResult<i64> {
    let query = sql_query(format!("SELECT count(*) AS n FROM co_owner_applications a JOIN units u ON u.id = a.unit_id JOIN estates e ON e.id = u.estate_id {}", ApplicationFilter::sql()))
        .into_boxed();
    Ok(conn.first::<_, Count>(filter.bind(query)).await?.n)
}

/// One page of the applications passing `filter`, newest first.
pub async fn applications_page(
    conn: &TenantConn,
    filter: &ApplicationFilter<'_>,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<ApplicationRow>> {
    let query = sql_query(format!(
        "{APPLICATION_SELECT} {} ORDER BY a.created_at DESC, a.id LIMIT $7 OFFSET $8",
        ApplicationFilter::sql()
    ))
    .into_boxed();
    Ok(conn
        .load(
            filter
                .bind(query)
                .bind::<sql::BigInt, _>(limit)
                .bind::<sql::BigInt, _>(offset),
        )
        .await?)
}

/// The unit an owner applies for, as its verified owner sees it.
#[derive(QueryableByName)]
pub struct OwnUnitRow {
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    /// The estate accepts co-owners.
    #[diesel(sql_type = sql::Bool)]
    pub co_owner_verification: bool,
    /// The verified owner's own phone.
    #[diesel(sql_type = sql::Text)]
    pub owner_phone: String,
}

/// The unit if `owner` is its verified owner, locked until the transaction ends.
pub async fn lock_own_unit(
    conn: &TenantConn,
    unit: Uuid,
    owner: Uuid,
) -> ApiResult<Option<OwnUnitRow>> {
    Ok(conn
        .optional(
            sql_query(
                "SELECT u.estate_id, e.co_owner_verification, o.phone AS owner_phone FROM unit_holders h JOIN units u ON u.id = h.unit_id
                   JOIN estates e ON e.id = u.estate_id JOIN owners o ON o.id = h.owner_id
                  WHERE h.unit_id = $1 AND h.owner_id = $2 AND h.role = 'owner' AND h.ended_at IS NULL
                  FOR UPDATE OF u",
            )
            .bind::<sql::Uuid, _>(unit)
            .bind::<sql::Uuid, _>(owner),
        )
        .await?)
}

/// Whether an application for `phone` on the unit is pending or approved.
pub async fn open_application_exists(
    conn: &TenantConn,
    unit: Uuid,
    phone: &str,
) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(exists(
            applications::table
                .filter(applications::unit_id.eq(unit))
                .filter(applications::phone.eq(phone))
                .filter(applications::status.eq_any(["pending", "approved"])),
        )))
        .await?)
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
    conn.execute(diesel::insert_into(applications::table).values((
        applications::id.eq(id),
        applications::unit_id.eq(unit),
        applications::applicant_id.eq(applicant),
        applications::name.eq(a.name),
        applications::phone.eq(a.phone),
        applications::proof_ids.eq(a.proof_ids),
    )))
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
        .optional(
            applications::table
                .inner_join(units::table.inner_join(estates::table))
                .filter(applications::id.eq(id))
                .filter(estate_reached(rc_scope))
                .select(applications::unit_id),
        )
        .await?)
}

/// What a review decides on, read under the application's lock.
#[derive(Queryable, Selectable)]
#[diesel(table_name = applications, check_for_backend(diesel::pg::Pg))]
pub struct ApplicationStateRow {
    pub phone: String,
    /// The stored text (`pending`, …).
    pub status: String,
    pub applicant_id: Uuid,
}

/// The application `id` (which must exist), locked until the transaction ends.
pub async fn lock_application(conn: &TenantConn, id: Uuid) -> ApiResult<ApplicationStateRow> {
    Ok(conn
        .first(
            applications::table
                .find(id)
                .for_update()
                .select(ApplicationStateRow::as_select()),
        )
        .await?)
}

/// Serialises reviews of a phone with its registration (which links approved co-owners) until
/// the transaction ends.
pub async fn lock_co_owner_phone(conn: &TenantConn, phone: &str) -> ApiResult<()> {
    conn.execute(
        sql_query("SELECT pg_advisory_xact_lock(hashtext('co-owner:' || $1))")
            .bind::<sql::Text, _>(phone),
    )
    .await?;
    Ok(())
}

/// Whether `owner` still holds the unit as its verified owner.
pub async fn holds_as_owner(conn: &TenantConn, unit: Uuid, owner: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(exists(
            holders::table
                .filter(holders::unit_id.eq(unit))
                .filter(holders::owner_id.eq(owner))
                .filter(holders::role.eq("owner"))
                .filter(holders::ended_at.is_null()),
        )))
        .await?)
}

/// Marks the application approved by `staff`.
pub async fn mark_approved(conn: &TenantConn, id: Uuid, staff: Option<Uuid>) -> ApiResult<()> {
    conn.execute(diesel::update(applications::table.find(id)).set((
        applications::status.eq("approved"),
        applications::reviewed_by.eq(staff),
        applications::reviewed_at.eq(now),
    )))
    .await?;
    Ok(())
}

/// The units whose co-owner applications for `phone` staff approved.
pub async fn units_approved_for_phone(conn: &TenantConn, phone: &str) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load(
            applications::table
                .filter(applications::phone.eq(phone))
                .filter(applications::status.eq("approved"))
                .select(applications::unit_id)
                .distinct(),
        )
        .await?)
}

/// Links the account with `phone`, if there is one, to the unit as a co-owner, unless it
/// holds the unit already.
pub async fn link_co_owner(conn: &TenantConn, unit: Uuid, phone: &str) -> ApiResult<()> {
    conn.execute(
        sql_query(
            "INSERT INTO unit_holders (id, unit_id, owner_id, role, since)
             SELECT $1, $2, o.id, 'co_owner', $4 FROM owners o
              WHERE o.phone = $3
                AND NOT EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = $2 AND h.owner_id = o.id AND h.ended_at IS NULL)",
        )
        .bind::<sql::Uuid, _>(Uuid::new_v4())
        .bind::<sql::Uuid, _>(unit)
        .bind::<sql::Text, _>(phone)
        .bind::<sql::Timestamptz, _>(conn.now().await?),
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
    conn.execute(diesel::update(applications::table.find(id)).set((
        applications::status.eq("rejected"),
        applications::reject_reason.eq(reason),
        applications::reviewed_by.eq(staff),
        applications::reviewed_at.eq(now),
    )))
    .await?;
    Ok(())
}

/// Marks the application deleted.
pub async fn mark_deleted(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute(
        diesel::update(applications::table.find(id)).set(applications::status.eq("deleted")),
    )
    .await?;
    Ok(())
}

/// Ends the co-owner holding of the account with `phone` on the unit, as removed.
pub async fn end_co_owner_holding(conn: &TenantConn, unit: Uuid, phone: &str) -> ApiResult<()> {
    conn.execute(
        sql_query(
            "UPDATE unit_holders h SET ended_at = now(), end_reason = 'removed' FROM owners o
              WHERE h.owner_id = o.id AND o.phone = $2 AND h.unit_id = $1 AND h.role = 'co_owner' AND h.ended_at IS NULL",
        )
        .bind::<sql::Uuid, _>(unit)
        .bind::<sql::Text, _>(phone),
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
    let bound: Vec<Uuid> = conn
        .load(
            diesel::update(
                attachments::table
                    .filter(attachments::id.eq_any(distinct))
                    .filter(attachments::estate_id.is_null())
                    .filter(attachments::purpose.eq("proof"))
                    .filter(attachments::uploader_kind.eq(uploader_kind))
                    .filter(attachments::uploader_id.eq(uploader)),
            )
            .set(attachments::estate_id.eq(estate))
            .returning(attachments::id),
        )
        .await?;
    Ok(bound.len() == ids.len())
}
