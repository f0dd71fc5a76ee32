//! Every statement on the estates domain's tables: residents' committees, estates (with the
//! figures computed from the roll) and owners'-committee grants. Ordinary reads and writes use
//! diesel's query builder over the typed schema; the statements with figures computed in SQL,
//! the shared owners'-committee conditions ([`SERVING`], [`NOT_ENDED`], [`END_NOW`]) and the
//! advisory lock are `sql_query` with typed binds, their rows read by column name
//! (`QueryableByName`). Rows are read into the row structs here, and nowhere else.

use chrono::{DateTime, Utc};
use diesel::{
    dsl::{exists, now},
    pg::Pg,
    prelude::*,
    query_builder::{BoxedSqlQuery, SqlQuery},
    sql_query, sql_types as sql,
    upsert::excluded,
};
use uuid::Uuid;

use crate::{
    authz::jurisdiction::estate_in_scope,
    error::ApiResult,
    schema::tenant::{estates, oc_members, owners, residents_committees as rcs},
    tenancy::conn::TenantConn,
};

// Small rows shared by the statements below.

/// A count, selected as `count(*) AS n`.
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql::BigInt)]
    n: i64,
}

/// Whether a statement found a row, selected as `SELECT EXISTS (...) AS found`.
#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = sql::Bool)]
    found: bool,
}

// Residents' committees.

/// A committee with the number of its estates, named as the fields of [`RcRow`].
const RC_SELECT: &str = "SELECT rc.id, rc.name, (SELECT count(*) FROM estates e WHERE e.rc_id = rc.id) AS estate_count, rc.contact, rc.phone, rc.address
                        FROM residents_committees rc";

/// A residents' committee as stored, with the number of its estates (the columns of
/// [`RC_SELECT`]).
#[derive(QueryableByName)]
pub struct RcRow {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub name: String,
    #[diesel(sql_type = sql::BigInt)]
    pub estate_count: i64,
    #[diesel(sql_type = sql::Text)]
    pub contact: String,
    #[diesel(sql_type = sql::Text)]
    pub phone: String,
    #[diesel(sql_type = sql::Text)]
    pub address: String,
}

/// What staff write about a committee, already trimmed by the caller.
pub struct RcFields<'a> {
    pub name: &'a str,
    pub contact: &'a str,
    pub phone: &'a str,
    pub address: &'a str,
}

/// The committees `rc_scope` reaches (`None`: all of the street office), by name.
pub async fn rcs_in_scope(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    name_pattern: Option<&str>,
) -> ApiResult<Vec<RcRow>> {
    Ok(conn
        .load(
            sql_query(format!(
                "{RC_SELECT} WHERE ($1::uuid IS NULL OR rc.id = $1) AND ($2::text IS NULL OR rc.name LIKE $2)
                 ORDER BY rc.name"
            ))
            .bind::<sql::Nullable<sql::Uuid>, _>(rc_scope)
            .bind::<sql::Nullable<sql::Text>, _>(name_pattern),
        )
        .await?)
}

/// One committee, or `None` when there is no such committee.
pub async fn rc(conn: &TenantConn, id: Uuid) -> ApiResult<Option<RcRow>> {
    Ok(conn
        .optional(sql_query(format!("{RC_SELECT} WHERE rc.id = $1")).bind::<sql::Uuid, _>(id))
        .await?)
}

/// Whether the committee `id` exists (an estate must name an existing one).
pub async fn rc_exists(conn: &TenantConn, id: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(exists(rcs::table.find(id))))
        .await?)
}

/// Creates the committee `id`.
pub async fn insert_rc(conn: &TenantConn, id: Uuid, rc: &RcFields<'_>) -> ApiResult<()> {
    conn.execute(diesel::insert_into(rcs::table).values((
        rcs::id.eq(id),
        rcs::name.eq(rc.name),
        rcs::contact.eq(rc.contact),
        rcs::phone.eq(rc.phone),
        rcs::address.eq(rc.address),
    )))
    .await?;
    Ok(())
}

/// Rewrites the committee `id`; `false` when there is no such committee.
pub async fn update_rc(conn: &TenantConn, id: Uuid, rc: &RcFields<'_>) -> ApiResult<bool> {
    let n = conn
        .execute(diesel::update(rcs::table.find(id)).set((
            rcs::name.eq(rc.name),
            rcs::contact.eq(rc.contact),
            rcs::phone.eq(rc.phone),
            rcs::address.eq(rc.address),
        )))
        .await?;
    Ok(n > 0)
}

// Estates.

/// Homes and shops with a verified owner (parking and storage are not households).
const VERIFIED_HOUSEHOLDS: &str = "(SELECT count(*) FROM units u JOIN unit_holders h ON h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL
     WHERE u.estate_id = e.id AND u.kind IN ('residential', 'commercial'))";

/// Their area, with parking and storage where the estate counts them.
const VERIFIED_AREA: &str = "(SELECT coalesce(sum(u.area_centi), 0)::bigint FROM units u
      JOIN unit_holders h ON h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL
     WHERE u.estate_id = e.id
       AND (u.kind IN ('residential', 'commercial') OR (u.kind = 'parking' AND e.parking_counts) OR (u.kind = 'storage' AND e.storage_counts)))";

/// An estate with its committee's name, the figures computed from the roll and the names of
/// its serving owners'-committee members, named as the fields of [`EstateRow`].
fn estate_select() -> String {
    format!(
        "SELECT e.id, e.rc_id, rc.name AS rc_name, e.name, e.address, e.phone, e.total_households, e.total_area_centi,
                e.has_owners_committee, e.co_owner_verification, e.deliberation_needs_approval,
                e.parking_counts, e.storage_counts, e.locality_rule,
                (SELECT count(*) FROM units u WHERE u.estate_id = e.id) AS unit_count, {VERIFIED_HOUSEHOLDS} AS verified_households,
                {VERIFIED_AREA} AS verified_area_centi,
                ARRAY(SELECT o.real_name FROM oc_members m JOIN owners o ON o.id = m.owner_id
                       WHERE m.estate_id = e.id AND {SERVING} ORDER BY m.granted_at, m.id) AS committee_members
           FROM estates e JOIN residents_committees rc ON rc.id = e.rc_id"
    )
}

/// An estate as stored, with its computed figures (areas in hundredths of m²): the columns of
/// [`estate_select`].
#[derive(QueryableByName)]
pub struct EstateRow {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::Uuid)]
    pub rc_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub rc_name: String,
    #[diesel(sql_type = sql::Text)]
    pub name: String,
    #[diesel(sql_type = sql::Text)]
    pub address: String,
    #[diesel(sql_type = sql::Text)]
    pub phone: String,
    #[diesel(sql_type = sql::Integer)]
    pub total_households: i32,
    #[diesel(sql_type = sql::BigInt)]
    pub total_area_centi: i64,
    #[diesel(sql_type = sql::Bool)]
    pub has_owners_committee: bool,
    #[diesel(sql_type = sql::Bool)]
    pub co_owner_verification: bool,
    #[diesel(sql_type = sql::Bool)]
    pub deliberation_needs_approval: bool,
    #[diesel(sql_type = sql::Bool)]
    pub parking_counts: bool,
    #[diesel(sql_type = sql::Bool)]
    pub storage_counts: bool,
    /// The stored text (`national`, `beijing`, …).
    #[diesel(sql_type = sql::Text)]
    pub locality_rule: String,
    #[diesel(sql_type = sql::BigInt)]
    pub unit_count: i64,
    #[diesel(sql_type = sql::BigInt)]
    pub verified_households: i64,
    #[diesel(sql_type = sql::BigInt)]
    pub verified_area_centi: i64,
    #[diesel(sql_type = sql::Array<sql::Text>)]
    pub committee_members: Vec<String>,
}

/// The estate `id` if `rc_scope` reaches it (`None`: the whole street office).
pub async fn estate(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    id: Uuid,
) -> ApiResult<Option<EstateRow>> {
    Ok(conn
        .optional(
            sql_query(format!(
                "{} WHERE e.id = $2 AND {}",
                estate_select(),
                estate_in_scope(1)
            ))
            .bind::<sql::Nullable<sql::Uuid>, _>(rc_scope)
            .bind::<sql::Uuid, _>(id),
        )
        .await?)
}

/// The list's filters; each `None` filters nothing.
pub struct EstateFilter {
    /// The jurisdiction (`None`: the whole street office).
    pub rc_scope: Option<Uuid>,
    /// A `LIKE` pattern on the name, already escaped (`paging::contains`).
    pub name_pattern: Option<String>,
    pub phone: Option<String>,
    pub has_owners_committee: Option<bool>,
    pub rc_id: Option<Uuid>,
    pub min_verified_households: Option<i64>,
    pub min_verified_area_centi: Option<i64>,
}

impl EstateFilter {
    /// The filter as `WHERE` over `estates e`, binding [`EstateFilter::bind`] as `$1`…`$7`.
    fn sql() -> String {
        format!(
            "WHERE {} AND ($2::text IS NULL OR e.name LIKE $2) AND ($3::text IS NULL OR e.phone = $3)
               AND ($4::bool IS NULL OR e.has_owners_committee = $4) AND ($5::uuid IS NULL OR e.rc_id = $5)
               AND ($6::bigint IS NULL OR {VERIFIED_HOUSEHOLDS} >= $6) AND ($7::bigint IS NULL OR {VERIFIED_AREA} >= $7)",
            estate_in_scope(1)
        )
    }

    /// `query` with the values [`EstateFilter::sql`] binds, in its order.
    fn bind<'a>(
        &'a self,
        query: BoxedSqlQuery<'a, Pg, SqlQuery>,
    ) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
        query
            .bind::<sql::Nullable<sql::Uuid>, _>(self.rc_scope)
            .bind::<sql::Nullable<sql::Text>, _>(self.name_pattern.as_deref())
            .bind::<sql::Nullable<sql::Text>, _>(self.phone.as_deref())
            .bind::<sql::Nullable<sql::Bool>, _>(self.has_owners_committee)
            .bind::<sql::Nullable<sql::Uuid>, _>(self.rc_id)
            .bind::<sql::Nullable<sql::BigInt>, _>(self.min_verified_households)
            .bind::<sql::Nullable<sql::BigInt>, _>(self.min_verified_area_centi)
    }
}

/// How many estates pass `filter` (the list's total).
pub async fn count_estates(conn: &TenantConn, filter: &EstateFilter) -> ApiResult<i64> {
    let query = sql_query(format!(
        "SELECT count(*) AS n FROM estates e {}",
        EstateFilter::sql()
    ))
    .into_boxed();
    Ok(conn.first::<_, Count>(filter.bind(query)).await?.n)
}

/// One page of the estates passing `filter`, by committee name and then estate name.
pub async fn estates_page(
    conn: &TenantConn,
    filter: &EstateFilter,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<EstateRow>> {
    let query = sql_query(format!(
        "{} {} ORDER BY rc.name, e.name LIMIT $8 OFFSET $9",
        estate_select(),
        EstateFilter::sql()
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

/// What staff write about an estate, already trimmed by the caller.
pub struct EstateFields<'a> {
    pub rc_id: Uuid,
    pub name: &'a str,
    pub address: &'a str,
    pub phone: &'a str,
    pub total_households: i32,
    pub total_area_centi: i64,
    pub has_owners_committee: bool,
    pub co_owner_verification: bool,
    pub deliberation_needs_approval: bool,
    pub parking_counts: bool,
    pub storage_counts: bool,
    /// The stored text (`national`, `beijing`, …).
    pub locality_rule: &'a str,
}

/// Creates the estate `id`, or rewrites every field of it: create and edit share one statement.
pub async fn upsert_estate(
    conn: &TenantConn,
    id: Uuid,
    estate: &EstateFields<'_>,
) -> ApiResult<()> {
    conn.execute(
        diesel::insert_into(estates::table)
            .values((
                estates::id.eq(id),
                estates::rc_id.eq(estate.rc_id),
                estates::name.eq(estate.name),
                estates::address.eq(estate.address),
                estates::phone.eq(estate.phone),
                estates::total_households.eq(estate.total_households),
                estates::total_area_centi.eq(estate.total_area_centi),
                estates::has_owners_committee.eq(estate.has_owners_committee),
                estates::co_owner_verification.eq(estate.co_owner_verification),
                estates::deliberation_needs_approval.eq(estate.deliberation_needs_approval),
                estates::parking_counts.eq(estate.parking_counts),
                estates::storage_counts.eq(estate.storage_counts),
                estates::locality_rule.eq(estate.locality_rule),
                estates::updated_at.eq(now),
            ))
            .on_conflict(estates::id)
            .do_update()
            .set((
                estates::rc_id.eq(excluded(estates::rc_id)),
                estates::name.eq(excluded(estates::name)),
                estates::address.eq(excluded(estates::address)),
                estates::phone.eq(excluded(estates::phone)),
                estates::total_households.eq(excluded(estates::total_households)),
                estates::total_area_centi.eq(excluded(estates::total_area_centi)),
                estates::has_owners_committee.eq(excluded(estates::has_owners_committee)),
                estates::co_owner_verification.eq(excluded(estates::co_owner_verification)),
                estates::deliberation_needs_approval
                    .eq(excluded(estates::deliberation_needs_approval)),
                estates::parking_counts.eq(excluded(estates::parking_counts)),
                estates::storage_counts.eq(excluded(estates::storage_counts)),
                estates::locality_rule.eq(excluded(estates::locality_rule)),
                // The proposed row's time: Citus refuses now() itself in an upsert's SET.
                estates::updated_at.eq(excluded(estates::updated_at)),
            )),
    )
    .await?;
    Ok(())
}

// Owners'-committee grants (oc_members).

/// Serving members: granted (a new term's grants may start on its first day) and not yet ended.
pub const SERVING: &str = "granted_at <= now() AND (revoked_at IS NULL OR revoked_at > now())";

/// Grants not yet over: serving now, or starting with a term that has not begun.
pub const NOT_ENDED: &str = "(revoked_at IS NULL OR revoked_at > now())";

/// Ends a grant now (a grant that has not started ends at its start, so it never served).
pub const END_NOW: &str = "revoked_at = GREATEST(now(), granted_at)";

/// A grant with its owner's name and phone, named as the fields of [`OcMemberRow`].
const OC_SELECT: &str =
    "SELECT m.owner_id, o.real_name, o.phone, m.granted_at, m.revoked_at, m.term_id, m.end_reason FROM oc_members m JOIN owners o ON o.id = m.owner_id";

/// One grant of the owners'-committee role, with the owner's name and (unmasked) phone (the
/// columns of [`OC_SELECT`]).
#[derive(QueryableByName)]
pub struct OcMemberRow {
    #[diesel(sql_type = sql::Uuid)]
    pub owner_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub real_name: String,
    /// Unmasked: callers mask it before it leaves the service.
    #[diesel(sql_type = sql::Text)]
    pub phone: String,
    #[diesel(sql_type = sql::Timestamptz)]
    pub granted_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Nullable<sql::Timestamptz>)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub term_id: Option<Uuid>,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub end_reason: Option<String>,
}

/// Whether `owner` serves on `estate`'s owners' committee now.
pub async fn serving_member(conn: &TenantConn, estate: Uuid, owner: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first::<_, Found>(
            sql_query(format!(
                "SELECT EXISTS (SELECT 1 FROM oc_members WHERE estate_id = $1 AND owner_id = $2 AND {SERVING}) AS found"
            ))
            .bind::<sql::Uuid, _>(estate)
            .bind::<sql::Uuid, _>(owner),
        )
        .await?
        .found)
}

/// The estate's serving members, or with `history` every grant ever made; oldest first.
pub async fn oc_members(
    conn: &TenantConn,
    estate: Uuid,
    history: bool,
) -> ApiResult<Vec<OcMemberRow>> {
    let which = if history { "true" } else { SERVING };
    Ok(conn
        .load(
            sql_query(format!(
                "{OC_SELECT} WHERE m.estate_id = $1 AND {which} ORDER BY m.granted_at, m.id"
            ))
            .bind::<sql::Uuid, _>(estate),
        )
        .await?)
}

/// Serialises marks of one person on one estate until the transaction ends, so two concurrent
/// grants cannot both pass the "not yet a member" check.
pub async fn lock_oc_owner(conn: &TenantConn, estate: Uuid, owner: Uuid) -> ApiResult<()> {
    conn.execute(
        sql_query(
            "SELECT pg_advisory_xact_lock(hashtext('oc:' || $1::uuid::text || ':' || $2::uuid::text))",
        )
        .bind::<sql::Uuid, _>(estate)
        .bind::<sql::Uuid, _>(owner),
    )
    .await?;
    Ok(())
}

/// Records a grant marked by staff (`granted_by`): open-ended, tied to no term.
pub async fn insert_oc_grant(
    conn: &TenantConn,
    estate: Uuid,
    owner: Uuid,
    granted_by: Option<Uuid>,
) -> ApiResult<()> {
    conn.execute(diesel::insert_into(oc_members::table).values((
        oc_members::id.eq(Uuid::new_v4()),
        oc_members::estate_id.eq(estate),
        oc_members::owner_id.eq(owner),
        granted_by.map(|staff| oc_members::granted_by.eq(staff)),
    )))
    .await?;
    Ok(())
}

/// The owner's open grant marked by staff (the one [`insert_oc_grant`] just made).
pub async fn open_staff_grant(
    conn: &TenantConn,
    estate: Uuid,
    owner: Uuid,
) -> ApiResult<OcMemberRow> {
    let (owner_id, real_name, phone, granted_at, revoked_at, term_id, end_reason) = conn
        .first(
            oc_members::table
                .inner_join(owners::table)
                .filter(oc_members::estate_id.eq(estate))
                .filter(oc_members::owner_id.eq(owner))
                .filter(oc_members::revoked_at.is_null())
                .filter(oc_members::term_id.is_null())
                .select((
                    oc_members::owner_id,
                    owners::real_name,
                    owners::phone,
                    oc_members::granted_at,
                    oc_members::revoked_at,
                    oc_members::term_id,
                    oc_members::end_reason,
                )),
        )
        .await?;
    Ok(OcMemberRow {
        owner_id,
        real_name,
        phone,
        granted_at,
        revoked_at,
        term_id,
        end_reason,
    })
}

/// Ends every grant of the owner not yet over (staff's or a term's), now, keeping the rows as
/// history; `false` when there was none.
pub async fn end_oc_grants(
    conn: &TenantConn,
    estate: Uuid,
    owner: Uuid,
    revoked_by: Option<Uuid>,
) -> ApiResult<bool> {
    let n = conn
        .execute(
            sql_query(format!("UPDATE oc_members SET {END_NOW}, revoked_by = $3, end_reason = 'removed' WHERE estate_id = $1 AND owner_id = $2 AND {NOT_ENDED}"))
                .bind::<sql::Uuid, _>(estate)
                .bind::<sql::Uuid, _>(owner)
                .bind::<sql::Nullable<sql::Uuid>, _>(revoked_by),
        )
        .await?;
    Ok(n > 0)
}
