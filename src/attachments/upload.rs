//! A multipart upload read as a stream: the size limit is enforced while reading, so an
//! oversized file is refused without being buffered whole.

use std::marker::PhantomData;

use poem::{web::Multipart, FromRequest, Request, RequestBody};
use poem_openapi::{
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::multipart::Upload,
    Multipart as MultipartSchema,
};
use tokio::io::AsyncReadExt;

use crate::error::{ApiError, ApiResult};

/// Only for the spec: the form an attachment upload reads (purpose, then file).
#[derive(MultipartSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    purpose: crate::attachments::Purpose,
    /// The file itself.
    file: Upload,
}

/// Only for the spec: a form holding just a file.
#[derive(MultipartSchema)]
#[allow(dead_code)]
pub struct FileForm {
    /// The file itself.
    file: Upload,
}

/// A multipart body read as a stream; `F` is only the form the spec declares for it.
pub struct StreamedUpload<F = UploadForm>(pub Multipart, PhantomData<F>);

impl<F: Payload + Sync> Payload for StreamedUpload<F> {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        content_type.starts_with("multipart/form-data")
    }

    fn schema_ref() -> MetaSchemaRef {
        F::schema_ref()
    }

    fn register(registry: &mut Registry) {
        F::register(registry);
    }
}

impl<F: Payload + Sync> ParsePayload for StreamedUpload<F> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(StreamedUpload(
            Multipart::from_request(request, body).await?,
            PhantomData,
        ))
    }
}

impl_apirequest_for_payload!(StreamedUpload<F>, F: Payload + Sync);

pub struct ReceivedFile {
    pub purpose: Option<String>,
    pub file_name: Option<String>,
    pub bytes: Vec<u8>,
}

fn malformed(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "upload.malformed",
        format!("上传内容格式错误：{e}"),
        format!("Malformed upload: {e}"),
    )
}

pub fn too_large(limit: usize) -> ApiError {
    let mib = limit as f64 / 1024.0 / 1024.0;
    ApiError::new(
        poem::http::StatusCode::PAYLOAD_TOO_LARGE,
        "upload.too_large",
        format!("文件过大，单个文件不能超过 {mib:.0} MB"),
        format!("File too large; the limit is {mib:.0} MiB"),
    )
}

/// The longest file name kept (shown to owners and sent back in `Content-Disposition`).
pub const FILE_NAME_LIMIT: usize = 200;

/// A file name follows the rules of every other text (`text_input`): refused before the file is
/// read, naming the `file` field.
fn check_file_name(name: &str) -> ApiResult<()> {
    if name.chars().any(crate::text_input::is_refused) {
        return Err(crate::text_input::refused("file"));
    }
    if name.chars().nth(FILE_NAME_LIMIT).is_some() {
        return Err(ApiError::field(
            "file",
            "text.too_long",
            format!("文件名最多 {FILE_NAME_LIMIT} 个字，请改短后重新上传"),
            format!("The file name takes at most {FILE_NAME_LIMIT} characters"),
        ));
    }
    Ok(())
}

impl<F> StreamedUpload<F> {
    /// Reads the `purpose` field and the `file` field, stopping as soon as the file passes `limit`.
    pub async fn receive(mut self, limit: usize) -> ApiResult<ReceivedFile> {
        let mut received = ReceivedFile {
            purpose: None,
            file_name: None,
            bytes: Vec::new(),
        };
        let mut saw_file = false;
        while let Some(field) = self.0.next_field().await.map_err(malformed)? {
            match field.name() {
                Some("purpose") => {
                    received.purpose =
                        Some(field.text().await.map_err(malformed)?.trim().to_string())
                }
                Some("file") if !saw_file => {
                    saw_file = true;
                    received.file_name = field.file_name().map(str::to_owned);
                    if let Some(name) = &received.file_name {
                        check_file_name(name)?;
                    }
                    let mut reader = Box::pin(field.into_async_read());
                    let mut chunk = vec![0u8; 64 * 1024];
                    loop {
                        let n = reader.read(&mut chunk).await.map_err(malformed)?;
                        if n == 0 {
                            break;
                        }
                        if received.bytes.len() + n > limit {
                            return Err(too_large(limit));
                        }
                        received.bytes.extend_from_slice(&chunk[..n]);
                    }
                }
                _ => {}
            }
        }
        if !saw_file {
            return Err(ApiError::field(
                "file",
                "upload.file_missing",
                "请选择要上传的文件",
                "No file was sent",
            ));
        }
        Ok(received)
    }
}
