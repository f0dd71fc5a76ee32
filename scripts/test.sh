#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs and starts what the tests need (an
# S3-compatible server, cargo-nextest), then runs every test against the real PostgreSQL on
# 127.0.0.1:5432 and that S3 server. A full run (no arguments) then checks the Helm chart,
# fuzzes the API with schemathesis, runs the fault test (PostgreSQL restarted under load,
# object store stopped during uploads) and the scale-out test (the main flows on a Citus
# cluster of its own; it builds Citus from CITUS_SRC when PostgreSQL lacks it). Extra arguments
# go to `cargo nextest run` alone.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
# s3s-fs verifies SigV4 signatures; 0.17 needs a newer rustc than ours.
command -v s3s-fs >/dev/null || cargo install s3s-fs@0.14.1 --features binary --locked

export ZMG_TEST_DATABASE_URL="${ZMG_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/zhimaguan_test}"

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ZMG_TEST_S3_BUCKET=zhimaguan-test
export ZMG_TEST_S3_ACCESS_KEY=zmgtestaccess
export ZMG_TEST_S3_SECRET_KEY="zmgtestsecret$RANDOM$RANDOM"
export ZMG_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
mkdir -p "$work/s3/$ZMG_TEST_S3_BUCKET"
s3s-fs --host 127.0.0.1 --port "$port" --access-key "$ZMG_TEST_S3_ACCESS_KEY" --secret-key "$ZMG_TEST_S3_SECRET_KEY" "$work/s3" \
  >"$work/s3s.log" 2>&1 &
s3_pid=$!
trap 'kill $s3_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

if [ $# -gt 0 ]; then
  cargo nextest run --no-fail-fast "$@"
  exit 0
fi
status=0
cargo nextest run --no-fail-fast || status=1
for suite in scripts/check-chart.sh scripts/clients-test.sh scripts/spreadsheet-test.sh scripts/fuzz-api.sh scripts/fault-test.py scripts/citus-test.sh; do
  echo "== $suite"
  started=$SECONDS
  "$suite" || { echo "== $suite FAILED"; status=1; }
  echo "== $suite took $((SECONDS - started)) s"
done
exit $status
