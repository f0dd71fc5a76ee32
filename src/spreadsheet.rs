//! Reading uploaded spreadsheets within fixed bounds, whatever the file claims: every xlsx the
//! service reads (the housing roll; later financial statements) goes through here.
//!
//! A hostile file can be small and still ask for gigabytes: a sheet naming cells A1 and
//! XFD1048576 makes a dense reader allocate every cell between them, and a zip entry can inflate
//! a thousandfold. So the archive is first inflated into a sink, counting bytes, and refused past
//! `max_unzipped_bytes`; then the first sheet is streamed cell by cell, refused at the first cell
//! beyond `max_rows` or `max_columns` or past `max_cells`, and only the columns the caller reads
//! are kept. Memory is bounded by the shared strings (within the unzipped budget) plus
//! `max_rows` × the kept columns.

use std::{
    collections::BTreeMap,
    io::{self, Cursor, Read},
};

use calamine::{Data, Reader, Xlsx};

/// What one kind of upload may hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Rows, counted from row 1 (the header included).
    pub max_rows: u32,
    /// Columns, counted from column A.
    pub max_columns: u32,
    /// Non-empty cells in the sheet.
    pub max_cells: u64,
    /// Every entry of the archive, inflated.
    pub max_unzipped_bytes: u64,
}

/// Why a file was refused before its content was looked at.
#[derive(Debug, PartialEq, Eq)]
pub enum SheetError {
    Unreadable,
    NoSheet,
    TooLarge { limit_mib: u64 },
    TooManyRows { limit: u32 },
    TooManyColumns { limit: u32 },
    TooManyCells { limit: u64 },
}

impl SheetError {
    pub fn zh(&self) -> String {
        match self {
            SheetError::Unreadable => "文件无法读取，请上传用模板填写的 .xlsx 文件".into(),
            SheetError::NoSheet => "文件中没有工作表".into(),
            SheetError::TooLarge { limit_mib } => {
                format!("文件解压后超过 {limit_mib} MB，请删除无关内容或分批上传")
            }
            SheetError::TooManyRows { limit } => {
                format!("工作表最多 {limit} 行（含表头），请分批上传")
            }
            SheetError::TooManyColumns { limit } => {
                format!("工作表最多 {limit} 列，请删除模板以外的列")
            }
            SheetError::TooManyCells { limit } => {
                format!("工作表最多 {limit} 个有内容的单元格，请删除无关内容或分批上传")
            }
        }
    }

    pub fn en(&self) -> String {
        match self {
            SheetError::Unreadable => "Not a readable .xlsx file".into(),
            SheetError::NoSheet => "The file has no sheet".into(),
            SheetError::TooLarge { limit_mib } => {
                format!("The file inflates to more than {limit_mib} MB")
            }
            SheetError::TooManyRows { limit } => {
                format!("At most {limit} rows (header included); upload in parts")
            }
            SheetError::TooManyColumns { limit } => {
                format!("At most {limit} columns; remove columns the template does not have")
            }
            SheetError::TooManyCells { limit } => format!("At most {limit} non-empty cells"),
        }
    }
}

/// The first sheet's non-empty rows: 0-based row index → the first `keep` columns.
#[derive(Debug, Default)]
pub struct SheetRows {
    pub rows: BTreeMap<u32, Vec<Data>>,
    /// The leftmost column holding anything (0: column A), if any cell does.
    pub first_column: Option<u32>,
}

/// Reads the first sheet of `bytes` within `limits`, keeping the first `keep` columns.
pub fn first_sheet(bytes: &[u8], keep: usize, limits: &Limits) -> Result<SheetRows, SheetError> {
    check_unzipped_size(bytes, limits.max_unzipped_bytes)?;
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(|_| SheetError::Unreadable)?;
    let name = workbook
        .sheet_names()
        .into_iter()
        .next()
        .ok_or(SheetError::NoSheet)?;
    let mut cells = workbook
        .worksheet_cells_reader(&name)
        .map_err(|_| SheetError::Unreadable)?;
    let mut out = SheetRows::default();
    let mut count = 0u64;
    while let Some(cell) = cells.next_cell().map_err(|_| SheetError::Unreadable)? {
        let (row, column) = cell.get_position();
        if row >= limits.max_rows {
            return Err(SheetError::TooManyRows {
                limit: limits.max_rows,
            });
        }
        if column >= limits.max_columns {
            return Err(SheetError::TooManyColumns {
                limit: limits.max_columns,
            });
        }
        count += 1;
        if count > limits.max_cells {
            return Err(SheetError::TooManyCells {
                limit: limits.max_cells,
            });
        }
        out.first_column = Some(out.first_column.map_or(column, |c| c.min(column)));
        if (column as usize) < keep {
            let values = out
                .rows
                .entry(row)
                .or_insert_with(|| vec![Data::Empty; keep]);
            values[column as usize] = cell.get_value().clone().into();
        }
    }
    Ok(out)
}

/// Inflates every entry into a sink, stopping as soon as the budget is spent (the sizes an
/// archive declares are not trusted).
fn check_unzipped_size(bytes: &[u8], budget: u64) -> Result<(), SheetError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| SheetError::Unreadable)?;
    let mut left = budget;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|_| SheetError::Unreadable)?;
        let inflated = io::copy(&mut entry.take(left + 1), &mut io::sink())
            .map_err(|_| SheetError::Unreadable)?;
        if inflated > left {
            return Err(SheetError::TooLarge {
                limit_mib: budget / (1024 * 1024),
            });
        }
        left -= inflated;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rust_xlsxwriter::Workbook;

    use super::*;

    const SMALL: Limits = Limits {
        max_rows: 100,
        max_columns: 10,
        max_cells: 50,
        max_unzipped_bytes: 1024 * 1024,
    };

    fn book(cells: &[(u32, u16, &str)]) -> Vec<u8> {
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for (r, c, v) in cells {
            ws.write_string(*r, *c, *v).unwrap();
        }
        wb.save_to_buffer().unwrap()
    }

    #[test]
    fn a_sheet_spanning_the_whole_grid_is_refused_at_its_far_cell_without_allocating_it() {
        let bomb = book(&[(0, 0, "楼号"), (1_048_575, 16_383, "x")]);
        assert!(bomb.len() < 10_000, "a small file: {} bytes", bomb.len());
        assert_eq!(
            first_sheet(&bomb, 8, &SMALL).unwrap_err(),
            SheetError::TooManyRows { limit: 100 }
        );
        let wide = book(&[(0, 0, "楼号"), (5, 16_383, "x")]);
        assert_eq!(
            first_sheet(&wide, 8, &SMALL).unwrap_err(),
            SheetError::TooManyColumns { limit: 10 }
        );
    }

    #[test]
    fn cells_past_the_budget_and_inflated_bytes_past_it_are_refused() {
        let many: Vec<(u32, u16, String)> = (0..60).map(|i| (i, 0, format!("v{i}"))).collect();
        let many: Vec<(u32, u16, &str)> =
            many.iter().map(|(r, c, v)| (*r, *c, v.as_str())).collect();
        assert_eq!(
            first_sheet(&book(&many), 8, &SMALL).unwrap_err(),
            SheetError::TooManyCells { limit: 50 }
        );
        // Forty distinct 30,000-character strings: about 1.2 MB inflated, a few kB zipped.
        let long: Vec<String> = (0..40)
            .map(|i| format!("{i}{}", "长".repeat(10_000)))
            .collect();
        let cells: Vec<(u32, u16, &str)> = long
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32, 0, v.as_str()))
            .collect();
        let zipped = book(&cells);
        assert!(zipped.len() < 100_000, "{} bytes", zipped.len());
        assert_eq!(
            first_sheet(&zipped, 8, &SMALL).unwrap_err(),
            SheetError::TooLarge { limit_mib: 1 }
        );
    }

    #[test]
    fn a_sparse_sheet_keeps_only_the_columns_asked_for() {
        let sheet =
            first_sheet(&book(&[(0, 0, "a"), (0, 9, "far"), (3, 1, "b")]), 2, &SMALL).unwrap();
        assert_eq!(sheet.first_column, Some(0));
        assert_eq!(
            sheet.rows.len(),
            2,
            "row 0 and row 3; rows between are not stored"
        );
        assert_eq!(sheet.rows[&3], vec![Data::Empty, Data::String("b".into())]);
        assert_eq!(
            first_sheet(b"not a zip", 2, &SMALL).unwrap_err(),
            SheetError::Unreadable
        );
    }
}
