#!/usr/bin/env bash
# Service benchmarks on loopback: single-lead POST and event-batch ingest
# with wrk (closed loop, at saturation), single-lead POST at a fixed 3,000
# a second with the open-loop client in crates/leadq-server/benches/load.rs
# (latency counted from each request's due time), then publish + re-score
# of N stored leads, on SQLite and (when reachable) PostgreSQL.
# Usage: bench/serve/run.sh [DURATION_SECONDS] [RESCORE_LEADS] [OPEN_LOOP_RATE]
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-20}
RESCORE_LEADS=${2:-1000000}
OPEN_LOOP_RATE=${3:-3000}
OUT=bench/out/serve
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
cargo build --release -p leadq
cargo bench -p leadq-server --bench load --no-run
BIN=${LEADQ_BIN:-target/release/leadq}  # another build to compare with
PG_URL=${LEADQ_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}

start_demo() {  # $1 = label, rest = store flags; sets $pid and LEADQ_TOKEN
  local label=$1; shift
  "$BIN" serve --demo --demo-leads 2000 --bind 127.0.0.1:$port "$@" >"$OUT/$label-serve.out" 2>"$OUT/$label-serve.err" &
  pid=$!
  for _ in $(seq 1 600); do grep -q "listening" "$OUT/$label-serve.err" 2>/dev/null && break; sleep 0.5; done
  export LEADQ_TOKEN=$(grep "admin token" "$OUT/$label-serve.out" | cut -d' ' -f3)
  export LEADQ_LEADS=2000
}

run_open_loop() {  # $1 = label, rest = store flags; a fresh demo store
  local label=$1; shift
  local port=18090
  start_demo "$label-open-loop" "$@"
  echo "== $label: POST /api/v1/leads at a fixed ${OPEN_LOOP_RATE}/s (open loop, 64 connections), ${DURATION}s after 2s not counted"
  cargo bench -q -p leadq-server --bench load -- --url "http://127.0.0.1:$port" --rate "$OPEN_LOOP_RATE" --seconds "$DURATION" --kind lead --timeline 20 | tee "$OUT/$label-open-loop.txt"
  kill -TERM $pid; wait $pid || true
}

run_http() {  # $1 = label, rest = store flags
  local label=$1; shift
  local port=18090
  start_demo "$label" "$@"
  echo "== $label: POST /api/v1/leads, 2 threads, 32 connections, ${DURATION}s"
  wrk -t2 -c32 -d"${DURATION}s" --latency -s bench/serve/post_lead.lua "http://127.0.0.1:$port" | tee "$OUT/$label-leads.txt"
  echo "== $label: POST /api/v1/events/batch (1000 events each), 2 threads, 8 connections, ${DURATION}s"
  wrk -t2 -c8 -d"${DURATION}s" --latency -s bench/serve/post_events.lua "http://127.0.0.1:$port" | tee "$OUT/$label-events.txt"
  kill -TERM $pid; wait $pid || true
}

rm -rf "$OUT/sqlite-data"
run_http sqlite --data-dir "$OUT/sqlite-data"
rm -rf "$OUT/sqlite-open-loop-data"
run_open_loop sqlite --data-dir "$OUT/sqlite-open-loop-data"
if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS leadq_bench WITH (FORCE)" && psql "$PG_URL/postgres" -qc "CREATE DATABASE leadq_bench"
  run_http postgres --database-url "$PG_URL/leadq_bench"
fi

[ "$RESCORE_LEADS" -gt 0 ] || exit 0
echo "== publish + re-score $RESCORE_LEADS stored leads"
cargo bench -p leadq-server --bench rescore -- --leads "$RESCORE_LEADS" --backend sqlite | tee "$OUT/rescore-sqlite.txt"
if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  LEADQ_BENCH_POSTGRES_URL="$PG_URL" cargo bench -p leadq-server --bench rescore -- --leads "$RESCORE_LEADS" --backend postgres | tee "$OUT/rescore-postgres.txt"
fi
