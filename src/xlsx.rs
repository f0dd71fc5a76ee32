//! Spreadsheet downloads (templates, exports): one response type for every domain.

use bytes::Bytes;
use poem_openapi::{payload::Binary, ApiResponse};

#[derive(ApiResponse)]
pub enum XlsxFile {
    /// An .xlsx workbook.
    #[oai(status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")]
    Ok(Binary<Bytes>, #[oai(header = "content-disposition")] String),
}

pub fn file(bytes: Vec<u8>, file_name: &str) -> XlsxFile {
    XlsxFile::Ok(Binary(Bytes::from(bytes)), crate::attachments::api::disposition(file_name))
}
