# Sourced by the scripts that drive a running service (clients, spreadsheets, fuzzing).
#
# start_service DB LOG_COPY [zmg serve arguments…] builds target/debug/zmg, starts it on a free
# port over a fresh database DB with JSON logs, waits until it listens, and sets $work (its
# scratch directory: server.out holds the console lines, server.err the log), $server and
# $base. On exit the service is stopped, its log copied to LOG_COPY (unless empty) and $work
# removed. Needs $pg, the PostgreSQL URL without a database.
start_service() {
  local db=$1 log_copy=$2 port
  shift 2
  cargo build -q --bin zmg
  work="$(mktemp -d)"
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  ZMG_DATABASE_URL="$pg/$db" ZMG_LISTEN="127.0.0.1:$port" ZMG_STORAGE_DIR="$work/objects" ZMG_LOG_FORMAT=json \
    target/debug/zmg serve "$@" >"$work/server.out" 2>"$work/server.err" &
  server=$!
  # shellcheck disable=SC2064 # the copy's path is fixed now
  trap "stop_service '$log_copy'" EXIT
  for _ in $(seq 1 300); do
    grep -q "listening on" "$work/server.out" && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.err"; exit 1; }
    sleep 0.2
  done
  base="http://127.0.0.1:$port"
}

stop_service() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [ -n "$1" ]; then
    mkdir -p "$(dirname "$1")"
    cp "$work/server.err" "$1"
  fi
  rm -rf "$work"
}

# The demo street office's admin, logged in: prints the token (`serve --demo` only).
demo_admin_token() {
  local password
  password=$(grep -o 'login: admin / [^ ]*' "$work/server.out" | awk '{print $4}')
  curl -sf -H 'X-Tenant: demo' -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$password\"}" "$base/api/auth/staff/login" |
    python3 -c "import json,sys; print(json.load(sys.stdin)['token'])"
}
