#!/usr/bin/env bash
# Runs a benchmark against its own throwaway PostgreSQL cluster and prints its
# figures:  bash tests/bench/run.sh ingest [--quick]
#           bash tests/bench/run.sh monitor [--seconds=60]
#           bash tests/bench/run.sh gateway [--seconds=5] [--split]
#           bash tests/bench/run.sh audit [--seconds=10] [--orders=10000] [--spread=60]
#           bash tests/bench/run.sh scoring
#           bash tests/bench/run.sh report
#           bash tests/bench/run.sh consumption [--customers=42372]
#           bash tests/bench/run.sh theft [--customers=10000] [--whole] [--quality] [--file=SGCC.csv]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/deploy/lib.sh"
name="${1:?usage: run.sh ingest|monitor|query|memory|gateway|audit|scoring|report|consumption|theft [args]}"; shift
bin="$AW_BUILD_DIR/tests/bench/${name}_bench"
[ -x "$bin" ] || die "no $bin; run deploy/build.sh first"
# The theft harness works in memory: no database.
[ "$name" = theft ] && exec "$bin" "$@"
dir="$AW_BUILD_DIR/bench-pg"
port="${AW_BENCH_PG_PORT:-55477}"
bash "$root/tests/pg_fixture.sh" start "$dir" "$port"
trap 'bash "$root/tests/pg_fixture.sh" stop "$dir"' EXIT
log "PostgreSQL: fsync on, synchronous_commit on (durable on ack)"
AW_TEST_PG_PORT="$port" "$bin" "$@"
