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

. scripts/serve-lib.sh
# The server's log is kept in target/fuzz/server.log for diagnosing what the fuzzer found.
start_service "$db" target/fuzz/server.log --demo
owner_password=$(grep -o 'password [^ ]*' "$work/server.out" | tail -1 | awk '{print $2}')
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['token'])"; }
staff_token=$(demo_admin_token)
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
