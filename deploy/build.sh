#!/usr/bin/env bash
# Configures and builds auditwatch (binary, tests, benchmarks) into build/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

jobs="${AW_JOBS:-2}"
start=$(date +%s)
mkdir -p "$AW_BUILD_DIR"
cmake -S "$AW_ROOT" -B "$AW_BUILD_DIR" -DCMAKE_BUILD_TYPE="${AW_BUILD_TYPE:-RelWithDebInfo}" \
  >"$AW_BUILD_DIR/configure.log" 2>&1 \
  || { cat "$AW_BUILD_DIR/configure.log" >&2; die "cmake configure failed"; }
log "building with $jobs jobs into $AW_BUILD_DIR (a first build takes several minutes)"
set +e
cmake --build "$AW_BUILD_DIR" -j "$jobs" 2>&1 | tee "$AW_BUILD_DIR/build.log" \
  | grep --line-buffered -E "Built target|error:|warning:" >&2
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { grep -E -A5 "error" "$AW_BUILD_DIR/build.log" | head -60 >&2; die "build failed"; }
log "build finished in $(( $(date +%s) - start )) s"
