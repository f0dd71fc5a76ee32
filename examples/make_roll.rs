//! Writes a housing roll with N units, as staff would fill the template; used by
//! scripts/bench-import.sh. `cargo run --release --example make_roll -- 20000 roll.xlsx`

use rust_xlsxwriter::Workbook;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: u32 = args.next().unwrap_or_else(|| "20000".into()).parse()?;
    let out = args.next().unwrap_or_else(|| "roll.xlsx".into());
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in [
        "楼号",
        "单元号",
        "户号",
        "房产类型",
        "建筑面积（㎡）",
        "业主姓名",
        "手机号",
        "是否开发商未售",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h)?;
    }
    for i in 0..count {
        let row = i + 1;
        let (building, rest) = (i / 400 + 1, i % 400);
        let (entrance, room) = (rest / 100 + 1, rest % 100);
        ws.write_string(row, 0, format!("{building}号楼"))?;
        ws.write_string(row, 1, format!("{entrance}单元"))?;
        ws.write_string(row, 2, format!("{}{:02}", room / 4 + 1, room % 4 + 1))?;
        ws.write_string(row, 3, "住宅")?;
        // Division by 100 gives the double nearest the two-decimal value, as Excel stores it.
        ws.write_number(row, 4, f64::from(6000 + i % 9000) / 100.0)?;
        ws.write_string(row, 5, format!("业主{i}"))?;
        ws.write_string(row, 6, format!("136{:08}", i))?;
        ws.write_string(row, 7, "否")?;
    }
    wb.save(&out)?;
    println!("wrote {count} units to {out}");
    Ok(())
}
