#!/usr/bin/env bash
# Scale-out test: the service against Citus 13 with schema-based sharding, one coordinator and
# two workers started here as the unprivileged `postgres` user, in their own directories and
# ports (the machine's cluster on 5432 is never touched).
#
# Citus comes from the machine when PostgreSQL 15 has it, otherwise it is built from the source
# tarball named by CITUS_SRC (citus-13.0.5.tar.gz; the build packages are installed with apt).
#
#   CITUS_SRC=/path/to/citus-13.0.5.tar.gz scripts/citus-test.sh
#
# What it runs, in the order an operator would:
#   1. the platform migrates and a street office (tenants/demo.toml) is onboarded while
#      sharding is still off, as on a server that predates the cluster;
#   2. schema-based sharding is switched on for the database and that street office is
#      distributed (`citus_schema_distribute`), as an operator adopting Citus would;
#   3. the Citus suite (tests/citus.rs) and the main flows of the ordinary suite run against
#      the coordinator: every street office they onboard lands on a worker by itself.
#
# scripts/test.sh runs it (its S3 server is needed by the flows); on its own it needs the S3
# variables scripts/test.sh exports. `scripts/citus-test.sh --hold` starts the cluster, prints
# how to reach it and waits (to try things by hand). Leaves nothing behind but its logs in
# target/citus/.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_BIN=/usr/lib/postgresql/15/bin
export PATH="$HOME/.cargo/bin:$PATH"

log() { echo "[citus-test $(date +%H:%M:%S)] $*"; }

install_citus() {
  if [ -f "$("$PG_BIN/pg_config" --pkglibdir)/citus.so" ]; then
    return
  fi
  [ -n "${CITUS_SRC:-}" ] && [ -f "$CITUS_SRC" ] ||
    { echo "citus-test: Citus is not installed and CITUS_SRC names no tarball" >&2; exit 1; }
  log "building Citus from $CITUS_SRC"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-server-dev-15 \
    libcurl4-openssl-dev liblz4-dev libzstd-dev autoconf flex bison libkrb5-dev libssl-dev \
    libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev zlib1g-dev >/dev/null
  local build
  build=$(mktemp -d)
  tar -xzf "$CITUS_SRC" -C "$build"
  (cd "$build"/citus-* && ./configure -q PG_CONFIG="$PG_BIN/pg_config" >/dev/null &&
    make -s -j2 >/dev/null && make -s install >/dev/null)
  rm -rf "$build"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install_citus

work=$(mktemp -d)
chown postgres "$work"
mkdir -p target/citus
as_pg() { runuser -u postgres -- "$@"; }
nodes=(coordinator worker1 worker2)
declare -A port
cleanup() {
  for n in "${nodes[@]}"; do
    [ -d "$work/$n" ] && as_pg "$PG_BIN/pg_ctl" -D "$work/$n" -m immediate stop >/dev/null 2>&1 || true
  done
  cp "$work"/*.log target/citus/ 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for n in "${nodes[@]}"; do
  port[$n]=$(free_port)
  as_pg "$PG_BIN/initdb" -D "$work/$n" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  # wal_level logical: schemas move between workers by logical replication, writes continuing.
  # Messages in English: the service classifies some errors by their text.
  cat >>"$work/$n/postgresql.conf" <<CONF
shared_preload_libraries = 'citus'
port = ${port[$n]}
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
max_connections = 200
wal_level = logical
autovacuum = off
lc_messages = 'C'
CONF
  as_pg "$PG_BIN/pg_ctl" -D "$work/$n" -l "$work/$n.log" -w start >/dev/null
done
psql_on() { local n=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -p "${port[$n]}" -d postgres "$@"; }
for n in "${nodes[@]}"; do psql_on "$n" -c "CREATE EXTENSION citus"; done
psql_on coordinator -c "SELECT citus_set_coordinator_host('127.0.0.1', ${port[coordinator]})" >/dev/null
psql_on coordinator -c "SELECT citus_add_node('127.0.0.1', ${port[worker1]})" >/dev/null
psql_on coordinator -c "SELECT citus_add_node('127.0.0.1', ${port[worker2]})" >/dev/null
url="postgres://postgres@127.0.0.1:${port[coordinator]}/postgres"
log "coordinator on ${port[coordinator]}, workers on ${port[worker1]} and ${port[worker2]}"

if [ "${1:-}" = --hold ]; then
  # As a new installation on Citus: street offices onboarded from now on land on workers.
  psql_on coordinator -c "ALTER DATABASE postgres SET citus.enable_schema_based_sharding TO on"
  echo "ZMG_DATABASE_URL=$url"
  echo "psql -h 127.0.0.1 -U postgres -p ${port[coordinator]}   (Ctrl-C stops the cluster)"
  sleep infinity
fi

[ -x target/debug/zmg ] || cargo build -q --bin zmg

# 1. A server from before the cluster: the platform and one street office, sharding off.
export ZMG_DEV_MODE=true ZMG_STORAGE_DIR="$work/objects" RUST_LOG=warn
ZMG_DATABASE_URL=$url target/debug/zmg tenant apply tenants/demo.toml >"$work/onboard.log" 2>&1 ||
  { tail -20 "$work/onboard.log" >&2; exit 1; }
demo_admin=$(sed -n 's|^first street-staff admin: admin / \([^ ]*\) .*|\1|p' "$work/onboard.log")
[ -n "$demo_admin" ] || { cat "$work/onboard.log" >&2; exit 1; }
log "onboarded the demo street office before sharding"

# 2. Adopting Citus: sharding on for the database (street offices onboarded from now on land on
# workers by themselves), and the existing street office distributed: its rows copied as they
# are (session_replication_role replica, propagated to the workers: its insert triggers guard
# new rows, not copies), its triggers allowed (each runs beside the rows it reads).
psql_on coordinator -c "ALTER DATABASE postgres SET citus.enable_schema_based_sharding TO on"
psql_on coordinator >/dev/null <<'SQL'
SET citus.propagate_set_commands TO 'local';
BEGIN;
SET LOCAL session_replication_role TO replica;
SET LOCAL citus.enable_unsafe_triggers TO on;
SELECT citus_schema_distribute('t_demo');
COMMIT;
SELECT truncate_local_data_after_distributing_table(c.oid::regclass)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 't_demo' AND c.relkind = 'r';
SQL
log "distributed the demo street office"

# 3. The Citus suite and the main flows of the ordinary suite, against the coordinator.
export ZMG_TEST_DATABASE_URL=$url ZMG_TEST_CITUS_WORKERS="${port[worker1]},${port[worker2]}"
export ZMG_TEST_CITUS_DEMO_ADMIN=$demo_admin
flows=(citus accounts housing matters elections estate_life receipts owner_shapes ballot_rules
  opening tenancy jurisdiction hardening)
filter=$(printf 'binary(%s) | ' "${flows[@]}")
cargo nextest run --no-fail-fast --ignore-default-filter -E "${filter% | }"
