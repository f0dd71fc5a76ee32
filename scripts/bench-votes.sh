#!/usr/bin/env bash
# Voting benchmark (issue 4), not part of the test suite: an estate of 10,000 units with
# 10,000 verified owners; ballots/s through the HTTP API of a release build at 64 and 256
# concurrent voters, p50/p99 latency, the tally time for 10,000 ballots, and pgbench running
# the same SQL transaction (scripts/bench-votes.pgbench) for the ratio. PostgreSQL here allows
# 100 connections, so pgbench runs at 64 and at 90 clients. Uses the database zhimaguan_bench,
# or the one BENCH_DATABASE_URL names: on Citus, the coordinator of `scripts/citus-test.sh
# --hold` (postgres://postgres@127.0.0.1:<port>/postgres; sharding is on there, so the
# benchmark's street office lands on a worker).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin zmg --example bench_votes
work=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; mkdir -p target/bench; cp "$work/server.log" target/bench/server.log 2>/dev/null; rm -rf "$work"' EXIT
export ZMG_DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/zhimaguan_bench}"
read -r db_host db_port db_name < <(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.hostname, p.port or 5432, p.path.lstrip("/"))' "$ZMG_DATABASE_URL")
echo "database: $ZMG_DATABASE_URL"
# Outside development mode ledgers are signed: a throwaway key for the benchmark database.
export ZMG_SIGNING_SECRET="${ZMG_SIGNING_SECRET:-bench-only-signing-secret-not-for-production}"
export ZMG_SIGNING_KEY_ID="${ZMG_SIGNING_KEY_ID:-bench}"
export ZMG_STORAGE_DIR="$work/objects" ZMG_DATABASE_POOL_SIZE=32 RUST_LOG=warn
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ZMG_LISTEN="127.0.0.1:$port"
slug="vote_$(date +%s)"
cat >"$work/bench.toml" <<TOML
slug = "$slug"
name = "表决压测街道"
[[residents_committees]]
name = "表决压测居委会"
  [[residents_committees.estates]]
  name = "表决压测小区"
    [residents_committees.estates.demo_housing]
    buildings = 25
    entrances = 4
    floors = 25
    rooms_per_floor = 4
    verified_owners = 10000
    phone_prefix = "135"
TOML
seeded=$(date +%s.%N)
password=$(./target/release/zmg tenant apply "$work/bench.toml" 2>/dev/null | sed -n 's/^first street-staff admin: admin \/ \([A-Za-z0-9]*\).*/\1/p')
echo "seeded 10,000 units and owners in $(python3 -c "import time; print(round(time.time() - $seeded, 1))") s"
./target/release/zmg serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

BENCH_BASE="http://127.0.0.1:$port" BENCH_TENANT="$slug" BENCH_ADMIN_PASSWORD="$password" \
  ./target/release/examples/bench_votes | tee "$work/http.txt"
read -r schema matter_a matter_b < <(sed -n 's/^PGBENCH schema=\(.*\) matter_a=\(.*\) matter_b=\(.*\)/\1 \2 \3/p' "$work/http.txt")
kill "$server"; wait "$server" 2>/dev/null || true
echo "peak server RSS: $(grep -h VmHWM /proc/self/status >/dev/null; echo 'see above')" >/dev/null

pg() { pgbench -n -M simple -h "$db_host" -p "$db_port" -U postgres -f scripts/bench-votes.pgbench -D schema="$schema" "$@" "$db_name" 2>&1; }
psql -h "$db_host" -p "$db_port" -U postgres -q -d "$db_name" -c "ALTER SEQUENCE \"$schema\".bench_n RESTART"
pg64=$(pg -D matter="$matter_a" -c 64 -j 2 -t 150 | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
psql -h "$db_host" -p "$db_port" -U postgres -q -d "$db_name" -c "ALTER SEQUENCE \"$schema\".bench_n RESTART"
pg90=$(pg -D matter="$matter_b" -c 90 -j 2 -t 110 | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
http64=$(sed -n 's/^RESULT http_64_rate //p' "$work/http.txt")
http256=$(sed -n 's/^RESULT http_256_rate //p' "$work/http.txt")
echo "pgbench, same transaction: 64 clients ${pg64} tx/s; 90 clients ${pg90} tx/s"
python3 -c "print(f'ratio HTTP/pgbench: 64 voters {float($http64)/float($pg64):.0%}; 256 voters vs 90 clients {float($http256)/float($pg90):.0%}')"
