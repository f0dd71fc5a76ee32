//! Spreadsheet downloads (templates, exports): one response type for every domain, and one
//! way to lay out an export that staff open in Excel or WPS: numbers as numbers (an area sums),
//! times as date cells in Beijing time, the header frozen, filtered and repeated on every
//! printed page, landscape when wide.

use bytes::Bytes;
use chrono::{DateTime, Datelike, Timelike, Utc};
use poem_openapi::{payload::Binary, ApiResponse};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

#[derive(ApiResponse)]
pub enum XlsxFile {
    /// An .xlsx workbook.
    #[oai(
        status = 200,
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )]
    Ok(Binary<Bytes>, #[oai(header = "content-disposition")] String),
}

/// The workbook as a download named `file_name` (Chinese), `ascii_name` for old clients.
pub fn file(bytes: Vec<u8>, file_name: &str, ascii_name: &str) -> XlsxFile {
    XlsxFile::Ok(
        Binary(Bytes::from(bytes)),
        crate::download::disposition_with_fallback(file_name, ascii_name),
    )
}

/// What a column holds, which decides its cells' type and number format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// Integer hundredths of a m², written as a number shown `0.00`.
    Area,
    /// A whole number.
    Count,
    /// An instant, written as a date cell in Beijing time.
    Time,
}

/// One column: its header, its width in characters and what it holds.
pub struct Column {
    pub header: &'static str,
    pub width: f64,
    pub kind: Kind,
}

impl Column {
    pub const fn new(header: &'static str, width: f64, kind: Kind) -> Self {
        Self {
            header,
            width,
            kind,
        }
    }
}

/// One cell's value; it must match its column's kind.
pub enum Value {
    Text(String),
    Centi(i64),
    Count(i64),
    Time(DateTime<Utc>),
}

/// Wider than this (in characters) prints landscape.
const PORTRAIT_WIDTH: f64 = 90.0;

/// Writes `rows` under `columns` as the sheet `name` of `wb`.
pub fn export_sheet(
    wb: &mut Workbook,
    name: &str,
    columns: &[Column],
    rows: impl IntoIterator<Item = Vec<Value>>,
) -> Result<(), XlsxError> {
    let header = Format::new().set_bold().set_text_wrap();
    let area = Format::new().set_num_format("0.00");
    let count = Format::new().set_num_format("0");
    let time = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let ws = wb.add_worksheet();
    ws.set_name(name)?;
    for (c, column) in columns.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, column.header, &header)?;
        ws.set_column_width(c as u16, column.width)?;
    }
    let mut last_row = 0;
    for (i, row) in rows.into_iter().enumerate() {
        let r = i as u32 + 1;
        last_row = r;
        for (c, value) in row.into_iter().enumerate() {
            let c = c as u16;
            match value {
                Value::Text(text) => ws.write_string(r, c, cell_text(&text))?,
                Value::Centi(centi) => {
                    ws.write_number_with_format(r, c, centi as f64 / 100.0, &area)?
                }
                Value::Count(n) => ws.write_number_with_format(r, c, n as f64, &count)?,
                Value::Time(at) => ws.write_datetime_with_format(r, c, beijing(at)?, &time)?,
            };
        }
    }
    let last_col = columns.len().saturating_sub(1) as u16;
    lay_out_for_reading(
        ws,
        last_row,
        last_col,
        columns.iter().map(|c| c.width).sum(),
    )
}

/// Frozen header with a filter, the header on every printed page, A4 one page wide.
fn lay_out_for_reading(
    ws: &mut Worksheet,
    last_row: u32,
    last_col: u16,
    width: f64,
) -> Result<(), XlsxError> {
    ws.set_freeze_panes(1, 0)?;
    ws.autofilter(0, 0, last_row, last_col)?;
    ws.set_repeat_rows(0, 0)?;
    ws.set_paper_size(9);
    ws.set_print_fit_to_pages(1, 0);
    if width > PORTRAIT_WIDTH {
        ws.set_landscape();
    }
    Ok(())
}

/// The instant as Beijing's wall-clock time (China has no daylight saving).
fn beijing(at: DateTime<Utc>) -> Result<ExcelDateTime, XlsxError> {
    let local = at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"));
    ExcelDateTime::from_ymd(local.year() as u16, local.month() as u8, local.day() as u8)?.and_hms(
        local.hour() as u16,
        local.minute() as u8,
        local.second() as f64,
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
