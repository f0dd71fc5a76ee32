//! Every statement on `attachments`: the metadata of uploaded files (the bytes are in the object
//! store). Rows are read by position here and nowhere else, so the move to diesel touches one
//! file.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{error::ApiResult, tenancy::conn::TenantConn};

/// An attachment's columns, in the order [`attachment_row`] reads.
const COLUMNS: &str = "id, purpose, file_name, size_bytes, content_type, sha256, uploader_kind, uploader_id, created_at, object_key, estate_id";

/// An attachment as stored.
pub struct AttachmentRow {
    pub id: Uuid,
    /// The stored text (`proof`, `signature`, `document`).
    pub purpose: String,
    pub file_name: String,
    pub size_bytes: i64,
    pub content_type: String,
    pub sha256: String,
    pub uploader_kind: String,
    pub uploader_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Where the bytes are in the object store.
    pub object_key: String,
    /// The estate whose matter, ballot or sign-up uses it; `None` until something does.
    pub estate_id: Option<Uuid>,
}

/// The one place an attachment row is read by position (the columns of [`COLUMNS`]).
fn attachment_row(r: &Row) -> AttachmentRow {
    AttachmentRow {
        id: r.get(0),
        purpose: r.get(1),
        file_name: r.get(2),
        size_bytes: r.get(3),
        content_type: r.get(4),
        sha256: r.get(5),
        uploader_kind: r.get(6),
        uploader_id: r.get(7),
        created_at: r.get(8),
        object_key: r.get(9),
        estate_id: r.get(10),
    }
}

/// The attachment `id`, or `None` when there is none.
pub async fn attachment(conn: &TenantConn, id: Uuid) -> ApiResult<Option<AttachmentRow>> {
    let row = conn
        .query_opt(
            &format!("SELECT {COLUMNS} FROM attachments WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(attachment_row))
}

/// What an upload stores about its file, the bytes already in the object store.
pub struct NewAttachment<'a> {
    pub id: Uuid,
    /// The stored text (`proof`, `signature`, `document`).
    pub purpose: &'a str,
    pub file_name: &'a str,
    pub size_bytes: i64,
    pub content_type: &'a str,
    pub sha256: &'a str,
    pub object_key: &'a str,
    pub uploader_kind: &'a str,
    pub uploader_id: Option<Uuid>,
}

/// Records an uploaded file, bound to no estate yet, as stored.
pub async fn insert_attachment(
    conn: &TenantConn,
    a: &NewAttachment<'_>,
) -> ApiResult<AttachmentRow> {
    let row = conn
        .query_one(
            &format!(
                "INSERT INTO attachments (id, purpose, file_name, size_bytes, content_type, sha256, object_key, uploader_kind, uploader_id)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
            ),
            &[&a.id, &a.purpose, &a.file_name, &a.size_bytes, &a.content_type, &a.sha256, &a.object_key, &a.uploader_kind, &a.uploader_id],
        )
        .await?;
    Ok(attachment_row(&row))
}

/// Binds uploaded files to the estate whose matter, ballot or sign-up uses them: from then on
/// only staff of that estate's jurisdiction (and owners, for the documents of matters they may
/// see) read them, each read audited. Until bound, a file is its uploader's alone.
pub async fn bind_to_estate(conn: &TenantConn, estate: Uuid, ids: &[Uuid]) -> ApiResult<()> {
    conn.execute(
        "UPDATE attachments SET estate_id = $1 WHERE id = ANY($2) AND estate_id IS NULL",
        &[&estate, &ids],
    )
    .await?;
    Ok(())
}
