//! Every statement on preparatory groups and their members. Ordinary reads and writes use
//! diesel's query builder over the typed schema; the statements clearer as SQL (subqueries in
//! the select list, an `INSERT … SELECT`) are sent with `sql_query` and typed binds, their rows
//! read by column name into the `QueryableByName` row structs below.

use chrono::{DateTime, Utc};
use diesel::{
    dsl::{count_star, exists, now},
    prelude::*,
    sql_query, sql_types as sql,
};
use uuid::Uuid;

use super::store::StandingRow;
use crate::{
    error::ApiResult,
    schema::tenant::{candidates, elections, prep_groups, prep_members},
    tenancy::conn::TenantConn,
};

/// A group's estate, seats, sign-up window and status: what the rules check.
#[derive(Queryable, Selectable)]
#[diesel(table_name = prep_groups, check_for_backend(diesel::pg::Pg))]
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
        .optional(prep_groups::table.find(id).select(GroupRow::as_select()))
        .await?)
}

/// Locks the group's row (staff changes to one group run one at a time).
pub async fn lock_group(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute(
        prep_groups::table
            .find(id)
            .select(prep_groups::id)
            .for_update(),
    )
    .await?;
    Ok(())
}

/// Whether owners have had (or have) an election of the group's owner seats.
pub async fn group_has_election(conn: &TenantConn, id: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(exists(
            elections::table.filter(elections::prep_group_id.eq(id)),
        )))
        .await?)
}

/// The owners elected in the group's rounds.
pub async fn elected_owners(conn: &TenantConn, id: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load(
            candidates::table
                .inner_join(elections::table)
                .filter(elections::prep_group_id.eq(id))
                .filter(candidates::elected)
                .select(candidates::owner_id)
                .distinct(),
        )
        .await?)
}

/// The owners whose sign-ups were approved.
pub async fn approved_owners(conn: &TenantConn, id: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load(
            prep_members::table
                .filter(prep_members::group_id.eq(id))
                .filter(prep_members::kind.eq("owner"))
                .filter(prep_members::status.eq("approved"))
                .select(prep_members::owner_id.assume_not_null()),
        )
        .await?)
}

/// The approved representatives other than owners.
pub async fn representatives(conn: &TenantConn, id: Uuid) -> ApiResult<i32> {
    Ok(conn
        .first(
            prep_members::table
                .filter(prep_members::group_id.eq(id))
                .filter(prep_members::kind.ne("owner"))
                .filter(prep_members::status.eq("approved"))
                .select(count_star().fallible_cast::<sql::Integer>()),
        )
        .await?)
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

/// A member as stored (the columns of [`WrittenMember`], and the signature in the group's
/// view).
#[derive(Queryable, Selectable)]
#[diesel(table_name = prep_members, check_for_backend(diesel::pg::Pg))]
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

/// The member columns the owner's sign-up returns, as [`WrittenMember`] reads them.
const MEMBER_COLUMNS: &str = "id, kind, owner_id, name, phone, intro, status, reason";

/// A member as the writes return it (the columns of [`MEMBER_COLUMNS`]; no signature).
#[derive(QueryableByName, Queryable, Selectable)]
#[diesel(table_name = prep_members, check_for_backend(diesel::pg::Pg))]
struct WrittenMember {
    id: Uuid,
    kind: String,
    owner_id: Option<Uuid>,
    name: String,
    phone: String,
    intro: String,
    status: String,
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
            prep_members::table
                .filter(prep_members::group_id.eq(id))
                .filter(
                    all.into_sql::<sql::Bool>()
                        .or(prep_members::status.eq("approved")),
                )
                .order((
                    prep_members::kind.ne("owner"),
                    prep_members::created_at,
                    prep_members::id,
                ))
                .select(MemberRow::as_select()),
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
    conn.execute(diesel::insert_into(prep_groups::table).values((
        prep_groups::id.eq(g.id),
        prep_groups::estate_id.eq(g.estate_id),
        prep_groups::name.eq(g.name),
        prep_groups::seats.eq(g.seats),
        prep_groups::leader_phone.eq(g.leader_phone),
        prep_groups::leader_phone_public.eq(g.leader_phone_public),
        prep_groups::signup_opens_at.eq(g.signup_opens_at),
        prep_groups::signup_closes_at.eq(g.signup_closes_at),
        prep_groups::work_days.eq(g.work_days),
        g.created_by.map(|by| prep_groups::created_by.eq(by)),
    )))
    .await?;
    Ok(())
}

/// An estate's groups, newest first.
pub async fn group_ids_of_estate(conn: &TenantConn, estate: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load(
            prep_groups::table
                .filter(prep_groups::estate_id.eq(estate))
                .order(prep_groups::created_at.desc())
                .select(prep_groups::id),
        )
        .await?)
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
                "INSERT INTO prep_members (id, group_id, kind, owner_id, name, phone, intro, signature_id, status, created_at)
                     SELECT $1, $2, 'owner', o.id, o.real_name, o.phone, $4, $5, 'pending', $6 FROM owners o WHERE o.id = $3
                     RETURNING {MEMBER_COLUMNS}"
            ))
            .bind::<sql::Uuid, _>(id)
            .bind::<sql::Uuid, _>(group)
            .bind::<sql::Uuid, _>(owner)
            .bind::<sql::Text, _>(intro)
            .bind::<sql::Uuid, _>(signature)
            .bind::<sql::Timestamptz, _>(conn.now().await?),
        )
        .await?;
    Ok(row.into())
}

/// The group of an owner's sign-up, or `None` when there is no such sign-up.
pub async fn signup_group(conn: &TenantConn, id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .optional(
            prep_members::table
                .filter(prep_members::id.eq(id))
                .filter(prep_members::kind.eq("owner"))
                .select(prep_members::group_id),
        )
        .await?)
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
            diesel::update(prep_members::table.find(id))
                .set((
                    prep_members::status.eq(status),
                    prep_members::reason.eq(reason),
                    prep_members::reviewed_by.eq(staff),
                    prep_members::reviewed_at.eq(now),
                ))
                .returning(WrittenMember::as_returning()),
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
            diesel::insert_into(prep_members::table)
                .values((
                    prep_members::id.eq(id),
                    prep_members::group_id.eq(group),
                    prep_members::kind.eq(kind),
                    prep_members::name.eq(name),
                    prep_members::phone.eq(phone),
                    prep_members::status.eq("approved"),
                    prep_members::reviewed_by.eq(staff),
                    prep_members::reviewed_at.eq(now),
                ))
                .returning(WrittenMember::as_returning()),
        )
        .await?;
    Ok(row.into())
}

/// The approved owner sign-ups in sign-up order, as candidates of the group's election.
pub async fn approved_signups(conn: &TenantConn, id: Uuid) -> ApiResult<Vec<StandingRow>> {
    Ok(conn
        .load(
            prep_members::table
                .filter(prep_members::group_id.eq(id))
                .filter(prep_members::kind.eq("owner"))
                .filter(prep_members::status.eq("approved"))
                .order((prep_members::created_at, prep_members::id))
                .select((
                    prep_members::owner_id.assume_not_null(),
                    prep_members::name,
                    prep_members::intro,
                    prep_members::signature_id,
                )),
        )
        .await?)
}

/// A group's name.
pub async fn group_name(conn: &TenantConn, id: Uuid) -> ApiResult<String> {
    Ok(conn
        .first(prep_groups::table.find(id).select(prep_groups::name))
        .await?)
}

/// The approved street office's and residents' committee's representatives (who may lead).
pub async fn leaders(conn: &TenantConn, id: Uuid) -> ApiResult<i64> {
    Ok(conn
        .first(
            prep_members::table
                .filter(prep_members::group_id.eq(id))
                .filter(prep_members::kind.eq_any(["street", "rc"]))
                .filter(prep_members::status.eq("approved"))
                .count(),
        )
        .await?)
}

/// Marks the group formed as of now.
pub async fn mark_formed(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute(diesel::update(prep_groups::table.find(id)).set((
        prep_groups::status.eq("formed"),
        prep_groups::formed_at.eq(now),
    )))
    .await?;
    Ok(())
}
