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
# Whatever happens next, leave no stack behind unless asked to.
[ "$keep" = 1 ] || trap 'bash "$AW_ROOT/deploy/down.sh"' EXIT

log "loading the synthetic province through the ingest API (seed 42, last year)"
"$AW_BUILD_DIR/services/awctl" load-synthetic --seed=42 --streams=2
log "applying the default warning rules; the monitor judges the year's readings"
"$AW_BUILD_DIR/services/awctl" apply-rules --seed=42

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
log "ingest metrics:"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" \
  | grep -E '^auditwatch_ingest_(rows_total|batch_seconds_(count|sum))' | sed 's/^/    /' >&2 || true

[ "$keep" = 1 ] && log "stack left running; stop it with: bash deploy/down.sh"
exit 0
