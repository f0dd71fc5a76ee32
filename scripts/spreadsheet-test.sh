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

cargo build -q --bin zmg
work="$(mktemp -d)"
psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ZMG_DATABASE_URL="$pg/$db" ZMG_LISTEN="127.0.0.1:$port" ZMG_STORAGE_DIR="$work/objects" ZMG_LOG_FORMAT=json \
  target/debug/zmg serve --demo >"$work/server.out" 2>"$work/server.err" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
  grep -q "listening on" "$work/server.out" && break
  kill -0 $server 2>/dev/null || { cat "$work/server.err"; exit 1; }
  sleep 0.2
done
base="http://127.0.0.1:$port"
password=$(grep -o 'login: admin / [^ ]*' "$work/server.out" | awk '{print $4}')
token=$(curl -sf -H 'X-Tenant: demo' -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\"}" "$base/api/auth/staff/login" |
  python3 -c "import json,sys; print(json.load(sys.stdin)['token'])")
"$venv/bin/python" tests/spreadsheets/sum_in_libreoffice.py "$base" "$token" "$work"
