#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test with
# ctest (unit, integration against a throwaway PostgreSQL that ctest starts and
# stops, end-to-end over real gRPC on loopback).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bash "$AW_ROOT/deploy/install-deps.sh"
bash "$AW_ROOT/deploy/build.sh"
start=$(date +%s)
cd "$AW_BUILD_DIR"
ctest -j "${AW_JOBS:-2}" --output-on-failure --timeout 300 "$@"
log "tests finished in $(( $(date +%s) - start )) s"
