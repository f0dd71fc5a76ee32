#!/usr/bin/env bash
# The contract as client developers meet it: lints the committed spec (Redocly CLI, rules in
# openapi/redocly.yaml), generates a TypeScript client (openapi-typescript + openapi-fetch) and a
# Python client (openapi-python-client) from it, fails on any generator warning or any
# operation a generator left out, then drives a real flow with each (tests/clients/) against
# the service running on a fresh database of its own, in development mode.
# Every tool is pinned and installed under target/clients/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
spec=openapi/openapi.yaml
pg="${ZMG_CLIENTS_PG:-postgres://postgres@127.0.0.1:5432}"
db=zhimaguan_clients
tools="$PWD/target/clients/tools"
venv="$PWD/target/clients/venv"
out="$PWD/target/clients/generated"

# Pinned: the same generators everywhere; bump deliberately.
node_packages="openapi-typescript@7.13.0 openapi-fetch@0.17.0 typescript@5.9.3 @redocly/cli@2.77.0 exceljs@4.4.0 @types/node@20.19.25"
python_packages="openapi-python-client==0.29.1 openpyxl==3.1.5"
stamp="$node_packages | $python_packages"
if [ "$(cat "$tools/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "installing $stamp"
  rm -rf "$tools" "$venv"
  mkdir -p "$tools"
  (cd "$tools" && echo '{"private": true, "type": "module"}' >package.json && npm install --silent --no-audit --no-fund $node_packages)
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q $python_packages
  echo "$stamp" >"$tools/.stamp"
fi
bin="$tools/node_modules/.bin"
rm -rf "$out"
mkdir -p "$out"

echo "== redocly lint"
# Redocly prints a notice about the Node.js version to stderr; the verdict is its exit code.
"$bin/redocly" lint "$spec" --config openapi/redocly.yaml --format=summary 2>&1 | grep -v '[║╔╚]'

# Every operation id of the spec, one per line, to check each generator kept them all.
python3 - "$spec" >"$out/operations.txt" <<'EOF'
import re, sys
print("\n".join(sorted(set(re.findall(r"^\s+operationId: (\S+)$", open(sys.argv[1]).read(), re.M)))))
EOF
echo "$(wc -l <"$out/operations.txt") operations in the spec"

# A generator's report counts as a warning when it says more than that it ran.
check_quiet() {
  local name=$1 log=$2 allowed=$3
  if grep -v -E "$allowed" "$log" | grep -q .; then
    echo "$name reported:"
    cat "$log"
    exit 1
  fi
}

echo "== openapi-typescript"
"$bin/openapi-typescript" "$spec" -o "$out/ts/api.d.ts" --default-non-nullable false >"$out/ts.log" 2>&1
check_quiet openapi-typescript "$out/ts.log" '^(✨ openapi-typescript|🚀 .* → .*api\.d\.ts)'
# Each operation is a key of the generated `operations` interface.
missing=$(comm -23 "$out/operations.txt" <(grep -oE '^    [a-z_]+: \{' "$out/ts/api.d.ts" | tr -d ' {:' | sort -u))
[ -z "$missing" ] || { echo "openapi-typescript dropped: $missing"; exit 1; }

echo "== openapi-python-client"
"$venv/bin/openapi-python-client" generate --path "$spec" --output-path "$out/python/zmg_client" \
  --meta none --config openapi/python-client.yaml >"$out/python.log" 2>&1
check_quiet openapi-python-client "$out/python.log" '^(Generating .*zmg_client)?$'
missing=$(comm -23 "$out/operations.txt" <(find "$out/python/zmg_client/api" -name '*.py' ! -name '__init__.py' -printf '%f\n' | sed 's/\.py$//' | sort -u))
[ -z "$missing" ] || { echo "openapi-python-client dropped: $missing"; exit 1; }
echo "both generators kept every operation"

echo "== tsc --strict"
cp tests/clients/typescript/{flow.ts,tsconfig.json,package.json} "$out/ts/"
ln -sfn "$tools/node_modules" "$out/ts/node_modules"
(cd "$out/ts" && "$bin/tsc" -p tsconfig.json)

echo "== the flows against a running service"
. scripts/serve-lib.sh
# Development mode: codes land in the outbox the flows read.
ZMG_DEV_MODE=true start_service "$db" target/clients/server.log
ZMG_PLATFORM_USER=clients
ZMG_PLATFORM_PASSWORD=$(ZMG_DATABASE_URL="$pg/$db" target/debug/zmg platform-staff create "$ZMG_PLATFORM_USER" |
  sed -n 's/.*(shown once): //p')
export ZMG_PLATFORM_USER ZMG_PLATFORM_PASSWORD ZMG_BASE_URL="$base"

echo "-- TypeScript (openapi-fetch)"
(cd "$out/ts" && node flow.js)
echo "-- Python (openapi-python-client)"
PYTHONPATH="$out/python" "$venv/bin/python" tests/clients/python/flow.py
echo "client flows passed"
