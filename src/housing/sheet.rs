//! The housing roll as a spreadsheet: its columns (shared by the template, the import and the
//! export), the template itself, and reading an uploaded file strictly.

use std::collections::HashMap;

use calamine::Data;
use rust_xlsxwriter::{DataValidation, Format, Workbook, XlsxError};

use super::{area, UnitKind};
use crate::{
    auth::phone,
    spreadsheet::{self, Limits},
};

/// The roll's columns, in order: header (Chinese, as staff see it) and a short key for errors.
pub const COLUMNS: [(&str, &str); 8] = [
    ("楼号", "building"),
    ("单元号", "entrance"),
    ("户号", "room"),
    ("房产类型", "kind"),
    ("建筑面积", "area"),
    ("业主姓名", "owner_name"),
    ("手机号", "owner_phone"),
    ("是否开发商未售", "developer_unsold"),
];

/// Where the area sits in [`COLUMNS`]: read as the cell's number when it is one.
const AREA_COLUMN: usize = 4;

const INSTRUCTIONS: &[&str] = &[
    "房屋信息导入说明",
    "1. 请在“房屋信息”工作表中填写，第一行为表头，请勿修改表头。",
    "2. 楼号、单元号、户号、房产类型、建筑面积、业主姓名、手机号为必填项。",
    "3. 房产类型填写：住宅、商业、车位、储藏室 之一。",
    "4. 建筑面积单位为平方米，须大于 0，最多保留两位小数，例如 89.55。",
    "5. 手机号为 11 位中国大陆手机号，业主认证时验证码将发送到此号码。",
    "6. 是否开发商未售填写“是”或“否”，不填视为“否”。",
    "7. 同一小区内“楼号+单元号+户号”不能重复；已导入的房屋不能再次导入，如需变更请办理过户。",
    "8. 整个文件只要有一行有误，全部不导入，并列出所有错误的行和列，改正后重新上传即可。",
    "9. 导入后房屋信息不可修改（过户除外）。",
];

/// One valid row of the roll.
#[derive(Debug, Clone, PartialEq)]
pub struct RollRow {
    /// Excel row number (1-based, header is row 1), for error reports.
    pub row: u32,
    pub building: String,
    pub entrance: String,
    pub room: String,
    pub kind: UnitKind,
    pub area_centi: i64,
    pub owner_name: String,
    pub owner_phone: String,
    pub developer_unsold: bool,
}

/// A problem in one cell (or the whole row when `column` is None).
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    pub row: u32,
    pub column: Option<usize>,
    pub zh: String,
    pub en: String,
}

impl RowError {
    pub fn new(
        row: u32,
        column: Option<usize>,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) -> Self {
        Self {
            row,
            column,
            zh: zh.into(),
            en: en.into(),
        }
    }

    /// `rows.5.area` or `rows.1`.
    pub fn field(&self) -> String {
        match self.column {
            Some(c) => format!("rows.{}.{}", self.row, COLUMNS[c].1),
            None => format!("rows.{}", self.row),
        }
    }

    pub fn message_zh(&self) -> String {
        match self.column {
            Some(c) => format!(
                "第 {} 行「{}」（{} 列）：{}",
                self.row,
                COLUMNS[c].0,
                column_letter(c),
                self.zh
            ),
            None => format!("第 {} 行：{}", self.row, self.zh),
        }
    }

    pub fn message_en(&self) -> String {
        match self.column {
            Some(c) => format!(
                "row {}, column {} ({}): {}",
                self.row,
                column_letter(c),
                COLUMNS[c].1,
                self.en
            ),
            None => format!("row {}: {}", self.row, self.en),
        }
    }
}

fn column_letter(c: usize) -> char {
    (b'A' + c as u8) as char
}

/// The template staff download: the header row frozen, dropdowns for the unit type and the
/// yes/no column, identifiers and phones formatted as text (so Excel keeps `0101` and does not
/// show a phone as 1.38E+10), areas as numbers, and an instructions sheet.
pub fn template() -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let area = Format::new().set_num_format("0.00");
    let sheet = wb.add_worksheet();
    sheet.set_name("房屋信息")?;
    for (i, (header, field)) in COLUMNS.iter().enumerate() {
        let label = if *header == "建筑面积" {
            "建筑面积（㎡）"
        } else {
            header
        };
        let c = i as u16;
        sheet.write_string_with_format(0, c, label, &bold)?;
        sheet.set_column_width(c, 16)?;
        match *field {
            "building" | "entrance" | "room" | "owner_name" | "owner_phone" => {
                sheet.set_column_format(c, &text)?;
            }
            "area" => {
                sheet.set_column_format(c, &area)?;
            }
            _ => {}
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    let last_row = LIMITS.max_rows - 1;
    let labels: Vec<&str> = UnitKind::ALL.iter().map(|k| k.label()).collect();
    let choose = |field: &str, options: &[&str]| -> Result<DataValidation, XlsxError> {
        DataValidation::new()
            .allow_list_strings(options)?
            .set_error_title("填写有误")?
            .set_error_message(format!("{field}请从下拉列表中选择：{}", options.join("、")))
    };
    sheet.add_data_validation(1, 3, last_row, 3, &choose("房产类型", &labels)?)?;
    sheet.add_data_validation(1, 7, last_row, 7, &choose("是否开发商未售", &["是", "否"])?)?;
    // One example row shows the expected shapes; staff overwrite it.
    let example = ["1", "1", "101", "住宅", "", "张三", "13800138000", "否"];
    for (i, v) in example.iter().enumerate() {
        if i == AREA_COLUMN {
            sheet.write_number_with_format(1, i as u16, 89.55, &area)?;
        } else {
            sheet.write_string_with_format(1, i as u16, *v, &text)?;
        }
    }
    let help = wb.add_worksheet();
    help.set_name("填写说明")?;
    help.set_column_width(0, 100)?;
    for (i, line) in INSTRUCTIONS.iter().enumerate() {
        help.write_string(i as u32, 0, *line)?;
    }
    wb.save_to_buffer()
}

/// A cell as the text a person typed: numbers stored as numbers lose their ".0" (phone
/// 13800138000, room 101), text is trimmed.
fn text(cell: &Data) -> String {
    match cell {
        Data::String(s) => s.trim().to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => format!("{f}"),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => {
            if *b {
                "是".into()
            } else {
                "否".into()
            }
        }
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn header_matches(cell: &str, expected: &str) -> bool {
    let cell = cell.trim();
    cell == expected
        || (cell.starts_with(expected)
            && matches!(
                &cell[expected.len()..],
                "（㎡）" | "(㎡)" | "（m²）" | "(m²)" | "（平方米）" | "(平方米)"
            ))
}

pub type UnitKey = (String, String, String);

/// What an uploaded roll holds: the valid rows, every error, and the unit key of every row
/// that names one (valid or not), so units already on the roll are reported in the same pass.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<RollRow>,
    pub errors: Vec<RowError>,
    pub keys: Vec<(u32, UnitKey)>,
}

impl Parsed {
    fn failed(error: RowError) -> Self {
        Parsed {
            errors: vec![error],
            ..Parsed::default()
        }
    }
}

/// What a housing roll may hold: an estate of up to 50,000 units, the template's columns and a
/// few more, 32 MiB of spreadsheet XML. Within these the import holds at most about 100 MiB.
pub const LIMITS: Limits = Limits {
    max_rows: 50_001,
    max_columns: 26,
    max_cells: 50_001 * 26,
    max_unzipped_bytes: 32 * 1024 * 1024,
};

/// Reads the first sheet (within `LIMITS`) and checks every row. Entirely blank rows are
/// skipped; units repeated within the file are errors.
pub fn read(bytes: &[u8]) -> Parsed {
    let sheet = match spreadsheet::first_sheet(bytes, COLUMNS.len(), &LIMITS) {
        Ok(sheet) => sheet,
        Err(e) => return Parsed::failed(RowError::new(1, None, e.zh(), e.en())),
    };
    let mut rows = sheet.rows.into_iter();
    let (first_row, header) = rows
        .next()
        .map(|(r, cells)| (r, cells.iter().map(text).collect::<Vec<_>>()))
        .unwrap_or_default();
    let header_ok = sheet.first_column == Some(0)
        && header.len() >= COLUMNS.len()
        && COLUMNS
            .iter()
            .enumerate()
            .all(|(i, (h, _))| header_matches(&header[i], h));
    if !header_ok {
        let expected: Vec<&str> = COLUMNS.iter().map(|(h, _)| *h).collect();
        return Parsed::failed(RowError::new(
            first_row + 1,
            None,
            format!(
                "表头不正确，应为：{}。请下载最新模板填写",
                expected.join("、")
            ),
            format!(
                "Wrong headers; expected: {}",
                COLUMNS
                    .iter()
                    .map(|(_, k)| *k)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let mut out = Parsed::default();
    let mut seen: HashMap<UnitKey, u32> = HashMap::new();
    for (index, cells) in rows {
        let row = index + 1;
        let values: Vec<String> = cells.iter().map(text).collect();
        if values.iter().all(String::is_empty) {
            continue;
        }
        let mut duplicate = false;
        if values[..3].iter().all(|v| !v.is_empty()) {
            let key = (values[0].clone(), values[1].clone(), values[2].clone());
            if let Some(first) = seen.get(&key) {
                duplicate = true;
                out.errors.push(RowError::new(
                    row,
                    Some(2),
                    format!("与第 {first} 行是同一套房屋（楼号+单元号+户号重复）"),
                    format!("same unit as row {first}"),
                ));
            } else {
                seen.insert(key.clone(), row);
                out.keys.push((row, key));
            }
        }
        match check_row(row, &cells, &values) {
            Ok(parsed) if !duplicate => out.rows.push(parsed),
            Ok(_) => {}
            Err(mut e) => out.errors.append(&mut e),
        }
    }
    if out.rows.is_empty() && out.errors.is_empty() {
        out.errors.push(RowError::new(
            first_row + 2,
            None,
            "文件中没有房屋数据",
            "The file has no units",
        ));
    }
    out.errors.sort_by_key(|e| (e.row, e.column));
    out
}

fn check_row(row: u32, cells: &[Data], v: &[String]) -> Result<RollRow, Vec<RowError>> {
    let mut errors = Vec::new();
    for (c, value) in v.iter().enumerate().take(7) {
        if value.is_empty() {
            errors.push(RowError::new(row, Some(c), "此项必填", "required"));
        }
    }
    for c in [0, 1, 2, 5] {
        if v[c].chars().count() > 30 {
            errors.push(RowError::new(
                row,
                Some(c),
                "内容过长（最多 30 个字）",
                "too long (30 characters at most)",
            ));
        }
    }
    // The same characters every API text refuses (a name written right to left, a NUL).
    for (c, value) in v.iter().enumerate() {
        if value.chars().any(crate::text_input::is_refused) {
            errors.push(RowError::new(
                row,
                Some(c),
                "含有不允许的控制字符，请删除后重新上传",
                "contains a control character",
            ));
        }
    }
    let kind = UnitKind::from_label(&v[3]);
    if kind.is_none() && !v[3].is_empty() {
        errors.push(RowError::new(
            row,
            Some(3),
            "房产类型须为 住宅、商业、车位、储藏室 之一",
            "kind must be 住宅, 商业, 车位 or 储藏室",
        ));
    }
    let area = match cells.get(AREA_COLUMN) {
        Some(Data::Float(f)) => Some(area::parse_number(*f)),
        Some(Data::Int(i)) => Some(area::parse_text(&i.to_string())),
        _ if v[4].is_empty() => None,
        _ => Some(area::parse_text(&v[4])),
    };
    let area = match area {
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            let (zh, en) = match e {
                area::AreaError::NotANumber => (
                    "面积须为数字，例如 89.55",
                    "area must be a number such as 89.55",
                ),
                area::AreaError::NotPositive => ("面积须大于 0", "area must be greater than 0"),
                area::AreaError::TooPrecise => {
                    ("面积最多保留两位小数", "area has at most two decimals")
                }
                area::AreaError::TooLarge => (
                    "面积过大，请检查单位是否为平方米",
                    "area is implausibly large",
                ),
            };
            errors.push(RowError::new(row, Some(4), zh, en));
            None
        }
        None => None,
    };
    if !v[6].is_empty() && !phone::is_mainland_mobile(&v[6]) {
        errors.push(RowError::new(
            row,
            Some(6),
            "手机号须为 11 位中国大陆手机号",
            "phone must be an 11-digit mainland mobile number",
        ));
    }
    let developer_unsold = match v[7].as_str() {
        "" | "否" => false,
        "是" => true,
        _ => {
            errors.push(RowError::new(
                row,
                Some(7),
                "请填写“是”或“否”",
                "must be 是 or 否",
            ));
            false
        }
    };
    match (errors.is_empty(), kind, area) {
        (true, Some(kind), Some(area_centi)) => Ok(RollRow {
            row,
            building: v[0].clone(),
            entrance: v[1].clone(),
            room: v[2].clone(),
            kind,
            area_centi,
            owner_name: v[5].clone(),
            owner_phone: v[6].clone(),
            developer_unsold,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_xlsxwriter::Workbook;

    fn book(rows: &[Vec<&str>], numeric_area: bool) -> Vec<u8> {
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for (r, cells) in rows.iter().enumerate() {
            for (c, v) in cells.iter().enumerate() {
                if numeric_area && r > 0 && (c == 4 || c == 6) && !v.is_empty() {
                    ws.write_number(r as u32, c as u16, v.parse::<f64>().unwrap())
                        .unwrap();
                } else if !v.is_empty() {
                    ws.write_string(r as u32, c as u16, *v).unwrap();
                }
            }
        }
        wb.save_to_buffer().unwrap()
    }

    fn header() -> Vec<&'static str> {
        COLUMNS.iter().map(|(h, _)| *h).collect()
    }

    #[test]
    fn the_template_reads_back_as_its_example_row() {
        let rows = read(&template().unwrap()).rows;
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].room.as_str(), rows[0].area_centi, rows[0].kind),
            ("101", 8955, UnitKind::Residential)
        );
    }

    #[test]
    fn numbers_typed_as_numbers_or_text_read_the_same() {
        let data = vec![
            header(),
            vec!["1", "2", "301", "住宅", "120.5", "李四", "13900139000", ""],
        ];
        let as_text = read(&book(&data, false)).rows;
        let as_numbers = read(&book(&data, true)).rows;
        assert_eq!(as_text, as_numbers);
        assert_eq!(as_text[0].area_centi, 12050);
        assert_eq!(as_text[0].owner_phone, "13900139000");
    }

    #[test]
    fn every_bad_cell_is_reported_with_row_and_column() {
        let data = vec![
            header(),
            vec!["1", "1", "101", "住宅", "89.5", "张三", "13800138000", "否"],
            vec![],
            vec!["1", "1", "102", "别墅", "-1", "", "1380013", "也许"],
            vec!["1", "1", "101", "商业", "50", "王五", "13700137000", ""],
            vec![
                "1",
                "1",
                "103",
                "车位",
                "12.345",
                "赵六",
                "13600136000",
                "是",
            ],
        ];
        let errors = read(&book(&data, false)).errors;
        let fields: Vec<String> = errors.iter().map(RowError::field).collect();
        assert_eq!(
            fields,
            [
                "rows.4.kind",
                "rows.4.area",
                "rows.4.owner_name",
                "rows.4.owner_phone",
                "rows.4.developer_unsold",
                "rows.5.room",
                "rows.6.area"
            ]
        );
        assert_eq!(
            errors[5].message_zh(),
            "第 5 行「户号」（C 列）：与第 2 行是同一套房屋（楼号+单元号+户号重复）"
        );
    }

    #[test]
    fn control_characters_in_any_cell_are_reported() {
        let data = vec![
            header(),
            vec![
                "1",
                "1",
                "101",
                "住宅",
                "89.5",
                "张\u{202E}三",
                "13800138000",
                "否",
            ],
            vec![
                "1",
                "1\u{2066}",
                "102",
                "住宅",
                "80",
                "李四",
                "13800138001",
                "",
            ],
        ];
        let fields: Vec<String> = read(&book(&data, false))
            .errors
            .iter()
            .map(RowError::field)
            .collect();
        assert_eq!(fields, ["rows.2.owner_name", "rows.3.entrance"]);
    }

    #[test]
    fn a_repeat_of_an_invalid_row_is_reported_too() {
        let data = vec![
            header(),
            vec!["1", "1", "101", "住宅", "-5", "张三", "13800138000", ""],
            vec!["1", "1", "101", "住宅", "80", "张三", "13800138000", ""],
        ];
        let parsed = read(&book(&data, false));
        let fields: Vec<String> = parsed.errors.iter().map(RowError::field).collect();
        assert_eq!(fields, ["rows.2.area", "rows.3.room"]);
        assert_eq!(
            parsed.keys.len(),
            1,
            "the key of the invalid row is known for the roll check"
        );
    }

    #[test]
    fn wrong_headers_and_non_xlsx_files_are_refused() {
        let errors = read(&book(
            &[vec!["楼", "单元", "户"], vec!["1", "1", "101"]],
            false,
        ))
        .errors;
        assert_eq!(errors.len(), 1);
        assert!(errors[0].zh.contains("表头不正确"));
        assert!(read(b"not a spreadsheet").errors[0].zh.contains(".xlsx"));
        assert!(read(&book(&[header()], false)).errors[0]
            .zh
            .contains("没有房屋数据"));
    }
}
