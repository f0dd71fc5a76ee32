#!/usr/bin/env bash
# Schema fuzzing: schemathesis sends generated (valid and invalid) requests to every operation
# of the running service's OpenAPI, once as a street-staff admin and once as a verified owner,
# and fails on any 5xx or any response the spec does not describe (status, content type,
# headers, body schema). The service runs the demo tenant on a fresh database of its own.
#
#   scripts/fuzz-api.sh            # FUZZ_EXAMPLES (default 25) cases per operation and role
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${FUZZ_EXAMPLES:-25}"
pg="${ZMG_FUZZ_PG:-postgres://postgres@127.0.0.1:5432}"
db=zhimaguan_fuzz

# Pinned: the same generator everywhere; bump deliberately.
version=4.32.5
cache="${XDG_CACHE_HOME:-$HOME/.cache}/zhimaguan"
venv="$cache/schemathesis-$version"
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi

cargo build -q --bin zmg
work="$(mktemp -d)"
mkdir -p target/fuzz
psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The server's log is kept in target/fuzz/server.log for diagnosing what the fuzzer found.
ZMG_DATABASE_URL="$pg/$db" ZMG_LISTEN="127.0.0.1:$port" ZMG_STORAGE_DIR="$work/objects" ZMG_LOG_FORMAT=json \
  target/debug/zmg serve --demo >"$work/server.out" 2>"$work/server.err" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; cp "$work/server.err" target/fuzz/server.log; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
  grep -q "listening on" "$work/server.out" && break
  kill -0 $server 2>/dev/null || { cat "$work/server.err"; exit 1; }
  sleep 0.2
done
base="http://127.0.0.1:$port"
admin_password=$(grep -o 'login: admin / [^ ]*' "$work/server.out" | awk '{print $4}')
owner_password=$(grep -o 'password [^ ]*' "$work/server.out" | tail -1 | awk '{print $2}')
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['token'])"; }
staff_token=$(curl -sf -H 'X-Tenant: demo' -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$admin_password\"}" "$base/api/auth/staff/login" | json)
owner_token=$(curl -sf -H 'X-Tenant: demo' -H 'Content-Type: application/json' \
  -d "{\"phone\":\"13700000001\",\"password\":\"$owner_password\",\"accept_agreement\":true}" "$base/api/auth/owner/login" | json)

# Operations that end the fuzzer's own session would turn the rest of the run into 401s.
# One worker: hypothesis' lambda-source cache is not thread-safe (seen as a "Runtime Error:
# AST constructor recursion depth mismatch" inside the tool with two workers).
status=0
for role in staff owner; do
  token_var="${role}_token"
  echo "== schemathesis as $role: $examples cases per operation"
  "$venv/bin/schemathesis" run "$base/openapi.yaml" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$examples" --workers 1 --seed 20261127 --no-color --generation-database none \
    --exclude-operation-id auth_logout --exclude-operation-id owner_password_change --exclude-operation-id staff_password_change \
    --suppress-health-check all --request-timeout 30 \
    -H "X-Tenant: demo" -H "Authorization: Bearer ${!token_var}" || status=1
done
if grep -q '"level":"ERROR"\|panicked' "$work/server.err"; then
  echo "server logged errors (whole log: target/fuzz/server.log):"; grep '"level":"ERROR"\|panicked' "$work/server.err" | head -20; status=1
fi
# The log an operator searches: every line JSON, each request's line naming its operation,
# street office, principal and client address once.
python3 - "$work/server.err" <<'PY' || status=1
import json, sys
lines = [l for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
bad = [l for l in lines if not l.lstrip().startswith("{")]
assert not bad, f"{len(bad)} log lines are not JSON, e.g. {bad[0]!r}"
done = [json.loads(l) for l in lines if '"request finished"' in l]
full = [d for d in done if all(k in d.get("span", {}) for k in ("operation", "tenant", "principal", "client"))]
assert full, "no request line carries operation, tenant, principal and client"
assert all("spans" not in d for d in done), "spans repeated in a list"
print(f"log: {len(lines)} JSON lines, {len(full)} of {len(done)} request lines name operation, tenant, principal and client")
PY
exit $status
