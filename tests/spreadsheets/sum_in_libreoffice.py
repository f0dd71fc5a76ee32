"""Opens the housing export as staff would and adds up the areas with a formula: the sum that
LibreOffice computes (the workbook converted headless to PDF) must be the exact total of the
areas the API reports. Text that looks like a number would sum to 0.00, so this proves the
export writes areas as numbers.

Usage: sum_in_libreoffice.py BASE_URL TOKEN WORKDIR  (run by scripts/spreadsheet-test.sh)
"""

import decimal
import json
import pathlib
import subprocess
import sys
import urllib.request

import openpyxl
from openpyxl.styles import numbers

base, token, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
headers = {"Authorization": f"Bearer {token}", "X-Tenant": "demo"}


def get(path):
    with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers)) as response:
        return response.read()


# The total the API states, exactly (areas are decimal strings there).
expected, count, page = decimal.Decimal(0), 0, 1
while True:
    listed = json.loads(get(f"/api/units?page={page}&page_size=100"))
    expected += sum(decimal.Decimal(u["area"]) for u in listed["items"])
    count += len(listed["items"])
    if count >= listed["total"] or not listed["items"]:
        break
    page += 1
assert count > 0 and expected > 0, "the demo roll has units"

export = work / "units.xlsx"
export.write_bytes(get("/api/units/export"))
book = openpyxl.load_workbook(export)
sheet = book.active
header = [c.value for c in sheet[1]]
column = header.index("建筑面积（㎡）") + 1
letter = openpyxl.utils.get_column_letter(column)
last = sheet.max_row
assert last - 1 == count, f"the export has {last - 1} rows, the API {count} units"
total = sheet.cell(row=last + 2, column=column, value=f"=SUM({letter}2:{letter}{last})")
total.number_format = numbers.FORMAT_NUMBER_00
sheet.cell(row=last + 2, column=column - 1, value="面积合计")
book.save(export)

subprocess.run(
    ["soffice", "--headless", f"-env:UserInstallation=file://{work}/profile", "--convert-to", "pdf",
     "--outdir", str(work), str(export)],
    check=True, capture_output=True, timeout=180,
)
text = subprocess.run(
    ["pdftotext", "-layout", str(work / "units.pdf"), "-"], check=True, capture_output=True, text=True
).stdout
line = next((l for l in text.splitlines() if "面积合计" in l), "")
want = f"{expected:.2f}"
print(f"units: {count}; total area by the API: {want}; LibreOffice's SUM line: {line.strip()!r}")
assert want in line.split(), f"LibreOffice summed {line!r}, the API says {want}"
print("spreadsheet check passed: LibreOffice sums the exported areas to the API's total")
