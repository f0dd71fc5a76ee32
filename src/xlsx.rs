//! Spreadsheet downloads (templates, exports): one response type for every domain, and the
//! text every export writes into a cell.

use bytes::Bytes;
use poem_openapi::{payload::Binary, ApiResponse};

#[derive(ApiResponse)]
pub enum XlsxFile {
    /// An .xlsx workbook.
    #[oai(
        status = 200,
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )]
    Ok(Binary<Bytes>, #[oai(header = "content-disposition")] String),
}

pub fn file(bytes: Vec<u8>, file_name: &str) -> XlsxFile {
    XlsxFile::Ok(
        Binary(Bytes::from(bytes)),
        crate::download::disposition(file_name),
    )
}

/// Text as an export cell holds it: text that a spreadsheet would read as a formula once the
/// file is saved as CSV (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a
/// leading apostrophe (OWASP's rule against CSV injection).
pub fn cell_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_a_spreadsheet_would_run_as_a_formula_is_defused() {
        assert_eq!(
            super::cell_text("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(super::cell_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(super::cell_text("-1+2"), "'-1+2");
        assert_eq!(super::cell_text("张三"), "张三");
        assert_eq!(super::cell_text("1-1-101"), "1-1-101");
    }
}
