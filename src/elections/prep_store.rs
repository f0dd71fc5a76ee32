//! Every statement on preparatory groups and their members. Statements are sent with diesel's
//! `sql_query` and typed binds; rows are read by column name into the `QueryableByName` row
//! structs below.

use chrono::{DateTime, Utc};
use diesel::{sql_query, sql_types as sql, QueryableByName};
use uuid::Uuid;

use super::store::StandingRow;
use crate::{error::ApiResult, tenancy::conn::TenantConn};

/// Whether a statement found anything (`SELECT EXISTS (...) AS found`).
#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = sql::Bool)]
    found: bool,
}

/// One bigint (`count(*) AS n`).
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql::BigInt)]
    n: i64,
}

/// One integer (`... AS n`).
#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = sql::Integer)]
    n: i32,
}

/// An id (`... id`).
#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = sql::Uuid)]
    id: Uuid,
}

/// An owner's id (`... owner_id`).
#[derive(QueryableByName)]
struct OwnerId {
    #[diesel(sql_type = sql::Uuid)]
    owner_id: Uuid,
}

/// A group's estate, seats, sign-up window and status: what the rules check.
#[derive(QueryableByName)]
pub struct GroupRow {
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    #[diesel(sql_type = sql::Integer)]
    pub seats: i32,
    #[diesel(sql_type = sql::Timestamptz)]
    pub signup_opens_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Timestamptz)]
    pub signup_closes_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Text)]
    pub status: String,
}

/// A group, or `None` when there is no such group.
pub async fn group(conn: &TenantConn, id: Uuid) -> ApiResult<Option<GroupRow>> {
    Ok(conn
        .optional(
            sql_query("SELECT estate_id, seats, signup_opens_at, signup_closes_at, status FROM prep_groups WHERE id = $1")
                .bind::<sql::Uuid, _>(id),
        )
        .await?)
}

/// Locks the group's row (staff changes to one group run one at a time).
pub async fn lock_group(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute(
        sql_query("SELECT 1 FROM prep_groups WHERE id = $1 FOR UPDATE").bind::<sql::Uuid, _>(id),
    )
    .await?;
    Ok(())
}

/// Whether owners have had (or have) an election of the group's owner seats.
pub async fn group_has_election(conn: &TenantConn, id: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first::<_, Found>(
            sql_query("SELECT EXISTS (SELECT 1 FROM elections WHERE prep_group_id = $1) AS found")
                .bind::<sql::Uuid, _>(id),
        )
        .await?
        .found)
}

/// The owners elected in the group's rounds.
pub async fn elected_owners(conn: &TenantConn, id: Uuid) -> ApiResult<Vec<Uuid>> {
    owner_ids(conn, "SELECT DISTINCT c.owner_id FROM candidates c JOIN elections e ON e.id = c.election_id WHERE e.prep_group_id = $1 AND c.elected", id).await
}

/// The owners whose sign-ups were approved.
pub async fn approved_owners(conn: &TenantConn, id: Uuid) -> ApiResult<Vec<Uuid>> {
    owner_ids(conn, "SELECT owner_id FROM prep_members WHERE group_id = $1 AND kind = 'owner' AND status = 'approved'", id).await
}

/// Reads the owner ids (column `owner_id`) a statement on the group returns.
async fn owner_ids(conn: &TenantConn, sql: &str, id: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load::<_, OwnerId>(sql_query(sql).bind::<sql::Uuid, _>(id))
        .await?
        .into_iter()
        .map(|r| r.owner_id)
        .collect())
}

/// The approved representatives other than owners.
pub async fn representatives(conn: &TenantConn, id: Uuid) -> ApiResult<i32> {
    Ok(conn
        .first::<_, Number>(
            sql_query("SELECT count(*)::int AS n FROM prep_members WHERE group_id = $1 AND kind <> 'owner' AND status = 'approved'")
                .bind::<sql::Uuid, _>(id),
        )
        .await?
        .n)
}

/// A group as its view shows it, with its latest election round.
#[derive(QueryableByName)]
pub struct GroupViewRow {
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub name: String,
    #[diesel(sql_type = sql::Integer)]
    pub seats: i32,
    #[diesel(sql_type = sql::Text)]
    pub leader_phone: String,
    #[diesel(sql_type = sql::Bool)]
    pub leader_phone_public: bool,
    #[diesel(sql_type = sql::Timestamptz)]
    pub signup_opens_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Timestamptz)]
    pub signup_closes_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Integer)]
    pub work_days: i32,
    #[diesel(sql_type = sql::Text)]
    pub status: String,
    #[diesel(sql_type = sql::Nullable<sql::Timestamptz>)]
    pub formed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub election_id: Option<Uuid>,
}

/// The group `id` for its view.
pub async fn group_view(conn: &TenantConn, id: Uuid) -> ApiResult<GroupViewRow> {
    Ok(conn
        .first(
            sql_query(
                "SELECT estate_id, name, seats, leader_phone, leader_phone_public, signup_opens_at, signup_closes_at, work_days, status, formed_at,
                    (SELECT id FROM elections WHERE prep_group_id = g.id ORDER BY round DESC LIMIT 1) AS election_id
               FROM prep_groups g WHERE id = $1",
            )
            .bind::<sql::Uuid, _>(id),
        )
        .await?)
}

/// A member as stored (the columns of [`MEMBER_COLUMNS`], and the signature in the group's
/// view).
#[derive(QueryableByName)]
pub struct MemberRow {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub kind: String,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub owner_id: Option<Uuid>,
    #[diesel(sql_type = sql::Text)]
    pub name: String,
    #[diesel(sql_type = sql::Text)]
    pub phone: String,
    #[diesel(sql_type = sql::Text)]
    pub intro: String,
    #[diesel(sql_type = sql::Text)]
    pub status: String,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub signature_id: Option<Uuid>,
}

/// The member columns the writes return, as [`WrittenMember`] reads them.
const MEMBER_COLUMNS: &str = "id, kind, owner_id, name, phone, intro, status, reason";

/// A member as the writes return it (the columns of [`MEMBER_COLUMNS`]; no signature).
#[derive(QueryableByName)]
struct WrittenMember {
    #[diesel(sql_type = sql::Uuid)]
    id: Uuid,
    #[diesel(sql_type = sql::Text)]
    kind: String,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    owner_id: Option<Uuid>,
    #[diesel(sql_type = sql::Text)]
    name: String,
    #[diesel(sql_type = sql::Text)]
    phone: String,
    #[diesel(sql_type = sql::Text)]
    intro: String,
    #[diesel(sql_type = sql::Text)]
    status: String,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    reason: Option<String>,
}

impl From<WrittenMember> for MemberRow {
    fn from(m: WrittenMember) -> Self {
        MemberRow {
            id: m.id,
            kind: m.kind,
            owner_id: m.owner_id,
            name: m.name,
            phone: m.phone,
            intro: m.intro,
            status: m.status,
            reason: m.reason,
            signature_id: None,
        }
    }
}

/// A group's members, owners first: all for staff, the approved ones otherwise.
pub async fn members_of(conn: &TenantConn, id: Uuid, all: bool) -> ApiResult<Vec<MemberRow>> {
    Ok(conn
        .load(
            sql_query(
                "SELECT id, kind, owner_id, name, phone, intro, status, reason, signature_id FROM prep_members WHERE group_id = $1 AND ($2 OR status = 'approved')
              ORDER BY kind <> 'owner', created_at, id",
            )
            .bind::<sql::Uuid, _>(id)
            .bind::<sql::Bool, _>(all),
        )
        .await?)
}

/// An estate's locality figures and how far its roll has come (units, current holders).
#[derive(QueryableByName)]
pub struct ReadinessRow {
    #[diesel(sql_type = sql::Text)]
    pub locality_rule: String,
    #[diesel(sql_type = sql::Integer)]
    pub total_households: i32,
    #[diesel(sql_type = sql::BigInt)]
    pub total_area_centi: i64,
    #[diesel(sql_type = sql::BigInt)]
    pub units: i64,
    #[diesel(sql_type = sql::BigInt)]
    pub holders: i64,
}

/// What creating a group checks of the estate.
pub async fn estate_readiness(conn: &TenantConn, estate: Uuid) -> ApiResult<ReadinessRow> {
    Ok(conn
        .first(
            sql_query(
                "SELECT locality_rule, total_households, total_area_centi,
                        (SELECT count(*) FROM units WHERE estate_id = e.id) AS units,
                        (SELECT count(*) FROM unit_holders h JOIN units u ON u.id = h.unit_id WHERE u.estate_id = e.id AND h.ended_at IS NULL) AS holders
                   FROM estates e WHERE id = $1",
            )
            .bind::<sql::Uuid, _>(estate),
        )
        .await?)
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
        sql_query(
            "INSERT INTO prep_groups (id, estate_id, name, seats, leader_phone, leader_phone_public, signup_opens_at, signup_closes_at, work_days, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind::<sql::Uuid, _>(g.id)
        .bind::<sql::Uuid, _>(g.estate_id)
        .bind::<sql::Text, _>(g.name)
        .bind::<sql::Integer, _>(g.seats)
        .bind::<sql::Text, _>(g.leader_phone)
        .bind::<sql::Bool, _>(g.leader_phone_public)
        .bind::<sql::Timestamptz, _>(g.signup_opens_at)
        .bind::<sql::Timestamptz, _>(g.signup_closes_at)
        .bind::<sql::Integer, _>(g.work_days)
        .bind::<sql::Nullable<sql::Uuid>, _>(g.created_by),
    )
    .await?;
    Ok(())
}

/// An estate's groups, newest first.
pub async fn group_ids_of_estate(conn: &TenantConn, estate: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load::<_, Id>(
            sql_query("SELECT id FROM prep_groups WHERE estate_id = $1 ORDER BY created_at DESC")
                .bind::<sql::Uuid, _>(estate),
        )
        .await?
        .into_iter()
        .map(|r| r.id)
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
    let row: WrittenMember = conn
        .first(
            sql_query(format!(
                "INSERT INTO prep_members (id, group_id, kind, owner_id, name, phone, intro, signature_id, status)
                     SELECT $1, $2, 'owner', o.id, o.real_name, o.phone, $4, $5, 'pending' FROM owners o WHERE o.id = $3
                     RETURNING {MEMBER_COLUMNS}"
            ))
            .bind::<sql::Uuid, _>(id)
            .bind::<sql::Uuid, _>(group)
            .bind::<sql::Uuid, _>(owner)
            .bind::<sql::Text, _>(intro)
            .bind::<sql::Uuid, _>(signature),
        )
        .await?;
    Ok(row.into())
}

/// The group of an owner's sign-up, or `None` when there is no such sign-up.
pub async fn signup_group(conn: &TenantConn, id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .optional::<_, GroupId>(
            sql_query("SELECT group_id FROM prep_members WHERE id = $1 AND kind = 'owner'")
                .bind::<sql::Uuid, _>(id),
        )
        .await?
        .map(|r| r.group_id))
}

#[derive(QueryableByName)]
struct GroupId {
    #[diesel(sql_type = sql::Uuid)]
    group_id: Uuid,
}

/// Records staff's decision on a sign-up; returns the member.
pub async fn review_member(
    conn: &TenantConn,
    id: Uuid,
    status: &str,
    reason: Option<&str>,
    staff: Option<Uuid>,
) -> ApiResult<MemberRow> {
    let row: WrittenMember = conn
        .first(
            sql_query(format!("UPDATE prep_members SET status = $2, reason = $3, reviewed_by = $4, reviewed_at = now() WHERE id = $1 RETURNING {MEMBER_COLUMNS}"))
                .bind::<sql::Uuid, _>(id)
                .bind::<sql::Text, _>(status)
                .bind::<sql::Nullable<sql::Text>, _>(reason)
                .bind::<sql::Nullable<sql::Uuid>, _>(staff),
        )
        .await?;
    Ok(row.into())
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
    let row: WrittenMember = conn
        .first(
            sql_query(format!(
                "INSERT INTO prep_members (id, group_id, kind, name, phone, status, reviewed_by, reviewed_at)
                     VALUES ($1, $2, $3, $4, $5, 'approved', $6, now()) RETURNING {MEMBER_COLUMNS}"
            ))
            .bind::<sql::Uuid, _>(id)
            .bind::<sql::Uuid, _>(group)
            .bind::<sql::Text, _>(kind)
            .bind::<sql::Text, _>(name)
            .bind::<sql::Text, _>(phone)
            .bind::<sql::Nullable<sql::Uuid>, _>(staff),
        )
        .await?;
    Ok(row.into())
}

/// The approved owner sign-ups in sign-up order, as candidates of the group's election.
pub async fn approved_signups(conn: &TenantConn, id: Uuid) -> ApiResult<Vec<StandingRow>> {
    Ok(conn
        .load(
            sql_query("SELECT owner_id, name, intro, signature_id FROM prep_members WHERE group_id = $1 AND kind = 'owner' AND status = 'approved' ORDER BY created_at, id")
                .bind::<sql::Uuid, _>(id),
        )
        .await?)
}

/// A group's name.
pub async fn group_name(conn: &TenantConn, id: Uuid) -> ApiResult<String> {
    Ok(conn
        .first::<_, Name>(
            sql_query("SELECT name FROM prep_groups WHERE id = $1").bind::<sql::Uuid, _>(id),
        )
        .await?
        .name)
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = sql::Text)]
    name: String,
}

/// The approved street office's and residents' committee's representatives (who may lead).
pub async fn leaders(conn: &TenantConn, id: Uuid) -> ApiResult<i64> {
    Ok(conn
        .first::<_, Count>(
            sql_query("SELECT count(*) AS n FROM prep_members WHERE group_id = $1 AND kind IN ('street', 'rc') AND status = 'approved'")
                .bind::<sql::Uuid, _>(id),
        )
        .await?
        .n)
}

/// Marks the group formed as of now.
pub async fn mark_formed(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute(
        sql_query("UPDATE prep_groups SET status = 'formed', formed_at = now() WHERE id = $1")
            .bind::<sql::Uuid, _>(id),
    )
    .await?;
    Ok(())
}
