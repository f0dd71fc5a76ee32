//! Every statement on `attachments`: the metadata of uploaded files (the bytes are in the object
//! store). Rows are read by column name into [`AttachmentRow`] here (`QueryableByName`), and
//! nowhere else.

use chrono::{DateTime, Utc};
use diesel::{sql_query, sql_types as sql, QueryableByName};
use uuid::Uuid;

use crate::{error::ApiResult, tenancy::conn::TenantConn};

/// An attachment's columns, named as the fields of [`AttachmentRow`].
const COLUMNS: &str = "id, purpose, file_name, size_bytes, content_type, sha256, uploader_kind, uploader_id, created_at, object_key, estate_id";

/// An attachment as stored (the columns of [`COLUMNS`]).
#[derive(QueryableByName)]
pub struct AttachmentRow {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    /// The stored text (`proof`, `signature`, `document`).
    #[diesel(sql_type = sql::Text)]
    pub purpose: String,
    #[diesel(sql_type = sql::Text)]
    pub file_name: String,
    #[diesel(sql_type = sql::BigInt)]
    pub size_bytes: i64,
    #[diesel(sql_type = sql::Text)]
    pub content_type: String,
    #[diesel(sql_type = sql::Text)]
    pub sha256: String,
    #[diesel(sql_type = sql::Text)]
    pub uploader_kind: String,
    #[diesel(sql_type = sql::Uuid)]
    pub uploader_id: Uuid,
    #[diesel(sql_type = sql::Timestamptz)]
    pub created_at: DateTime<Utc>,
    /// Where the bytes are in the object store.
    #[diesel(sql_type = sql::Text)]
    pub object_key: String,
    /// The estate whose matter, ballot or sign-up uses it; `None` until something does.
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub estate_id: Option<Uuid>,
}

/// The attachment `id`, or `None` when there is none.
pub async fn attachment(conn: &TenantConn, id: Uuid) -> ApiResult<Option<AttachmentRow>> {
    Ok(conn
        .optional(
            sql_query(format!("SELECT {COLUMNS} FROM attachments WHERE id = $1"))
                .bind::<sql::Uuid, _>(id),
        )
        .await?)
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
    Ok(conn
        .first(
            sql_query(format!(
                "INSERT INTO attachments (id, purpose, file_name, size_bytes, content_type, sha256, object_key, uploader_kind, uploader_id)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
            ))
            .bind::<sql::Uuid, _>(a.id)
            .bind::<sql::Text, _>(a.purpose)
            .bind::<sql::Text, _>(a.file_name)
            .bind::<sql::BigInt, _>(a.size_bytes)
            .bind::<sql::Text, _>(a.content_type)
            .bind::<sql::Text, _>(a.sha256)
            .bind::<sql::Text, _>(a.object_key)
            .bind::<sql::Text, _>(a.uploader_kind)
            .bind::<sql::Nullable<sql::Uuid>, _>(a.uploader_id),
        )
        .await?)
}

/// Binds uploaded files to the estate whose matter, ballot or sign-up uses them: from then on
/// only staff of that estate's jurisdiction (and owners, for the documents of matters they may
/// see) read them, each read audited. Until bound, a file is its uploader's alone.
pub async fn bind_to_estate(conn: &TenantConn, estate: Uuid, ids: &[Uuid]) -> ApiResult<()> {
    conn.execute(
        sql_query("UPDATE attachments SET estate_id = $1 WHERE id = ANY($2) AND estate_id IS NULL")
            .bind::<sql::Uuid, _>(estate)
            .bind::<sql::Array<sql::Uuid>, _>(ids),
    )
    .await?;
    Ok(())
}
