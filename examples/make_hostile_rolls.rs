//! Writes the hostile "housing rolls" of scripts/bench-hostile-imports.sh into a folder: each
//! small on disk and built to make a naive reader allocate without bound.
//! `cargo run --example make_hostile_rolls -- <folder>`

use rust_xlsxwriter::{Workbook, Worksheet, XlsxError};

fn roll(
    folder: &str,
    name: &str,
    fill: impl FnOnce(&mut Worksheet) -> Result<(), XlsxError>,
) -> Result<(), XlsxError> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in [
        "楼号",
        "单元号",
        "户号",
        "房产类型",
        "建筑面积",
        "业主姓名",
        "手机号",
        "是否开发商未售",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h)?;
    }
    fill(ws)?;
    wb.save(format!("{folder}/{name}.xlsx"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let folder = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    // Cells A1 and XFD1048576: the whole grid between them.
    roll(&folder, "whole-grid", |ws| {
        ws.write_string(1_048_575, 16_383, "x").map(drop)
    })?;
    // A1 and XFD500.
    roll(&folder, "wide", |ws| {
        ws.write_string(500, 16_383, "x").map(drop)
    })?;
    // 400,000 rows with no cells.
    roll(&folder, "bare-rows", |ws| {
        (1..400_000u32).try_for_each(|r| ws.set_row_height(r, 20).map(drop))
    })?;
    // 100,000 rows of one cell each.
    roll(&folder, "many-rows", |ws| {
        (1..=100_000u32).try_for_each(|r| ws.write_string(r, 0, "1").map(drop))
    })?;
    // Shared strings inflating to about 36 MB.
    roll(&folder, "inflating", |ws| {
        (0..1_200u32).try_for_each(|r| {
            ws.write_string(r + 1, 9, format!("{r}{}", "长".repeat(10_000)))
                .map(drop)
        })
    })?;
    Ok(())
}
