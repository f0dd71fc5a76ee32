#!/usr/bin/env bash
# Sends hostile spreadsheets to the housing import of a running service and prints, for each,
# the file's size, the answer and the service's peak memory (VmHWM) after it. The service must
# refuse every one with a 422 naming its limit while its memory stays bounded (src/spreadsheet.rs).
# Not part of the test suite. Needs PostgreSQL on 127.0.0.1:5432; uses database `zhimaguan_bench`.
# PROFILE=release for a release build (default: the debug build the tests use).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-debug}"
flag=$([ "$profile" = release ] && echo --release || true)
cargo build $flag --quiet --bin zmg --example make_hostile_rolls
bin="${CARGO_TARGET_DIR:-target}/$profile"
work=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin/examples/make_hostile_rolls" "$work"

export ZMG_DATABASE_URL=postgres://postgres@127.0.0.1:5432/zhimaguan_bench
# Outside development mode ledgers are signed: a throwaway key for the benchmark database.
export ZMG_SIGNING_SECRET="${ZMG_SIGNING_SECRET:-bench-only-signing-secret-not-for-production}"
export ZMG_SIGNING_KEY_ID="${ZMG_SIGNING_KEY_ID:-bench}"
export ZMG_STORAGE_DIR="$work/objects"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ZMG_LISTEN="127.0.0.1:$port"
slug="hostile_$(date +%s)"
cat >"$work/bench.toml" <<TOML
slug = "$slug"
name = "攻击测试街道"
[[residents_committees]]
name = "攻击测试居委会"
  [[residents_committees.estates]]
  name = "攻击测试小区"
TOML
password=$("$bin/zmg" tenant apply "$work/bench.toml" | sed -n 's/^first street-staff admin: admin \/ \([A-Za-z0-9]*\).*/\1/p')
"$bin/zmg" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

api() { curl -sf -H "X-Tenant: $slug" "$@"; }
token=$(api -X POST "http://127.0.0.1:$port/api/auth/staff/login" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\"}" | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
estate=$(api -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/estates" | python3 -c 'import sys, json; print(json.load(sys.stdin)["items"][0]["id"])')
echo "build: $profile; service peak RSS at start: $(( $(awk '/VmHWM/ {print $2}' /proc/$server/status) / 1024 )) MiB"
for name in whole-grid wide bare-rows many-rows inflating; do
  file="$work/$name.xlsx"
  result=$(curl -s -H "X-Tenant: $slug" -H "Authorization: Bearer $token" -w '\n%{http_code} %{time_total}' \
    -F "file=@$file" "http://127.0.0.1:$port/api/estates/$estate/units/import")
  kill -0 "$server" 2>/dev/null || { echo "$name: the service died"; tail -5 "$work/server.log"; exit 1; }
  message=$(echo "$result" | head -1 | python3 -c 'import sys, json
try:
    b = json.load(sys.stdin); print(b.get("fields", [{}])[0].get("message", b.get("message", "")))
except Exception:
    print("?")')
  printf '%-11s %6s KiB  -> %s  %s  | peak RSS %s MiB\n' "$name" "$(du -k "$file" | cut -f1)" "$(echo "$result" | tail -1)" "$message" \
    "$(( $(awk '/VmHWM/ {print $2}' /proc/$server/status) / 1024 ))"
done
