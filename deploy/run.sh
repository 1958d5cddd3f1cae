#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts PostgreSQL and every
# service, drives the pipeline as far as it exists, prints what happened, and
# stops the stack cleanly (pass --keep-running to leave it up; deploy/down.sh
# stops it later).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

keep=0
for a in "$@"; do
  case "$a" in
    --keep-running) keep=1 ;;
    *) die "unknown argument $a (only --keep-running)" ;;
  esac
done

bash "$AW_ROOT/deploy/install-deps.sh"
bash "$AW_ROOT/deploy/build.sh"
bash "$AW_ROOT/deploy/up.sh"

metrics_port="${AW_METRICS_PORT:-9100}"
series=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" | grep -c '^auditwatch_' || true)
log "Prometheus metrics: http://127.0.0.1:$metrics_port/metrics ($series auditwatch series)"
versions=()
for svc in ingest monitor audit scoring report gateway; do
  v=$("$PG_BIN/psql" -h 127.0.0.1 -p "${AW_PG_PORT:-55432}" -U postgres -d auditwatch -qtA \
    -c "SELECT max(version) FROM $svc.schema_migrations")
  versions+=("$svc v$v")
done
log "schemas migrated: ${versions[*]}"

if [ "$keep" = 1 ]; then
  log "stack left running; stop it with: bash deploy/down.sh"
else
  bash "$AW_ROOT/deploy/down.sh"
fi
