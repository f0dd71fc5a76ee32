//! Every statement on matters themselves (not their ballots or ledger): creating, reading,
//! listing, reviewing, extending, cancelling, closing, and the estates' lists of matter types.
//! Rows are read by position here and nowhere else, one reading function per query shape, so
//! the move to diesel touches the store files only.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{authz::jurisdiction::estate_in_scope, error::ApiResult, tenancy::conn::TenantConn};

/// A matter as readers see it. Its status: an approved matter whose voting window has begun reads
/// as open, even in the seconds before the due-work sweep (src/voting/due.rs) freezes its roll.
const SELECT: &str = "SELECT m.id, m.estate_id, m.type_name, m.title, m.content, m.importance, m.scope_buildings, m.opens_at, m.closes_at,
                             m.signature_required, m.law_item, m.rule_set, m.rule_change_reason, m.attachment_ids,
                             CASE WHEN m.status = 'approved' AND m.opens_at <= now() THEN 'open' ELSE m.status END,
                             m.review_reason, m.cancel_reason, m.created_at, m.settings, m.result, m.closed_at
                        FROM matters m";

/// A matter as readers see it (status as read: see `SELECT`).
pub struct MatterRow {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub type_name: String,
    pub title: String,
    pub content: String,
    pub importance: String,
    pub scope_buildings: Option<Vec<String>>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub signature_required: bool,
    pub law_item: i16,
    pub rule_set: serde_json::Value,
    pub rule_change_reason: Option<String>,
    pub attachment_ids: Vec<Uuid>,
    pub status: String,
    pub review_reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub settings: serde_json::Value,
    pub result: Option<serde_json::Value>,
    pub closed_at: Option<DateTime<Utc>>,
}

fn matter_row(r: &Row) -> MatterRow {
    MatterRow {
        id: r.get(0),
        estate_id: r.get(1),
        type_name: r.get(2),
        title: r.get(3),
        content: r.get(4),
        importance: r.get(5),
        scope_buildings: r.get(6),
        opens_at: r.get(7),
        closes_at: r.get(8),
        signature_required: r.get(9),
        law_item: r.get(10),
        rule_set: r.get(11),
        rule_change_reason: r.get(12),
        attachment_ids: r.get(13),
        status: r.get(14),
        review_reason: r.get(15),
        cancel_reason: r.get(16),
        created_at: r.get(17),
        settings: r.get(18),
        result: r.get(19),
        closed_at: r.get(20),
    }
}

/// One matter, if it exists.
pub async fn matter(conn: &TenantConn, id: Uuid) -> ApiResult<Option<MatterRow>> {
    Ok(conn
        .query_opt(&format!("{SELECT} WHERE m.id = $1"), &[&id])
        .await?
        .as_ref()
        .map(matter_row))
}

/// The list's filter: jurisdiction ($1), estate ($2), status as read ($3), title ($4).
fn list_filter() -> String {
    format!(
            "JOIN estates e ON e.id = m.estate_id WHERE m.kind = 'matter' AND {} AND ($2::uuid IS NULL OR m.estate_id = $2)
               AND ($3::text IS NULL OR (CASE WHEN m.status = 'approved' AND m.opens_at <= now() THEN 'open' ELSE m.status END) = $3)
               AND ($4::text IS NULL OR m.title ILIKE $4)",
            estate_in_scope(1)
        )
}

/// What the matter list filters on.
pub struct MatterFilter<'a> {
    pub rc_id: Option<Uuid>,
    pub estate_id: Option<Uuid>,
    pub status: Option<&'a str>,
    /// An ILIKE pattern.
    pub title: Option<&'a str>,
}

/// How many matters the filter finds.
pub async fn matter_count(conn: &TenantConn, f: &MatterFilter<'_>) -> ApiResult<i64> {
    Ok(conn
        .query_one(
            &format!("SELECT count(*) FROM matters m {}", list_filter()),
            &[&f.rc_id, &f.estate_id, &f.status, &f.title],
        )
        .await?
        .get(0))
}

/// One page of the matters the filter finds, newest first.
pub async fn matter_page(
    conn: &TenantConn,
    f: &MatterFilter<'_>,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<MatterRow>> {
    Ok(conn
        .query(
            &format!(
                "{SELECT} {} ORDER BY m.created_at DESC LIMIT $5 OFFSET $6",
                list_filter()
            ),
            &[&f.rc_id, &f.estate_id, &f.status, &f.title, &limit, &offset],
        )
        .await?
        .iter()
        .map(matter_row)
        .collect())
}

/// The matters owners of `owner`'s estates can see (approved and later), newest first.
pub async fn owner_matters(conn: &TenantConn, owner: Uuid) -> ApiResult<Vec<MatterRow>> {
    Ok(conn
            .query(
                &format!(
                    "{SELECT} WHERE kind = 'matter' AND status IN ('approved', 'open', 'closed', 'cancelled') AND estate_id IN (
                        SELECT u.estate_id FROM unit_holders h JOIN units u ON u.id = h.unit_id WHERE h.owner_id = $1 AND h.ended_at IS NULL)
                     ORDER BY created_at DESC"
                ),
                &[&owner],
            )
            .await?
            .iter()
            .map(matter_row)
            .collect())
}

/// A matter as staff change it: its estate, stored status and window.
pub struct StaffMatterRow {
    pub estate_id: Uuid,
    pub status: String,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
}

/// Locks the matter's row (FOR UPDATE), if it is a matter in the jurisdiction `rc_id`.
pub async fn lock_staff_matter(
    conn: &TenantConn,
    rc_id: Option<Uuid>,
    id: Uuid,
) -> ApiResult<Option<StaffMatterRow>> {
    Ok(conn
        .query_opt(
            &format!("SELECT m.estate_id, m.status, m.opens_at, m.closes_at FROM matters m JOIN estates e ON e.id = m.estate_id WHERE m.id = $2 AND m.kind = 'matter' AND {} FOR UPDATE OF m", estate_in_scope(1)),
            &[&rc_id, &id],
        )
        .await?
        .map(|row| StaffMatterRow {
            estate_id: row.get(0),
            status: row.get(1),
            opens_at: row.get(2),
            closes_at: row.get(3),
        }))
}

// Matter types.

/// The estate's matter types, by name.
pub async fn matter_types(conn: &TenantConn, estate: Uuid) -> ApiResult<Vec<String>> {
    Ok(conn
        .query(
            "SELECT name FROM matter_types WHERE estate_id = $1 ORDER BY name",
            &[&estate],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Adds a type to the estate's list, unless it is there.
pub async fn add_matter_type(conn: &TenantConn, estate: Uuid, name: &str) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO matter_types (estate_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&estate, &name],
    )
    .await?;
    Ok(())
}

/// Removes a type from the estate's list; returns how many were removed (0 or 1).
pub async fn delete_matter_type(conn: &TenantConn, estate: Uuid, name: &str) -> ApiResult<u64> {
    Ok(conn
        .execute(
            "DELETE FROM matter_types WHERE estate_id = $1 AND name = $2",
            &[&estate, &name],
        )
        .await?)
}

// Creating a matter.

/// What an estate's matters default to.
pub struct EstateSettingsRow {
    pub parking_counts: bool,
    pub storage_counts: bool,
    pub deliberation_needs_approval: bool,
}

/// The estate's counting settings (the estate must exist).
pub async fn estate_settings(conn: &TenantConn, estate: Uuid) -> ApiResult<EstateSettingsRow> {
    let estate = conn.query_one("SELECT parking_counts, storage_counts, deliberation_needs_approval FROM estates WHERE id = $1", &[&estate]).await?;
    Ok(EstateSettingsRow {
        parking_counts: estate.get(0),
        storage_counts: estate.get(1),
        deliberation_needs_approval: estate.get(2),
    })
}

/// How many of the attachments are documents uploaded by this uploader (any staff, for staff).
pub async fn own_documents(
    conn: &TenantConn,
    ids: &[Uuid],
    kind: &str,
    uploader: Option<Uuid>,
) -> ApiResult<i64> {
    Ok(conn
                .query_one(
                    "SELECT count(DISTINCT id) FROM attachments WHERE id = ANY($1) AND purpose = 'document' AND uploader_kind = $2 AND ($2 = 'staff' OR uploader_id = $3)",
                    &[&ids, &kind, &uploader],
                )
                .await?
                .get(0))
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
    conn.execute(
            "INSERT INTO matters (id, estate_id, type_name, title, content, importance, scope_buildings, opens_at, closes_at, signature_required,
                                  law_item, rule_set, rule_change_reason, settings, ledger_salt, attachment_ids, status, created_by_kind, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            &[
                &m.id,
                &m.estate_id,
                &m.type_name,
                &m.title,
                &m.content,
                &m.importance,
                m.scope_buildings,
                &m.opens_at,
                &m.closes_at,
                &m.signature_required,
                &m.law_item,
                &m.rule_set,
                m.rule_change_reason,
                &m.settings,
                &m.ledger_salt,
                &m.attachment_ids,
                &m.status,
                &m.created_by_kind,
                &m.created_by,
            ],
        )
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
    conn.execute(
            "INSERT INTO matter_deadline_changes (matter_id, old_closes, new_closes, staff_id) VALUES ($1, $2, $3, $4)",
            &[&id, &old, &new, &staff],
        )
        .await?;
    Ok(())
}

/// Moves the matter's deadline.
pub async fn set_closes_at(conn: &TenantConn, id: Uuid, closes_at: DateTime<Utc>) -> ApiResult<()> {
    conn.execute(
        "UPDATE matters SET closes_at = $2, updated_at = now() WHERE id = $1",
        &[&id, &closes_at],
    )
    .await?;
    Ok(())
}

/// Deletes the matter.
pub async fn delete_matter(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute("DELETE FROM matters WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

/// Marks the matter cancelled, with the reason.
pub async fn cancel_matter(conn: &TenantConn, id: Uuid, reason: &str) -> ApiResult<()> {
    conn.execute("UPDATE matters SET status = 'cancelled', cancel_reason = $2, updated_at = now() WHERE id = $1", &[&id, &reason]).await?;
    Ok(())
}

/// Marks the matter closed, with its result and when it closed.
pub async fn close_matter(
    conn: &TenantConn,
    id: Uuid,
    result: &serde_json::Value,
    closed_at: &DateTime<Utc>,
) -> ApiResult<()> {
    conn.execute("UPDATE matters SET status = 'closed', result = $2, closed_at = $3, updated_at = now() WHERE id = $1", &[&id, result, closed_at])
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
    conn.execute(
        "UPDATE matters SET status = $2, review_reason = $3, updated_at = now() WHERE id = $1",
        &[&id, &to, &reason],
    )
    .await?;
    Ok(())
}
