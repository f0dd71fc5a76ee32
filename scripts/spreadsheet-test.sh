#!/usr/bin/env bash
# Exports as staff open them: the service runs the demo street office (288 units) on a fresh
# database, and tests/spreadsheets/sum_in_libreoffice.py adds a SUM formula under the housing
# export's areas, has LibreOffice convert it headless to PDF, and checks the printed total
# against the API's. Installs LibreOffice Calc and poppler-utils with apt-get when missing
# (root on Debian), and openpyxl (pinned) into target/spreadsheets.
set -euo pipefail
cd "$(dirname "$0")/.."
pg="${ZMG_SHEETS_PG:-postgres://postgres@127.0.0.1:5432}"
db=zhimaguan_sheets
if ! command -v soffice >/dev/null || ! command -v pdftotext >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui poppler-utils >/dev/null
fi
venv="$PWD/target/spreadsheets/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import openpyxl' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q openpyxl==3.1.5
fi

. scripts/serve-lib.sh
start_service "$db" "" --demo
"$venv/bin/python" tests/spreadsheets/sum_in_libreoffice.py "$base" "$(demo_admin_token)" "$work"
