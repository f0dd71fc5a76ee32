//! Every statement on the audit logs: the tenant's `audit_log` (written by every staff write,
//! read by street staff) and `platform.audit_log`. Rows are read by position here and nowhere
//! else, so the move to diesel touches one file.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{db::Db, error::ApiResult, tenancy::conn::TenantConn};

/// What an entry says: who did what to which object, under which request.
pub struct NewEntry<'a> {
    pub actor_kind: &'static str,
    pub actor_id: Option<Uuid>,
    pub operation: String,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub request_id: String,
}

/// Appends an entry to the tenant's log, with what happened when it is worth keeping.
pub async fn insert_entry(
    db: &dyn Db,
    entry: &NewEntry<'_>,
    detail: Option<serde_json::Value>,
) -> ApiResult<()> {
    db.execute(
        "INSERT INTO audit_log (actor_kind, actor_id, operation, object_type, object_id, request_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&entry.actor_kind, &entry.actor_id, &entry.operation, &entry.object_type, &entry.object_id, &entry.request_id, &detail],
    )
    .await?;
    Ok(())
}

/// Appends an entry to the platform's log (its actors are platform staff, so no kind).
pub async fn insert_platform_entry(db: &dyn Db, entry: &NewEntry<'_>) -> ApiResult<()> {
    db.execute(
        "INSERT INTO platform.audit_log (actor_id, operation, object_type, object_id, request_id)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &entry.actor_id,
            &entry.operation,
            &entry.object_type,
            &entry.object_id,
            &entry.request_id,
        ],
    )
    .await?;
    Ok(())
}

/// An entry of the tenant's log as stored (without its detail), in the order [`entry_row`]
/// reads.
pub struct EntryRow {
    pub id: i64,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub operation: String,
    pub object_type: String,
    pub object_id: String,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

/// The one place an entry row is read by position (the columns of [`entries_page`]).
fn entry_row(r: &Row) -> EntryRow {
    EntryRow {
        id: r.get(0),
        actor_kind: r.get(1),
        actor_id: r.get(2),
        operation: r.get(3),
        object_type: r.get(4),
        object_id: r.get(5),
        request_id: r.get(6),
        at: r.get(7),
    }
}

/// How many entries have the operation id `operation` (`None`: every entry).
pub async fn count_entries(conn: &TenantConn, operation: Option<&str>) -> ApiResult<i64> {
    Ok(conn
        .query_one(
            "SELECT count(*) FROM audit_log WHERE $1::text IS NULL OR operation = $1",
            &[&operation],
        )
        .await?
        .get(0))
}

/// One page of the entries with the operation id `operation` (`None`: every entry), newest
/// first.
pub async fn entries_page(
    conn: &TenantConn,
    operation: Option<&str>,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<EntryRow>> {
    let rows = conn
        .query(
            "SELECT id, actor_kind, actor_id, operation, object_type, object_id, request_id, at FROM audit_log
                  WHERE $1::text IS NULL OR operation = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
            &[&operation, &limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(entry_row).collect())
}
