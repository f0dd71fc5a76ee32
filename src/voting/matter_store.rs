//! Every statement on matters themselves (not their ballots or ledger): creating, reading,
//! listing, reviewing, extending, cancelling, closing, and the estates' lists of matter types.
//! Ordinary reads and writes are written with diesel's query builder over the typed schema. The
//! matter as readers see it (its status as read) and the lists of matters, and the lock on a
//! matter within a jurisdiction, are `sql_query`, their rows read by column name into
//! `QueryableByName` structs (each selected expression named as its field).

use chrono::{DateTime, Utc};
use diesel::{dsl::now, prelude::*, sql_query, sql_types as sql};
use uuid::Uuid;

use crate::{
    authz::jurisdiction::estate_in_scope,
    error::ApiResult,
    schema::tenant::{attachments, estates, matter_deadline_changes, matter_types, matters},
    tenancy::conn::TenantConn,
    voting::kinds::MatterSort,
};

/// `count(...) AS n`.
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql::BigInt)]
    n: i64,
}

/// A matter as readers see it. Its status: an approved matter whose voting window has begun reads
/// as open, even in the seconds before the due-work sweep (src/voting/due.rs) freezes its roll.
const SELECT: &str = "SELECT m.id, m.estate_id, m.type_name, m.title, m.content, m.importance, m.scope_buildings, m.opens_at, m.closes_at,
                             m.signature_required, m.law_item, m.rule_set, m.rule_change_reason, m.attachment_ids,
                             CASE WHEN m.status = 'approved' AND m.opens_at <= now() THEN 'open' ELSE m.status END AS status,
                             m.review_reason, m.cancel_reason, m.created_at, m.settings, m.result, m.closed_at
                        FROM matters m";

/// A matter as readers see it (status as read: see `SELECT`).
#[derive(QueryableByName)]
pub struct MatterRow {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub type_name: String,
    #[diesel(sql_type = sql::Text)]
    pub title: String,
    #[diesel(sql_type = sql::Text)]
    pub content: String,
    #[diesel(sql_type = sql::Text)]
    pub importance: String,
    #[diesel(sql_type = sql::Nullable<sql::Array<sql::Text>>)]
    pub scope_buildings: Option<Vec<String>>,
    #[diesel(sql_type = sql::Timestamptz)]
    pub opens_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Timestamptz)]
    pub closes_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Bool)]
    pub signature_required: bool,
    #[diesel(sql_type = sql::SmallInt)]
    pub law_item: i16,
    #[diesel(sql_type = sql::Jsonb)]
    pub rule_set: serde_json::Value,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub rule_change_reason: Option<String>,
    #[diesel(sql_type = sql::Array<sql::Uuid>)]
    pub attachment_ids: Vec<Uuid>,
    #[diesel(sql_type = sql::Text)]
    pub status: String,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub review_reason: Option<String>,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub cancel_reason: Option<String>,
    #[diesel(sql_type = sql::Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Jsonb)]
    pub settings: serde_json::Value,
    #[diesel(sql_type = sql::Nullable<sql::Jsonb>)]
    pub result: Option<serde_json::Value>,
    #[diesel(sql_type = sql::Nullable<sql::Timestamptz>)]
    pub closed_at: Option<DateTime<Utc>>,
}

/// One matter, if it exists.
pub async fn matter(conn: &TenantConn, id: Uuid) -> ApiResult<Option<MatterRow>> {
    Ok(conn
        .optional(sql_query(format!("{SELECT} WHERE m.id = $1")).bind::<sql::Uuid, _>(id))
        .await?)
}

/// The list's filter: jurisdiction ($1), estate ($2), status as read ($3), title ($4).
fn list_filter() -> String {
    format!(
            "JOIN estates e ON e.id = m.estate_id WHERE m.kind = 'matter' AND {} AND ($2::uuid IS NULL OR m.estate_id = $2)
               AND ($3::text IS NULL OR (CASE WHEN m.status = 'approved' AND m.opens_at <= now() THEN 'open' ELSE m.status END) = $3)
               AND ($4::text IS NULL OR m.title ILIKE $4)
               AND ($5::uuid IS NULL OR e.rc_id = $5)
               AND ($6::text IS NULL OR m.importance = $6)",
            estate_in_scope(1)
        )
}

/// What the matter list filters on, and its order.
pub struct MatterFilter<'a> {
    /// The reader's jurisdiction: a committee's staff see its estates only.
    pub rc_id: Option<Uuid>,
    /// A committee the reader chose to narrow to (within the jurisdiction).
    pub committee: Option<Uuid>,
    pub estate_id: Option<Uuid>,
    pub status: Option<&'a str>,
    pub importance: Option<&'a str>,
    /// An ILIKE pattern.
    pub title: Option<&'a str>,
    pub sort: MatterSort,
}

/// The ORDER BY of each sort; the id breaks ties so pages never overlap.
fn order_by(sort: MatterSort) -> &'static str {
    match sort {
        MatterSort::CreatedDesc => "m.created_at DESC, m.id",
        MatterSort::ClosesAsc => "m.closes_at, m.id",
        MatterSort::ClosesDesc => "m.closes_at DESC, m.id",
    }
}

/// How many matters the filter finds.
pub async fn matter_count(conn: &TenantConn, f: &MatterFilter<'_>) -> ApiResult<i64> {
    Ok(conn
        .first::<_, Count>(
            sql_query(format!(
                "SELECT count(*) AS n FROM matters m {}",
                list_filter()
            ))
            .bind::<sql::Nullable<sql::Uuid>, _>(f.rc_id)
            .bind::<sql::Nullable<sql::Uuid>, _>(f.estate_id)
            .bind::<sql::Nullable<sql::Text>, _>(f.status)
            .bind::<sql::Nullable<sql::Text>, _>(f.title)
            .bind::<sql::Nullable<sql::Uuid>, _>(f.committee)
            .bind::<sql::Nullable<sql::Text>, _>(f.importance),
        )
        .await?
        .n)
}

/// One page of the matters the filter finds, in its order.
pub async fn matter_page(
    conn: &TenantConn,
    f: &MatterFilter<'_>,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<MatterRow>> {
    Ok(conn
        .load(
            sql_query(format!(
                "{SELECT} {} ORDER BY {} LIMIT $7 OFFSET $8",
                list_filter(),
                order_by(f.sort)
            ))
            .bind::<sql::Nullable<sql::Uuid>, _>(f.rc_id)
            .bind::<sql::Nullable<sql::Uuid>, _>(f.estate_id)
            .bind::<sql::Nullable<sql::Text>, _>(f.status)
            .bind::<sql::Nullable<sql::Text>, _>(f.title)
            .bind::<sql::Nullable<sql::Uuid>, _>(f.committee)
            .bind::<sql::Nullable<sql::Text>, _>(f.importance)
            .bind::<sql::BigInt, _>(limit)
            .bind::<sql::BigInt, _>(offset),
        )
        .await?)
}

/// The matters owners of `owner`'s estates can see (approved and later), newest first.
pub async fn owner_matters(conn: &TenantConn, owner: Uuid) -> ApiResult<Vec<MatterRow>> {
    Ok(conn
        .load(
            sql_query(format!(
                "{SELECT} WHERE kind = 'matter' AND status IN ('approved', 'open', 'closed', 'cancelled') AND estate_id IN (
                        SELECT u.estate_id FROM unit_holders h JOIN units u ON u.id = h.unit_id WHERE h.owner_id = $1 AND h.ended_at IS NULL)
                     ORDER BY created_at DESC"
            ))
            .bind::<sql::Uuid, _>(owner),
        )
        .await?)
}

/// A matter as staff change it: its estate, stored status and window.
#[derive(QueryableByName)]
pub struct StaffMatterRow {
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub status: String,
    #[diesel(sql_type = sql::Timestamptz)]
    pub opens_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Timestamptz)]
    pub closes_at: DateTime<Utc>,
}

/// Locks the matter's row (FOR UPDATE), if it is a matter in the jurisdiction `rc_id`.
pub async fn lock_staff_matter(
    conn: &TenantConn,
    rc_id: Option<Uuid>,
    id: Uuid,
) -> ApiResult<Option<StaffMatterRow>> {
    Ok(conn
        .optional(
            sql_query(format!("SELECT m.estate_id, m.status, m.opens_at, m.closes_at FROM matters m JOIN estates e ON e.id = m.estate_id WHERE m.id = $2 AND m.kind = 'matter' AND {} FOR UPDATE OF m", estate_in_scope(1)))
                .bind::<sql::Nullable<sql::Uuid>, _>(rc_id)
                .bind::<sql::Uuid, _>(id),
        )
        .await?)
}

// Matter types.

/// The estate's matter types, by name.
pub async fn matter_types(conn: &TenantConn, estate: Uuid) -> ApiResult<Vec<String>> {
    Ok(conn
        .load(
            matter_types::table
                .filter(matter_types::estate_id.eq(estate))
                .order(matter_types::name)
                .select(matter_types::name),
        )
        .await?)
}

/// Adds a type to the estate's list, unless it is there.
pub async fn add_matter_type(conn: &TenantConn, estate: Uuid, name: &str) -> ApiResult<()> {
    conn.execute(
        diesel::insert_into(matter_types::table)
            .values((
                matter_types::estate_id.eq(estate),
                matter_types::name.eq(name),
            ))
            .on_conflict_do_nothing(),
    )
    .await?;
    Ok(())
}

/// Removes a type from the estate's list; returns how many were removed (0 or 1).
pub async fn delete_matter_type(conn: &TenantConn, estate: Uuid, name: &str) -> ApiResult<u64> {
    let n = conn
        .execute(
            diesel::delete(matter_types::table)
                .filter(matter_types::estate_id.eq(estate))
                .filter(matter_types::name.eq(name)),
        )
        .await?;
    Ok(n as u64)
}

// Creating a matter.

/// What an estate's matters default to.
#[derive(Queryable, Selectable)]
#[diesel(table_name = estates, check_for_backend(diesel::pg::Pg))]
pub struct EstateSettingsRow {
    pub parking_counts: bool,
    pub storage_counts: bool,
    pub deliberation_needs_approval: bool,
}

/// The estate's counting settings (the estate must exist).
pub async fn estate_settings(conn: &TenantConn, estate: Uuid) -> ApiResult<EstateSettingsRow> {
    Ok(conn
        .first(
            estates::table
                .find(estate)
                .select(EstateSettingsRow::as_select()),
        )
        .await?)
}

/// How many of the attachments are documents uploaded by this uploader (any staff, for staff).
pub async fn own_documents(
    conn: &TenantConn,
    ids: &[Uuid],
    kind: &str,
    uploader: Option<Uuid>,
) -> ApiResult<i64> {
    Ok(conn
        .first(
            attachments::table
                .filter(attachments::id.eq_any(ids))
                .filter(attachments::purpose.eq("document"))
                .filter(attachments::uploader_kind.eq(kind))
                .filter(
                    kind.into_sql::<sql::Text>()
                        .eq("staff")
                        .or(attachments::uploader_id.nullable().eq(uploader)),
                )
                .select(diesel::dsl::count(attachments::id).aggregate_distinct()),
        )
        .await?)
}

/// A matter as it is to be stored.
pub struct NewMatter<'a> {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub type_name: &'a str,
    pub title: &'a str,
    pub content: &'a str,
    pub importance: &'a str,
    pub scope_buildings: &'a Option<Vec<String>>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub signature_required: bool,
    pub law_item: i16,
    pub rule_set: serde_json::Value,
    pub rule_change_reason: &'a Option<String>,
    pub settings: serde_json::Value,
    pub ledger_salt: &'a str,
    pub attachment_ids: &'a [Uuid],
    pub status: &'a str,
    pub created_by_kind: &'a str,
    pub created_by: Option<Uuid>,
}

/// Stores a new matter.
pub async fn insert_matter(conn: &TenantConn, m: &NewMatter<'_>) -> ApiResult<()> {
    conn.execute(diesel::insert_into(matters::table).values((
        matters::id.eq(m.id),
        matters::estate_id.eq(m.estate_id),
        matters::type_name.eq(m.type_name),
        matters::title.eq(m.title),
        matters::content.eq(m.content),
        matters::importance.eq(m.importance),
        matters::scope_buildings.eq(m.scope_buildings),
        matters::opens_at.eq(m.opens_at),
        matters::closes_at.eq(m.closes_at),
        matters::signature_required.eq(m.signature_required),
        matters::law_item.eq(m.law_item),
        matters::rule_set.eq(&m.rule_set),
        matters::rule_change_reason.eq(m.rule_change_reason),
        matters::settings.eq(&m.settings),
        matters::ledger_salt.eq(m.ledger_salt),
        matters::attachment_ids.eq(m.attachment_ids),
        matters::status.eq(m.status),
        matters::created_by_kind.eq(m.created_by_kind),
        // Without a creator, DEFAULT: the column has none and takes no NULL, so it fails.
        m.created_by.map(|by| matters::created_by.eq(by)),
    )))
    .await?;
    Ok(())
}

// Changing a matter.

/// Records a deadline change (the old and new deadline, by whom).
pub async fn insert_deadline_change(
    conn: &TenantConn,
    id: Uuid,
    old: DateTime<Utc>,
    new: DateTime<Utc>,
    staff: Option<Uuid>,
) -> ApiResult<()> {
    conn.execute(diesel::insert_into(matter_deadline_changes::table).values((
        matter_deadline_changes::matter_id.eq(id),
        matter_deadline_changes::old_closes.eq(old),
        matter_deadline_changes::new_closes.eq(new),
        // Without a staff member, DEFAULT: the column has none and takes no NULL, so it fails.
        staff.map(|s| matter_deadline_changes::staff_id.eq(s)),
    )))
    .await?;
    Ok(())
}

/// Moves the matter's deadline.
pub async fn set_closes_at(conn: &TenantConn, id: Uuid, closes_at: DateTime<Utc>) -> ApiResult<()> {
    conn.execute(diesel::update(matters::table.find(id)).set((
        matters::closes_at.eq(closes_at),
        matters::updated_at.eq(now),
    )))
    .await?;
    Ok(())
}

/// Deletes the matter.
pub async fn delete_matter(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute(diesel::delete(matters::table.find(id)))
        .await?;
    Ok(())
}

/// Marks the matter cancelled, with the reason.
pub async fn cancel_matter(conn: &TenantConn, id: Uuid, reason: &str) -> ApiResult<()> {
    conn.execute(diesel::update(matters::table.find(id)).set((
        matters::status.eq("cancelled"),
        matters::cancel_reason.eq(reason),
        matters::updated_at.eq(now),
    )))
    .await?;
    Ok(())
}

/// Marks the matter closed, with its result and when it closed.
pub async fn close_matter(
    conn: &TenantConn,
    id: Uuid,
    result: &serde_json::Value,
    closed_at: &DateTime<Utc>,
) -> ApiResult<()> {
    conn.execute(diesel::update(matters::table.find(id)).set((
        matters::status.eq("closed"),
        matters::result.eq(result),
        matters::closed_at.eq(closed_at),
        matters::updated_at.eq(now),
    )))
    .await?;
    Ok(())
}

/// Records the review: the new status and the reason, if any.
pub async fn review_matter(
    conn: &TenantConn,
    id: Uuid,
    to: &str,
    reason: Option<&str>,
) -> ApiResult<()> {
    conn.execute(diesel::update(matters::table.find(id)).set((
        matters::status.eq(to),
        matters::review_reason.eq(reason),
        matters::updated_at.eq(now),
    )))
    .await?;
    Ok(())
}

/// A number for a ballot or ledger entry, with the transaction's time (which an
/// `INSERT … SELECT` binds: see `Conn::now`).
#[derive(QueryableByName)]
pub struct Numbered {
    #[diesel(sql_type = sql::BigInt)]
    pub seq: i64,
    #[diesel(sql_type = sql::Timestamptz)]
    pub at: DateTime<Utc>,
}

/// The next number for a ballot or ledger entry, drawn by a statement of its own: one that
/// reads no table, so on Citus the coordinator answers it from its sequence wherever the street
/// office's tables live (a worker's copy of the sequence would hand out other numbers, and
/// moving the schema to another worker would change which copy answers). The same round trip
/// brings the transaction's time.
pub async fn next_seq(conn: &TenantConn) -> ApiResult<Numbered> {
    Ok(conn
        .first(sql_query(
            "SELECT nextval('ballot_seq') AS seq, now() AS at",
        ))
        .await?)
}
