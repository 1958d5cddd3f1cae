#!/usr/bin/env bash
# ctest fixture: one throwaway PostgreSQL cluster for the whole test run.
#   pg_fixture.sh start DIR PORT   (any cluster left by an aborted run is wiped first)
#   pg_fixture.sh stop DIR         (stops it and removes its data)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="$1"; dir="$2"
case "$cmd" in
  start)
    bash "$here/../deploy/pg.sh" stop "$dir" || true
    rm -rf "$dir"
    bash "$here/../deploy/pg.sh" start "$dir" "$3"
    ;;
  stop)
    bash "$here/../deploy/pg.sh" stop "$dir"
    rm -rf "$dir"
    ;;
esac
