//! Every statement on `attachments`: the metadata of uploaded files (the bytes are in the object
//! store), written with diesel's query builder over the typed schema. Rows are read into
//! [`AttachmentRow`] here, and nowhere else.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::{error::ApiResult, schema::tenant::attachments, tenancy::conn::TenantConn};

/// An attachment as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = attachments, check_for_backend(diesel::pg::Pg))]
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

/// The attachment `id`, or `None` when there is none.
pub async fn attachment(conn: &TenantConn, id: Uuid) -> ApiResult<Option<AttachmentRow>> {
    Ok(conn
        .optional(
            attachments::table
                .find(id)
                .select(AttachmentRow::as_select()),
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
            diesel::insert_into(attachments::table)
                .values((
                    attachments::id.eq(a.id),
                    attachments::purpose.eq(a.purpose),
                    attachments::file_name.eq(a.file_name),
                    attachments::size_bytes.eq(a.size_bytes),
                    attachments::content_type.eq(a.content_type),
                    attachments::sha256.eq(a.sha256),
                    attachments::object_key.eq(a.object_key),
                    attachments::uploader_kind.eq(a.uploader_kind),
                    a.uploader_id.map(|u| attachments::uploader_id.eq(u)),
                ))
                .returning(AttachmentRow::as_returning()),
        )
        .await?)
}

/// Binds uploaded files to the estate whose matter, ballot or sign-up uses them: from then on
/// only staff of that estate's jurisdiction (and owners, for the documents of matters they may
/// see) read them, each read audited. Until bound, a file is its uploader's alone.
pub async fn bind_to_estate(conn: &TenantConn, estate: Uuid, ids: &[Uuid]) -> ApiResult<()> {
    conn.execute(
        diesel::update(
            attachments::table
                .filter(attachments::id.eq_any(ids))
                .filter(attachments::estate_id.is_null()),
        )
        .set(attachments::estate_id.eq(estate)),
    )
    .await?;
    Ok(())
}
