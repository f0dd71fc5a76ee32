//! Upload and download of attachments.

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use poem::web::Data;
use poem_openapi::{
    param::Path,
    payload::{Binary, Json},
    ApiResponse, Object, OpenApi,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    detect, service,
    store::{self, AttachmentRow, NewAttachment},
    upload::StreamedUpload,
    Purpose,
};
use crate::{
    audit,
    auth::principal::Principal,
    error::{ApiError, ApiResult},
    state::AppState,
    storage::Storage,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AttachmentView {
    pub id: Uuid,
    pub purpose: Purpose,
    pub file_name: String,
    pub size_bytes: i64,
    pub content_type: String,
    pub sha256: String,
    pub uploader_kind: String,
    pub uploader_id: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DownloadLink {
    /// A signed URL on the object store (S3), or the API's own content path (local store).
    pub url: String,
    /// When a signed URL stops working; absent for the API path.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<AttachmentView>),
}

#[derive(ApiResponse)]
pub enum Content {
    /// The file, with its detected content type.
    #[oai(status = 200)]
    Ok(
        Binary<Bytes>,
        #[oai(header = "content-type")] String,
        #[oai(header = "content-disposition")] String,
    ),
}

#[derive(Default)]
pub struct AttachmentsApi;

impl From<AttachmentRow> for AttachmentView {
    /// The stored metadata as the API shows it: the purpose as its enum; where the bytes are
    /// and which estate uses the file stay inside.
    fn from(r: AttachmentRow) -> Self {
        AttachmentView {
            id: r.id,
            purpose: Purpose::from_stored(&r.purpose),
            file_name: r.file_name,
            size_bytes: r.size_bytes,
            content_type: r.content_type,
            sha256: r.sha256,
            uploader_kind: r.uploader_kind,
            uploader_id: r.uploader_id,
            created_at: r.created_at,
        }
    }
}

/// The attachment `id` with its object key, if `principal` may read it (see
/// [`service::may_read`]); anything else answers "not found", so its existence is not revealed.
/// A read of a file bound to an estate is audited.
async fn readable(
    state: &AppState,
    tenant: &Tenant,
    principal: &Principal,
    id: Uuid,
) -> ApiResult<(AttachmentView, String)> {
    let conn = TenantConn::begin(&state.pool, tenant).await?;
    let missing =
        || ApiError::not_found("attachment.not_found", "附件不存在", "Attachment not found");
    let row = store::attachment(&conn, id).await?.ok_or_else(missing)?;
    if !service::may_read(&conn, principal, &row).await? {
        return Err(missing());
    }
    if row.estate_id.is_some() {
        audit::record(&conn, principal, "attachment", &id.to_string()).await?;
    }
    conn.commit().await?;
    let key = row.object_key.clone();
    Ok((AttachmentView::from(row), key))
}

#[OpenApi(tag = "ApiTags::Attachments")]
impl AttachmentsApi {
    /// 上传附件 / Upload an attachment (multipart: `purpose`, then `file`).
    #[oai(
        path = "/api/attachments",
        method = "post",
        operation_id = "attachment_upload"
    )]
    async fn upload(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        body: StreamedUpload,
    ) -> ApiResult<Created> {
        let file = body.receive(state.config.upload_limit_bytes).await?;
        let purpose = file
            .purpose
            .as_deref()
            .and_then(Purpose::parse)
            .ok_or_else(|| {
                ApiError::field(
                    "purpose",
                    "attachment.purpose_invalid",
                    "用途须为 proof、signature 或 document",
                    "purpose must be proof, signature or document",
                )
            })?;
        let content_type = detect(&file.bytes)
            .filter(|m| purpose.accepts(m))
            .ok_or_else(|| {
                ApiError::field(
                    "file",
                    "attachment.type_not_allowed",
                    match purpose {
                        Purpose::Document => {
                            "文件类型不支持，请上传 PDF、Word、Excel、PowerPoint 或图片"
                        }
                        _ => "文件类型不支持，请上传 JPG、PNG 等图片",
                    },
                    "This file type is not allowed for that purpose",
                )
            })?;
        let id = Uuid::new_v4();
        let key = Storage::key(&tenant, "attachments", id)?;
        let sha256 = hex::encode(Sha256::digest(&file.bytes));
        let size = file.bytes.len() as i64;
        let file_name = file
            .file_name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "未命名文件".to_string());
        // Object first, then metadata: a store outage leaves no row behind.
        state.storage.put(&key, Bytes::from(file.bytes)).await?;
        let (kind, uploader) = principal.actor();
        let saved = async {
            let conn = TenantConn::begin(&state.pool, &tenant).await?;
            let new = NewAttachment {
                id,
                purpose: purpose.as_str(),
                file_name: &file_name,
                size_bytes: size,
                content_type,
                sha256: &sha256,
                object_key: key.as_ref(),
                uploader_kind: kind,
                uploader_id: uploader,
            };
            let row = store::insert_attachment(&conn, &new).await?;
            if matches!(*principal, Principal::Staff { .. }) {
                audit::record(&conn, &principal, "attachment", &id.to_string()).await?;
            }
            conn.commit().await?;
            Ok::<_, ApiError>(AttachmentView::from(row))
        }
        .await;
        match saved {
            Ok(view) => Ok(Created::Created(Json(view))),
            Err(e) => {
                state.storage.delete(&key).await;
                Err(e)
            }
        }
    }

    /// 附件信息 / Attachment metadata.
    #[oai(
        path = "/api/attachments/:id",
        method = "get",
        operation_id = "attachment_get"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AttachmentView>> {
        Ok(Json(readable(&state, &tenant, &principal, id.0).await?.0))
    }

    /// 下载附件 / Download the file through the API.
    #[oai(
        path = "/api/attachments/:id/content",
        method = "get",
        operation_id = "attachment_download"
    )]
    async fn download(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Content> {
        let (attachment, key) = readable(&state, &tenant, &principal, id.0).await?;
        let key = object_store::path::Path::parse(key).map_err(ApiError::internal)?;
        let bytes = state.storage.get(&key).await?;
        Ok(Content::Ok(
            Binary(bytes),
            attachment.content_type,
            crate::download::disposition(&attachment.file_name),
        ))
    }

    /// 下载链接 / A download link: a short-lived signed URL on S3, else the API content path.
    #[oai(
        path = "/api/attachments/:id/link",
        method = "get",
        operation_id = "attachment_link"
    )]
    async fn link(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DownloadLink>> {
        let (attachment, key) = readable(&state, &tenant, &principal, id.0).await?;
        let key = object_store::path::Path::parse(key).map_err(ApiError::internal)?;
        Ok(Json(match state.storage.signed_url(&key).await? {
            Some((url, ttl)) => DownloadLink {
                url,
                expires_at: Some(Utc::now() + Duration::from_std(ttl).unwrap_or_default()),
            },
            None => DownloadLink {
                url: format!("/api/attachments/{}/content", attachment.id),
                expires_at: None,
            },
        }))
    }
}
