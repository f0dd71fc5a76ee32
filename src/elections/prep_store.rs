//! Every statement on preparatory groups and their members. Rows are read by position here and
//! nowhere else, one reading function per query shape.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::store::{standing_row, StandingRow};
use crate::{error::ApiResult, tenancy::conn::TenantConn};

/// A group's estate, seats, sign-up window and status: what the rules check.
pub struct GroupRow {
    pub estate_id: Uuid,
    pub seats: i32,
    pub signup_opens_at: DateTime<Utc>,
    pub signup_closes_at: DateTime<Utc>,
    pub status: String,
}

/// A group, or `None` when there is no such group.
pub async fn group(conn: &TenantConn, id: Uuid) -> ApiResult<Option<GroupRow>> {
    Ok(conn
        .query_opt("SELECT estate_id, seats, signup_opens_at, signup_closes_at, status FROM prep_groups WHERE id = $1", &[&id])
        .await?
        .map(|r| GroupRow {
            estate_id: r.get(0),
            seats: r.get(1),
            signup_opens_at: r.get(2),
            signup_closes_at: r.get(3),
            status: r.get(4),
        }))
}

/// Locks the group's row (staff changes to one group run one at a time).
pub async fn lock_group(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute("SELECT 1 FROM prep_groups WHERE id = $1 FOR UPDATE", &[&id])
        .await?;
    Ok(())
}

/// Whether owners have had (or have) an election of the group's owner seats.
pub async fn group_has_election(conn: &TenantConn, id: Uuid) -> ApiResult<bool> {
    Ok(conn
        .exists("SELECT 1 FROM elections WHERE prep_group_id = $1", &[&id])
        .await?)
}

/// The owners elected in the group's rounds.
pub async fn elected_owners(conn: &TenantConn, id: Uuid) -> ApiResult<Vec<Uuid>> {
    owner_ids(conn, "SELECT DISTINCT c.owner_id FROM candidates c JOIN elections e ON e.id = c.election_id WHERE e.prep_group_id = $1 AND c.elected", id).await
}

/// The owners whose sign-ups were approved.
pub async fn approved_owners(conn: &TenantConn, id: Uuid) -> ApiResult<Vec<Uuid>> {
    owner_ids(conn, "SELECT owner_id FROM prep_members WHERE group_id = $1 AND kind = 'owner' AND status = 'approved'", id).await
}

/// Reads the owner ids a one-column statement on the group returns.
async fn owner_ids(conn: &TenantConn, sql: &str, id: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .query(sql, &[&id])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// The approved representatives other than owners.
pub async fn representatives(conn: &TenantConn, id: Uuid) -> ApiResult<i32> {
    Ok(conn.query_one("SELECT count(*)::int FROM prep_members WHERE group_id = $1 AND kind <> 'owner' AND status = 'approved'", &[&id]).await?.get(0))
}

/// A group as its view shows it, with its latest election round.
pub struct GroupViewRow {
    pub estate_id: Uuid,
    pub name: String,
    pub seats: i32,
    pub leader_phone: String,
    pub leader_phone_public: bool,
    pub signup_opens_at: DateTime<Utc>,
    pub signup_closes_at: DateTime<Utc>,
    pub work_days: i32,
    pub status: String,
    pub formed_at: Option<DateTime<Utc>>,
    pub election_id: Option<Uuid>,
}

/// The group `id` for its view.
pub async fn group_view(conn: &TenantConn, id: Uuid) -> ApiResult<GroupViewRow> {
    let r = conn
        .query_one(
            "SELECT estate_id, name, seats, leader_phone, leader_phone_public, signup_opens_at, signup_closes_at, work_days, status, formed_at,
                    (SELECT id FROM elections WHERE prep_group_id = g.id ORDER BY round DESC LIMIT 1)
               FROM prep_groups g WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(GroupViewRow {
        estate_id: r.get(0),
        name: r.get(1),
        seats: r.get(2),
        leader_phone: r.get(3),
        leader_phone_public: r.get(4),
        signup_opens_at: r.get(5),
        signup_closes_at: r.get(6),
        work_days: r.get(7),
        status: r.get(8),
        formed_at: r.get(9),
        election_id: r.get(10),
    })
}

/// A member as stored (the columns of [`MEMBER_COLUMNS`], and the signature in the group's
/// view).
pub struct MemberRow {
    pub id: Uuid,
    pub kind: String,
    pub owner_id: Option<Uuid>,
    pub name: String,
    pub phone: String,
    pub intro: String,
    pub status: String,
    pub reason: Option<String>,
    pub signature_id: Option<Uuid>,
}

/// The member columns the writes return, in the order [`member_row`] reads.
const MEMBER_COLUMNS: &str = "id, kind, owner_id, name, phone, intro, status, reason";

/// The one place a member row is read by position (the columns of [`MEMBER_COLUMNS`]; the
/// writes return no signature).
fn member_row(m: &Row) -> MemberRow {
    MemberRow {
        id: m.get(0),
        kind: m.get(1),
        owner_id: m.get(2),
        name: m.get(3),
        phone: m.get(4),
        intro: m.get(5),
        status: m.get(6),
        reason: m.get(7),
        signature_id: None,
    }
}

/// A group's members, owners first: all for staff, the approved ones otherwise.
pub async fn members_of(conn: &TenantConn, id: Uuid, all: bool) -> ApiResult<Vec<MemberRow>> {
    Ok(conn
        .query(
            "SELECT id, kind, owner_id, name, phone, intro, status, reason, signature_id FROM prep_members WHERE group_id = $1 AND ($2 OR status = 'approved')
              ORDER BY kind <> 'owner', created_at, id",
            &[&id, &all],
        )
        .await?
        .iter()
        .map(|m| MemberRow {
            signature_id: m.get(8),
            ..member_row(m)
        })
        .collect())
}

/// An estate's locality figures and how far its roll has come (units, current holders).
pub struct ReadinessRow {
    pub locality_rule: String,
    pub total_households: i32,
    pub total_area_centi: i64,
    pub units: i64,
    pub holders: i64,
}

/// What creating a group checks of the estate.
pub async fn estate_readiness(conn: &TenantConn, estate: Uuid) -> ApiResult<ReadinessRow> {
    let e = conn
        .query_one(
            "SELECT locality_rule, total_households, total_area_centi,
                        (SELECT count(*) FROM units WHERE estate_id = e.id),
                        (SELECT count(*) FROM unit_holders h JOIN units u ON u.id = h.unit_id WHERE u.estate_id = e.id AND h.ended_at IS NULL)
                   FROM estates e WHERE id = $1",
            &[&estate],
        )
        .await?;
    Ok(ReadinessRow {
        locality_rule: e.get(0),
        total_households: e.get(1),
        total_area_centi: e.get(2),
        units: e.get(3),
        holders: e.get(4),
    })
}

/// What staff enter for a new group, already trimmed by the caller.
pub struct NewGroup<'a> {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub name: &'a str,
    pub seats: i32,
    pub leader_phone: &'a str,
    pub leader_phone_public: bool,
    pub signup_opens_at: DateTime<Utc>,
    pub signup_closes_at: DateTime<Utc>,
    pub work_days: i32,
    pub created_by: Option<Uuid>,
}

/// Creates a group.
pub async fn insert_group(conn: &TenantConn, g: &NewGroup<'_>) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO prep_groups (id, estate_id, name, seats, leader_phone, leader_phone_public, signup_opens_at, signup_closes_at, work_days, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &g.id,
            &g.estate_id,
            &g.name,
            &g.seats,
            &g.leader_phone,
            &g.leader_phone_public,
            &g.signup_opens_at,
            &g.signup_closes_at,
            &g.work_days,
            &g.created_by,
        ],
    )
    .await?;
    Ok(())
}

/// An estate's groups, newest first.
pub async fn group_ids_of_estate(conn: &TenantConn, estate: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .query(
            "SELECT id FROM prep_groups WHERE estate_id = $1 ORDER BY created_at DESC",
            &[&estate],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Records an owner's pending sign-up under the owner's name and phone (a second one violates
/// a unique key); returns the member.
pub async fn insert_owner_signup(
    conn: &TenantConn,
    id: Uuid,
    group: Uuid,
    owner: Uuid,
    intro: &str,
    signature: Uuid,
) -> ApiResult<MemberRow> {
    let row = conn
        .query_one(
            &format!(
                "INSERT INTO prep_members (id, group_id, kind, owner_id, name, phone, intro, signature_id, status)
                     SELECT $1, $2, 'owner', o.id, o.real_name, o.phone, $4, $5, 'pending' FROM owners o WHERE o.id = $3
                     RETURNING {MEMBER_COLUMNS}"
            ),
            &[&id, &group, &owner, &intro, &signature],
        )
        .await?;
    Ok(member_row(&row))
}

/// The group of an owner's sign-up, or `None` when there is no such sign-up.
pub async fn signup_group(conn: &TenantConn, id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .query_opt(
            "SELECT group_id FROM prep_members WHERE id = $1 AND kind = 'owner'",
            &[&id],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Records staff's decision on a sign-up; returns the member.
pub async fn review_member(
    conn: &TenantConn,
    id: Uuid,
    status: &str,
    reason: Option<&str>,
    staff: Option<Uuid>,
) -> ApiResult<MemberRow> {
    let row = conn
        .query_one(
            &format!("UPDATE prep_members SET status = $2, reason = $3, reviewed_by = $4, reviewed_at = now() WHERE id = $1 RETURNING {MEMBER_COLUMNS}"),
            &[&id, &status, &reason, &staff],
        )
        .await?;
    Ok(member_row(&row))
}

/// Records an appointed representative, approved; returns the member.
pub async fn insert_representative(
    conn: &TenantConn,
    id: Uuid,
    group: Uuid,
    kind: &str,
    name: &str,
    phone: &str,
    staff: Option<Uuid>,
) -> ApiResult<MemberRow> {
    let row = conn
        .query_one(
            &format!(
                "INSERT INTO prep_members (id, group_id, kind, name, phone, status, reviewed_by, reviewed_at)
                     VALUES ($1, $2, $3, $4, $5, 'approved', $6, now()) RETURNING {MEMBER_COLUMNS}"
            ),
            &[&id, &group, &kind, &name, &phone, &staff],
        )
        .await?;
    Ok(member_row(&row))
}

/// The approved owner sign-ups in sign-up order, as candidates of the group's election.
pub async fn approved_signups(conn: &TenantConn, id: Uuid) -> ApiResult<Vec<StandingRow>> {
    Ok(conn
        .query("SELECT owner_id, name, intro, signature_id FROM prep_members WHERE group_id = $1 AND kind = 'owner' AND status = 'approved' ORDER BY created_at, id", &[&id])
        .await?
        .iter()
        .map(standing_row)
        .collect())
}

/// A group's name.
pub async fn group_name(conn: &TenantConn, id: Uuid) -> ApiResult<String> {
    Ok(conn
        .query_one("SELECT name FROM prep_groups WHERE id = $1", &[&id])
        .await?
        .get(0))
}

/// The approved street office's and residents' committee's representatives (who may lead).
pub async fn leaders(conn: &TenantConn, id: Uuid) -> ApiResult<i64> {
    Ok(conn
        .query_one("SELECT count(*) FROM prep_members WHERE group_id = $1 AND kind IN ('street', 'rc') AND status = 'approved'", &[&id])
        .await?
        .get(0))
}

/// Marks the group formed as of now.
pub async fn mark_formed(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute(
        "UPDATE prep_groups SET status = 'formed', formed_at = now() WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}
