#!/usr/bin/env bash
# Benchmark: import a 20,000-unit roll through the API of a release build and print the time
# and the service's peak memory. Target (issue 3): under 3 s here. Not part of the test suite.
# Needs PostgreSQL on 127.0.0.1:5432; uses its own database `zhimaguan_bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
units="${1:-20000}"
cargo build --release --quiet --bin zmg --example make_roll
work=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
./target/release/examples/make_roll "$units" "$work/roll.xlsx"

export ZMG_DATABASE_URL=postgres://postgres@127.0.0.1:5432/zhimaguan_bench
# Outside development mode ledgers are signed: a throwaway key for the benchmark database.
export ZMG_SIGNING_SECRET="${ZMG_SIGNING_SECRET:-bench-only-signing-secret-not-for-production}"
export ZMG_SIGNING_KEY_ID="${ZMG_SIGNING_KEY_ID:-bench}"
export ZMG_STORAGE_DIR="$work/objects"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ZMG_LISTEN="127.0.0.1:$port"
slug="bench_$(date +%s)"
cat >"$work/bench.toml" <<TOML
slug = "$slug"
name = "压测街道"
[[residents_committees]]
name = "压测居委会"
  [[residents_committees.estates]]
  name = "压测小区"
TOML
password=$(./target/release/zmg tenant apply "$work/bench.toml" | sed -n 's/^first street-staff admin: admin \/ \([A-Za-z0-9]*\).*/\1/p')
./target/release/zmg serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

api() { curl -sf -H "X-Tenant: $slug" "$@"; }
token=$(api -X POST "http://127.0.0.1:$port/api/auth/staff/login" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\"}" | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
estate=$(api -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/estates" | python3 -c 'import sys, json; print(json.load(sys.stdin)["items"][0]["id"])')
rss_before=$(awk '/VmHWM/ {print $2}' /proc/$server/status)
result=$(curl -s -H "X-Tenant: $slug" -H "Authorization: Bearer $token" -w '\n%{http_code} %{time_total}' \
  -F "file=@$work/roll.xlsx" "http://127.0.0.1:$port/api/estates/$estate/units/import")
rss_after=$(awk '/VmHWM/ {print $2}' /proc/$server/status)
echo "file:            $(du -k "$work/roll.xlsx" | cut -f1) KiB, $units units"
echo "response:        $(echo "$result" | head -1 | cut -c1-300)"
echo "status, seconds: $(echo "$result" | tail -1)"
echo "peak RSS:        $((rss_before / 1024)) MiB before, $((rss_after / 1024)) MiB after the import"
