//! Every statement on the estates domain's tables: residents' committees, estates (with the
//! figures computed from the roll) and owners'-committee grants. Rows are read by position here
//! and nowhere else, one mapping function per row type, so the move to diesel touches one file.

use chrono::{DateTime, Utc};
use tokio_postgres::{types::ToSql, Row};
use uuid::Uuid;

use crate::{authz::jurisdiction::estate_in_scope, error::ApiResult, tenancy::conn::TenantConn};

// Residents' committees.

/// A committee with the number of its estates, in the order [`rc_row`] reads.
const RC_SELECT: &str = "SELECT rc.id, rc.name, (SELECT count(*) FROM estates e WHERE e.rc_id = rc.id), rc.contact, rc.phone, rc.address
                        FROM residents_committees rc";

/// A residents' committee as stored, with the number of its estates.
pub struct RcRow {
    pub id: Uuid,
    pub name: String,
    pub estate_count: i64,
    pub contact: String,
    pub phone: String,
    pub address: String,
}

/// The one place a committee row is read by position (the columns of [`RC_SELECT`]).
fn rc_row(r: &Row) -> RcRow {
    RcRow {
        id: r.get(0),
        name: r.get(1),
        estate_count: r.get(2),
        contact: r.get(3),
        phone: r.get(4),
        address: r.get(5),
    }
}

/// What staff write about a committee, already trimmed by the caller.
pub struct RcFields<'a> {
    pub name: &'a str,
    pub contact: &'a str,
    pub phone: &'a str,
    pub address: &'a str,
}

/// The committees `rc_scope` reaches (`None`: all of the street office), by name.
pub async fn rcs_in_scope(conn: &TenantConn, rc_scope: Option<Uuid>) -> ApiResult<Vec<RcRow>> {
    let rows = conn
        .query(
            &format!("{RC_SELECT} WHERE $1::uuid IS NULL OR rc.id = $1 ORDER BY rc.name"),
            &[&rc_scope],
        )
        .await?;
    Ok(rows.iter().map(rc_row).collect())
}

/// One committee, or `None` when there is no such committee.
pub async fn rc(conn: &TenantConn, id: Uuid) -> ApiResult<Option<RcRow>> {
    let row = conn
        .query_opt(&format!("{RC_SELECT} WHERE rc.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(rc_row))
}

/// Whether the committee `id` exists (an estate must name an existing one).
pub async fn rc_exists(conn: &TenantConn, id: Uuid) -> ApiResult<bool> {
    Ok(conn
        .query_opt("SELECT 1 FROM residents_committees WHERE id = $1", &[&id])
        .await?
        .is_some())
}

/// Creates the committee `id`.
pub async fn insert_rc(conn: &TenantConn, id: Uuid, rc: &RcFields<'_>) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO residents_committees (id, name, contact, phone, address) VALUES ($1, $2, $3, $4, $5)",
        &[&id, &rc.name, &rc.contact, &rc.phone, &rc.address],
    )
    .await?;
    Ok(())
}

/// Rewrites the committee `id`; `false` when there is no such committee.
pub async fn update_rc(conn: &TenantConn, id: Uuid, rc: &RcFields<'_>) -> ApiResult<bool> {
    let n = conn
        .execute(
            "UPDATE residents_committees SET name = $2, contact = $3, phone = $4, address = $5 WHERE id = $1",
            &[&id, &rc.name, &rc.contact, &rc.phone, &rc.address],
        )
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
/// its serving owners'-committee members, in the order [`estate_row`] reads.
fn estate_select() -> String {
    format!(
        "SELECT e.id, e.rc_id, rc.name, e.name, e.address, e.phone, e.total_households, e.total_area_centi,
                e.has_owners_committee, e.co_owner_verification, e.deliberation_needs_approval,
                e.parking_counts, e.storage_counts, e.locality_rule,
                (SELECT count(*) FROM units u WHERE u.estate_id = e.id), {VERIFIED_HOUSEHOLDS}, {VERIFIED_AREA},
                ARRAY(SELECT o.real_name FROM oc_members m JOIN owners o ON o.id = m.owner_id
                       WHERE m.estate_id = e.id AND {SERVING} ORDER BY m.granted_at, m.id)
           FROM estates e JOIN residents_committees rc ON rc.id = e.rc_id"
    )
}

/// An estate as stored, with its computed figures (areas in hundredths of m²).
pub struct EstateRow {
    pub id: Uuid,
    pub rc_id: Uuid,
    pub rc_name: String,
    pub name: String,
    pub address: String,
    pub phone: String,
    pub total_households: i32,
    pub total_area_centi: i64,
    pub has_owners_committee: bool,
    pub co_owner_verification: bool,
    pub deliberation_needs_approval: bool,
    pub parking_counts: bool,
    pub storage_counts: bool,
    /// The stored text (`national`, `beijing`, …).
    pub locality_rule: String,
    pub unit_count: i64,
    pub verified_households: i64,
    pub verified_area_centi: i64,
    pub committee_members: Vec<String>,
}

/// The one place an estate row is read by position (the columns of [`estate_select`]).
fn estate_row(r: &Row) -> EstateRow {
    EstateRow {
        id: r.get(0),
        rc_id: r.get(1),
        rc_name: r.get(2),
        name: r.get(3),
        address: r.get(4),
        phone: r.get(5),
        total_households: r.get(6),
        total_area_centi: r.get(7),
        has_owners_committee: r.get(8),
        co_owner_verification: r.get(9),
        deliberation_needs_approval: r.get(10),
        parking_counts: r.get(11),
        storage_counts: r.get(12),
        locality_rule: r.get(13),
        unit_count: r.get(14),
        verified_households: r.get(15),
        verified_area_centi: r.get(16),
        committee_members: r.get(17),
    }
}

/// The estate `id` if `rc_scope` reaches it (`None`: the whole street office).
pub async fn estate(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    id: Uuid,
) -> ApiResult<Option<EstateRow>> {
    let row = conn
        .query_opt(
            &format!(
                "{} WHERE e.id = $2 AND {}",
                estate_select(),
                estate_in_scope(1)
            ),
            &[&rc_scope, &id],
        )
        .await?;
    Ok(row.as_ref().map(estate_row))
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
    /// The filter as `WHERE` over `estates e`, binding [`EstateFilter::params`] as `$1`…`$7`.
    fn sql() -> String {
        format!(
            "WHERE {} AND ($2::text IS NULL OR e.name LIKE $2) AND ($3::text IS NULL OR e.phone = $3)
               AND ($4::bool IS NULL OR e.has_owners_committee = $4) AND ($5::uuid IS NULL OR e.rc_id = $5)
               AND ($6::bigint IS NULL OR {VERIFIED_HOUSEHOLDS} >= $6) AND ($7::bigint IS NULL OR {VERIFIED_AREA} >= $7)",
            estate_in_scope(1)
        )
    }

    /// The values [`EstateFilter::sql`] binds, in its order.
    fn params(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.rc_scope,
            &self.name_pattern,
            &self.phone,
            &self.has_owners_committee,
            &self.rc_id,
            &self.min_verified_households,
            &self.min_verified_area_centi,
        ]
    }
}

/// How many estates pass `filter` (the list's total).
pub async fn count_estates(conn: &TenantConn, filter: &EstateFilter) -> ApiResult<i64> {
    Ok(conn
        .query_one(
            &format!("SELECT count(*) FROM estates e {}", EstateFilter::sql()),
            &filter.params(),
        )
        .await?
        .get(0))
}

/// One page of the estates passing `filter`, by committee name and then estate name.
pub async fn estates_page(
    conn: &TenantConn,
    filter: &EstateFilter,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<EstateRow>> {
    let mut params: Vec<&(dyn ToSql + Sync)> = filter.params().to_vec();
    params.push(&limit);
    params.push(&offset);
    let rows = conn
        .query(
            &format!(
                "{} {} ORDER BY rc.name, e.name LIMIT $8 OFFSET $9",
                estate_select(),
                EstateFilter::sql()
            ),
            &params,
        )
        .await?;
    Ok(rows.iter().map(estate_row).collect())
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
        "INSERT INTO estates (id, rc_id, name, address, phone, total_households, total_area_centi, has_owners_committee,
                              co_owner_verification, deliberation_needs_approval, parking_counts, storage_counts, locality_rule)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (id) DO UPDATE SET
            rc_id = EXCLUDED.rc_id, name = EXCLUDED.name, address = EXCLUDED.address, phone = EXCLUDED.phone,
            total_households = EXCLUDED.total_households, total_area_centi = EXCLUDED.total_area_centi,
            has_owners_committee = EXCLUDED.has_owners_committee, co_owner_verification = EXCLUDED.co_owner_verification,
            deliberation_needs_approval = EXCLUDED.deliberation_needs_approval, parking_counts = EXCLUDED.parking_counts,
            storage_counts = EXCLUDED.storage_counts, locality_rule = EXCLUDED.locality_rule, updated_at = now()",
        &[
            &id,
            &estate.rc_id,
            &estate.name,
            &estate.address,
            &estate.phone,
            &estate.total_households,
            &estate.total_area_centi,
            &estate.has_owners_committee,
            &estate.co_owner_verification,
            &estate.deliberation_needs_approval,
            &estate.parking_counts,
            &estate.storage_counts,
            &estate.locality_rule,
        ],
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

/// A grant with its owner's name and phone, in the order [`oc_member_row`] reads.
const OC_SELECT: &str =
    "SELECT m.owner_id, o.real_name, o.phone, m.granted_at, m.revoked_at, m.term_id, m.end_reason FROM oc_members m JOIN owners o ON o.id = m.owner_id";

/// One grant of the owners'-committee role, with the owner's name and (unmasked) phone.
pub struct OcMemberRow {
    pub owner_id: Uuid,
    pub real_name: String,
    /// Unmasked: callers mask it before it leaves the service.
    pub phone: String,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub term_id: Option<Uuid>,
    pub end_reason: Option<String>,
}

/// The one place a grant row is read by position (the columns of [`OC_SELECT`]).
fn oc_member_row(r: &Row) -> OcMemberRow {
    OcMemberRow {
        owner_id: r.get(0),
        real_name: r.get(1),
        phone: r.get(2),
        granted_at: r.get(3),
        revoked_at: r.get(4),
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

/// The estate's serving members, or with `history` every grant ever made; oldest first.
pub async fn oc_members(
    conn: &TenantConn,
    estate: Uuid,
    history: bool,
) -> ApiResult<Vec<OcMemberRow>> {
    let which = if history { "true" } else { SERVING };
    let rows = conn
        .query(
            &format!("{OC_SELECT} WHERE m.estate_id = $1 AND {which} ORDER BY m.granted_at, m.id"),
            &[&estate],
        )
        .await?;
    Ok(rows.iter().map(oc_member_row).collect())
}

/// Serialises marks of one person on one estate until the transaction ends, so two concurrent
/// grants cannot both pass the "not yet a member" check.
pub async fn lock_oc_owner(conn: &TenantConn, estate: Uuid, owner: Uuid) -> ApiResult<()> {
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('oc:' || $1::uuid::text || ':' || $2::uuid::text))",
        &[&estate, &owner],
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
    conn.execute(
        "INSERT INTO oc_members (id, estate_id, owner_id, granted_by) VALUES ($1, $2, $3, $4)",
        &[&Uuid::new_v4(), &estate, &owner, &granted_by],
    )
    .await?;
    Ok(())
}

/// The owner's open grant marked by staff (the one [`insert_oc_grant`] just made).
pub async fn open_staff_grant(
    conn: &TenantConn,
    estate: Uuid,
    owner: Uuid,
) -> ApiResult<OcMemberRow> {
    let row = conn
        .query_one(&format!("{OC_SELECT} WHERE m.estate_id = $1 AND m.owner_id = $2 AND m.revoked_at IS NULL AND m.term_id IS NULL"), &[&estate, &owner])
        .await?;
    Ok(oc_member_row(&row))
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
            &format!("UPDATE oc_members SET {END_NOW}, revoked_by = $3, end_reason = 'removed' WHERE estate_id = $1 AND owner_id = $2 AND {NOT_ENDED}"),
            &[&estate, &owner, &revoked_by],
        )
        .await?;
    Ok(n > 0)
}
